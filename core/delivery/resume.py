"""Resuming a download without splicing two files: the ``.part``, its hash, and its validator.

A ``.part`` holds the first bytes of an output. Asking for the rest with ``Range`` is only safe
when the rest belongs to the same file, so the validator the server gave with the first bytes
(a strong ``ETag``, else ``Last-Modified``) is kept beside the ``.part`` and sent back as
``If-Range`` (RFC 7233 §3.2: a server that still has that file answers 206 with the rest, one
that has another answers 200 with the whole). A 206 whose own validator differs (a server that
ignores ``If-Range``) or a ``.part`` with no validator at all is started again from zero.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional

from .unpack import EXTENSIONS, kind_of_bytes

CHUNK = 1 << 20
SNIFF = 16
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


def validator_of(headers) -> Optional[dict]:
    """The response's validator usable with If-Range: a strong ETag, else Last-Modified."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):  # a weak ETag must not be used in If-Range
        return {"etag": etag}
    modified = (headers.get("Last-Modified") or "").strip()
    if modified:
        return {"last_modified": modified}
    return None


def if_range(validator: dict) -> str:
    return validator.get("etag") or validator["last_modified"]


def same_file(validator: Optional[dict], headers) -> bool:
    """Whether a response's validator names the file the ``.part`` was started from."""
    if validator is None:
        return False
    if "etag" in validator:
        return (headers.get("ETag") or "").strip() == validator["etag"]
    return (headers.get("Last-Modified") or "").strip() == validator["last_modified"]


def contradicts(validator: Optional[dict], headers) -> bool:
    """Whether a response carries a validator that names another file than ``validator``
    (an answer with none, such as a 416, contradicts nothing)."""
    if validator is None:
        return False
    name, key = ("ETag", "etag") if "etag" in validator else ("Last-Modified", "last_modified")
    value = (headers.get(name) or "").strip()
    return bool(value) and value != validator[key]


class Partial:
    """A ``.part`` file, the sha256 of exactly the bytes it holds, and its validator."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.expected: Optional[int] = None  # the whole file's size, once a server has said
        self._hasher = hashlib.sha256()
        self._head = b""
        self._record = path.with_name(f".{path.name}.json")
        self.validator: Optional[dict] = self._read_validator()

    def sync(self) -> None:
        """Hash whatever an earlier call (or attempt) left on disk, if not hashed yet."""
        on_disk = self.path.stat().st_size if self.path.exists() else 0
        if on_disk != self.size:
            self._hasher, self._head = hashlib.sha256(), b""
            self.size = 0
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    self._take(block)

    def truncate(self) -> None:
        with open(self.path, "wb"):
            pass
        self._hasher, self._head, self.size = hashlib.sha256(), b"", 0
        self.remember(None)

    def remember(self, validator: Optional[dict]) -> None:
        """Keep the validator of the bytes the ``.part`` starts with (None forgets it)."""
        self.validator = validator
        if validator is None:
            self._record.unlink(missing_ok=True)
            return
        temp = self._record.with_name(self._record.name + ".tmp")
        temp.write_text(json.dumps(validator), encoding="utf-8")
        os.replace(temp, self._record)

    def discard(self) -> None:
        """Delete the ``.part`` and its validator: its bytes are not to be kept."""
        self.truncate()
        self.path.unlink(missing_ok=True)

    def finished(self) -> None:
        """The ``.part`` became the output: its validator is no longer needed."""
        self._record.unlink(missing_ok=True)

    def _read_validator(self) -> Optional[dict]:
        try:
            data = json.loads(self._record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and (isinstance(data.get("etag"), str)
                                       or isinstance(data.get("last_modified"), str)):
            return data
        return None

    @contextlib.contextmanager
    def append(self):
        with open(self.path, "ab") as out:
            def write(chunk: bytes) -> None:
                out.write(chunk)
                self._take(chunk)
            # A write that fails half-way leaves file and hash out of step; sync() repairs it.
            yield write

    def _take(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self.size += len(chunk)
        if len(self._head) < SNIFF:
            self._head += chunk[:SNIFF - len(self._head)]

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    def label(self, index: int) -> str:
        """The final name once the first bytes have shown the kind."""
        if len(self._head) < SNIFF:
            return f"output-{index}"
        return f"output-{index}.{EXTENSIONS[kind_of_bytes(self._head)]}"


def content_length(response) -> Optional[int]:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def content_range(value: Optional[str], *, allow_star: bool = False) -> tuple[Optional[int], Optional[int]]:
    """(first byte, total) of a Content-Range header; (None, None) when absent or malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    if start is None and not allow_star:
        return None, total
    return start, total


def retry_after(response) -> Optional[float]:
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the jittered backoff is close enough


def peek_text(response, limit: int = 4096) -> str:
    try:
        data = response.raw.read(limit, decode_content=True)
    except Exception:
        return ""
    return (data or b"").decode("utf-8", "replace")


__all__ = ["retry_after", "peek_text", "Partial", "validator_of", "if_range", "same_file", "contradicts", "content_length", "content_range"]

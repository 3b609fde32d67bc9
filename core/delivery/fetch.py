"""Turning a generation's output URLs into verified files on disk.

A generation was paid for; its outputs live behind presigned URLs that expire after an hour.
So a download must survive what networks and object stores do: dropped connections, 5xx,
truncated bodies (resumed with ``Range``), an expired URL (a fresh one comes from a new GET of
the generation, via ``refresh``), a server that ignores ``Range``. A file appears under its
final name only once it is complete and verified (length, and its kind by magic bytes), so a
crash or a cancel leaves at most ``.part`` files, which the next call resumes.

Names never come from the URL or the output's type string: output ``i`` becomes
``output-<i>.<ext>`` with the extension of the kind its bytes show. A ZIP is unpacked into
``output-<i>/`` and its files take its place in the result; the ZIP itself stays (it was paid
for). A small hidden record per output (``.output-<i>.json``) keeps sizes and hashes, so a
second call re-verifies what is on disk without touching the network.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence
from urllib.parse import urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from ..digest import file_sha256
from ..progress import CancelToken, ProgressFn, no_progress
from ..secrets import install_filter, redact, redact_url
from .unpack import EXTENSIONS, MAX_BYTES, MAX_FILES, extract_zip, kind_of_bytes, sniff_kind

log = install_filter(logging.getLogger(__name__))

DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds; a read timeout is per chunk, not per file
CHUNK = 1 << 20
_SNIFF = 16
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
# How object stores word an expired signature in a 400/410 body ("Request has expired",
# "ExpiredToken", "Signature expired", "URL has expired").
_EXPIRY = re.compile(r"expir", re.IGNORECASE)


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    kind: str  # by magic bytes: mp4, exr, png, jpeg, unknown (zip only before extraction)
    bytes: int
    sha256: str


class FetchError(RuntimeError):
    """An output could not be downloaded; the message names the output and never a signature."""


class _Retry(Exception):
    """A failure that waiting and asking again can fix (network, 5xx, a short body)."""

    def __init__(self, reason: str, *, progressed: bool = False,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason, self.progressed, self.retry_after = reason, progressed, retry_after


class _Expired(Exception):
    """The URL no longer works; a fresh one from the generation will."""


def fetch_outputs(dest_dir: os.PathLike | str, outputs: Sequence, *,
                  refresh: Optional[Callable[[], Sequence]] = None,
                  progress: ProgressFn = no_progress,
                  cancel: Optional[CancelToken] = None,
                  timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
                  attempts: int = 6, refreshes: int = 3,
                  backoff: float = 1.0, max_backoff: float = 30.0,
                  chunk_size: int = CHUNK,
                  max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> list["FetchedFile"]:
    """Download every output into ``dest_dir``; the delivered files, ZIPs replaced by their files.

    ``outputs`` are the generation's outputs (``.type``, ``.url``, optional ``.layer``);
    ``refresh()`` returns them again with fresh URLs. ``attempts`` bounds consecutive failed
    tries of one output that made no progress; ``refreshes`` bounds fresh URLs per output;
    ``backoff`` is the first retry's wait (doubling, jittered, at most ``max_backoff``).
    ``max_files``/``max_bytes`` bound a ZIP's extraction and ``max_bytes`` any one download.
    """
    outputs = list(outputs)
    if not outputs:
        raise FetchError("the generation delivered no outputs: nothing to download")
    fetcher = _Fetcher(Path(dest_dir).absolute(), outputs, refresh=refresh, progress=progress,
                       cancel=cancel or CancelToken(), timeout=timeout, attempts=attempts,
                       refreshes=refreshes, backoff=backoff, max_backoff=max_backoff,
                       chunk_size=chunk_size, max_files=max_files, max_bytes=max_bytes)
    try:
        return fetcher.run()
    except OSError as exc:  # the disk, not the network: full, read-only, a path gone
        raise FetchError(f"cannot write the delivery in {dest_dir}: {redact(str(exc))}") from None
    finally:
        fetcher.close()


class _Fetcher:
    def __init__(self, dest: Path, outputs: list, *, refresh, progress: ProgressFn,
                 cancel: CancelToken, timeout, attempts: int, refreshes: int, backoff: float,
                 max_backoff: float, chunk_size: int, max_files: int, max_bytes: int) -> None:
        self.dest, self.outputs, self.refresh = dest, outputs, refresh
        self.progress, self.cancel, self.timeout = progress, cancel, timeout
        self.attempts, self.refreshes = max(1, attempts), max(0, refreshes)
        self.backoff, self.max_backoff = backoff, max_backoff
        self.chunk_size, self.max_files, self.max_bytes = chunk_size, max_files, max_bytes
        self._session = None

    def run(self) -> list[FetchedFile]:
        self.dest.mkdir(parents=True, exist_ok=True)
        result: list[FetchedFile] = []
        for index in range(len(self.outputs)):
            delivered = self._existing(index) or self._fetch(index)
            if delivered.kind == "zip":
                result.extend(self._unpack(index, delivered))
            else:
                result.append(delivered)
        return result

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- what is already on disk -----------------------------------------------------------

    def _record_path(self, index: int) -> Path:
        return self.dest / f".output-{index}.json"

    def _read_record(self, index: int) -> dict:
        try:
            record = json.loads(self._record_path(index).read_text(encoding="utf-8"))
            return record if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_record(self, index: int, record: dict) -> None:
        path = self._record_path(index)
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(temp, path)

    def _existing(self, index: int) -> Optional[FetchedFile]:
        """The output's file from an earlier call, re-verified (size and magic), or None."""
        record = self._read_record(index)
        for ext in sorted(set(EXTENSIONS.values())):
            path = self.dest / f"output-{index}.{ext}"
            if not path.is_file():
                continue
            size, kind = path.stat().st_size, sniff_kind(path)
            if EXTENSIONS[kind] != ext or size == 0:
                log.warning("%s is not what its name says (or empty); downloading it again",
                            path)
                path.unlink()
                continue
            if record.get("name") == path.name and record.get("bytes") == size \
                    and record.get("kind") == kind and record.get("sha256"):
                sha = record["sha256"]
            elif record.get("name") == path.name and record.get("bytes") not in (None, size):
                log.warning("%s changed size since it was downloaded; downloading it again", path)
                path.unlink()
                continue
            else:  # renamed into place but its record never written (a crash between the two)
                sha = file_sha256(path)
                self._write_record(index, {"name": path.name, "kind": kind, "bytes": size,
                                           "sha256": sha})
            self.progress(size, size, path.name)
            return FetchedFile(path, kind, size, sha)
        return None

    # -- downloading -------------------------------------------------------------------------

    def _fetch(self, index: int) -> FetchedFile:
        part = self.dest / f"output-{index}.part"
        url = getattr(self.outputs[index], "url", None)
        if not isinstance(url, str) or not url:
            raise FetchError(f"output {index} (type {getattr(self.outputs[index], 'type', '?')!r}) "
                             f"has no URL to download")
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            size, sha = self._copy(index, part)
        elif scheme in ("http", "https"):
            size, sha = self._download(index, part)
        else:
            raise FetchError(f"output {index}: cannot fetch "
                             f"{redact_url(self.outputs[index].url)} (only file, http and "
                             f"https URLs are supported)")
        kind = sniff_kind(part)
        if kind == "unknown":
            # The type string is not trusted either way; ingest decides what it can read.
            log.warning("output %d (type %r) is not MP4, EXR, ZIP, PNG or JPEG by its first "
                        "bytes; kept as output-%d.bin", index, self.outputs[index].type, index)
        final = self.dest / f"output-{index}.{EXTENSIONS[kind]}"
        os.replace(part, final)
        # The URL's last path segment is kept as provenance only (e.g. a frame number the
        # service put there); it never names a file here. The query, a signature, is dropped.
        source_name = urlsplit(self.outputs[index].url).path.rsplit("/", 1)[-1][:200]
        self._write_record(index, {"name": final.name, "kind": kind, "bytes": size,
                                   "sha256": sha, "type": str(self.outputs[index].type),
                                   "source_name": source_name})
        return FetchedFile(final, kind, size, sha)

    def _copy(self, index: int, part: Path) -> tuple[int, str]:
        """A file:// output (the offline backend's store): a streamed copy, from the start."""
        url = self.outputs[index].url
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"output {index}: {redact_url(url)} names another machine; "
                             f"only local file URLs are supported")
        source = Path(url2pathname(parts.path))
        try:
            total = source.stat().st_size
            if not source.is_file():
                raise FetchError(f"output {index}: {source} is not a file")
            self._check_space(total, index)
            hasher, done, label = hashlib.sha256(), 0, f"output-{index}"
            with open(source, "rb") as src, open(part, "wb") as out:
                while True:
                    self.cancel.check()
                    chunk = src.read(self.chunk_size)
                    if not chunk:
                        break
                    if done == 0:
                        label = f"output-{index}.{EXTENSIONS[kind_of_bytes(chunk[:_SNIFF])]}"
                    out.write(chunk)
                    hasher.update(chunk)
                    done += len(chunk)
                    self.progress(done, total, label)
        except FileNotFoundError:
            raise FetchError(f"output {index}: {source} does not exist") from None
        if done != total:
            raise FetchError(f"output {index}: {source} changed while it was copied "
                             f"({done} of {total} bytes)")
        if done == 0:
            raise FetchError(f"output {index}: {source} is empty")
        return done, hasher.hexdigest()

    def _download(self, index: int, part_path: Path) -> tuple[int, str]:
        """An http(s) output: streamed to its ``.part``, resumed, retried, refreshed."""
        part = _Partial(part_path)
        failures = tries = refreshed = 0
        while True:
            self.cancel.check()
            part.sync()
            tries += 1
            try:
                self._attempt(index, part)
                if part.size == 0:
                    raise FetchError(f"output {index}: "
                                     f"{redact_url(self.outputs[index].url)} is empty")
                return part.size, part.hexdigest()
            except _Retry as retry:
                failures = 1 if retry.progressed else failures + 1
                if failures >= self.attempts or tries >= self.attempts * 50:
                    raise FetchError(f"output {index}: {retry.reason} ({tries} tries) from "
                                     f"{redact_url(self.outputs[index].url)}") from None
                log.warning("output %d: %s; retrying", index, retry.reason)
                self._wait(failures - 1, retry.retry_after)
            except _Expired as expired:
                if self.refresh is None:
                    raise FetchError(f"output {index}: {expired}, and nothing can ask the "
                                     f"service for a fresh URL") from None
                if refreshed >= self.refreshes:
                    raise FetchError(f"output {index}: {expired}, still after {refreshed} "
                                     f"fresh URL(s) from the service") from None
                log.info("output %d: %s; asking the service for fresh URLs", index, expired)
                try:
                    self._refresh(index)
                except FetchError:
                    raise
                except Exception as exc:
                    # The service itself may be briefly unreachable; a backend says so with
                    # ``retryable`` (BackendError). Anything else is its own, final answer.
                    if not getattr(exc, "retryable", False):
                        raise
                    failures += 1
                    if failures >= self.attempts:
                        raise FetchError(f"output {index}: {expired}, and asking the service "
                                         f"for fresh URLs failed: {redact(str(exc))}") from None
                    log.warning("output %d: fresh URLs not available yet (%s); retrying",
                                index, exc)
                    self._wait(failures - 1, None)
                    continue
                refreshed += 1

    def _attempt(self, index: int, part: "_Partial") -> None:
        """One GET that leaves ``part`` complete, or raises _Retry / _Expired / FetchError."""
        url = self.outputs[index].url
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored: lengths must match
        if part.size:
            headers["Range"] = f"bytes={part.size}-"
        try:
            response = self._get_session().get(url, headers=headers, stream=True,
                                               timeout=self.timeout, verify=True)
        except requests.exceptions.SSLError as exc:
            raise FetchError(f"output {index}: TLS verification failed for "
                             f"{redact_url(url)}: {redact(str(exc))}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise _Retry(f"cannot connect ({type(exc).__name__})") from None
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"output {index}: cannot request {redact_url(url)}: "
                             f"{redact(str(exc))}") from None
        with response:
            status = response.status_code
            if status in (200, 206):
                return self._stream(index, response, part)
            if status == 416:
                return self._unsatisfiable(response, part)
            if status == 403:
                raise _Expired(f"access refused (HTTP 403; the presigned URL has probably "
                               f"expired) for {redact_url(url)}")
            body = _peek_text(response)
            if status in (400, 410) and _EXPIRY.search(body):
                raise _Expired(f"the URL has expired (HTTP {status}) for {redact_url(url)}")
            if status == 429 or status >= 500:
                raise _Retry(f"HTTP {status}", retry_after=_retry_after(response))
            detail = redact(" ".join(body[:200].split()))
            raise FetchError(f"output {index}: HTTP {status} from {redact_url(url)}"
                             + (f": {detail}" if detail else ""))

    def _stream(self, index: int, response, part: "_Partial") -> None:
        """Append the response body to ``part`` and check it ends where the server said."""
        have = part.size
        if response.status_code == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                # Not the bytes we asked for: start again from nothing rather than splice.
                part.truncate()
                raise _Retry(f"the server answered a different range ({start} instead of "
                             f"{have}); starting again")
            if part.expected is not None and total is not None and total != part.expected:
                part.truncate()
                part.expected = total
                raise _Retry("the file's size changed between requests; starting again")
        else:
            if have:
                log.info("output %d: the server ignored Range; downloading from the start", index)
                part.truncate()
                have = 0
            total = _content_length(response)
        if total is not None:
            part.expected = total
            if total > self.max_bytes:
                raise FetchError(f"output {index} is {total} bytes, over the {self.max_bytes}-"
                                 f"byte limit for one download")
            self._check_space(total - have, index)
        stream = response.raw.stream(self.chunk_size, decode_content=False)
        overflow = False
        with part.append() as write:
            while True:
                self.cancel.check()
                try:
                    chunk = next(stream)
                except StopIteration:
                    break
                except _NETWORK_ERRORS as exc:
                    raise _Retry(f"the connection broke after {part.size} bytes "
                                 f"({type(exc).__name__})", progressed=part.size > have) from None
                if total is not None and part.size + len(chunk) > total:
                    overflow = True
                    break
                if part.size + len(chunk) > self.max_bytes:  # no length announced: still bounded
                    raise FetchError(f"output {index} grew past the {self.max_bytes}-byte limit "
                                     f"for one download")
                write(chunk)
                self.progress(part.size, total or 0, part.label(index))
        if overflow:
            part.truncate()
            raise _Retry(f"the server sent more than the {total} bytes it announced")
        if total is not None and part.size < total:
            raise _Retry(f"the download stopped at {part.size} of {total} bytes",
                         progressed=part.size > have)
        self.progress(part.size, part.size, part.label(index))

    def _unsatisfiable(self, response, part: "_Partial") -> None:
        """HTTP 416: the ``.part`` may already hold the whole file (a crash before the rename)."""
        _, total = _content_range(response.headers.get("Content-Range"), allow_star=True)
        total = total if total is not None else part.expected
        if total is not None and part.size == total:
            return
        have = part.size
        part.truncate()
        raise _Retry(f"the server refused the resume at byte {have}"
                     f"{f' of {total}' if total is not None else ''}; starting again")

    def _refresh(self, index: int) -> None:
        """Fresh URLs for every output (they all expire together), matched by index and type."""
        fresh = list(self.refresh())
        old = self.outputs
        matched = _match_outputs(old, fresh)
        if matched[index] is None:
            raise FetchError(f"output {index} (type {old[index].type!r}) is no longer among "
                             f"the generation's outputs after asking for fresh URLs")
        self.outputs = [m if m is not None else o for o, m in zip(old, matched)]

    def _wait(self, retry: int, retry_after: Optional[float]) -> None:
        delay = random.uniform(0, min(self.max_backoff, self.backoff * (2 ** retry)))
        if retry_after is not None:
            delay = max(delay, retry_after)
        delay = min(delay, self.max_backoff)
        if self.cancel.wait(delay):
            self.cancel.check()

    def _check_space(self, needed: int, index: int) -> None:
        try:
            free = shutil.disk_usage(self.dest).free
        except OSError:
            return
        if needed > free:
            raise FetchError(f"output {index}: not enough disk space in {self.dest}: needs "
                             f"{needed / 1e9:.2f} GB more, {free / 1e9:.2f} GB free")

    def _get_session(self):
        if self._session is None:
            # A session of its own, never the API client's: presigned URLs must not receive
            # the API key, and the object store would refuse a second credential anyway.
            self._session = requests.Session()
        return self._session

    # -- ZIP deliveries --------------------------------------------------------------------

    def _unpack(self, index: int, archive: FetchedFile) -> list[FetchedFile]:
        folder = self.dest / archive.path.stem
        paths = extract_zip(archive.path, folder, max_files=self.max_files,
                            max_bytes=self.max_bytes, progress=self.progress, cancel=self.cancel)
        record = self._read_record(index)
        known = {item.get("name"): item for item in record.get("files", [])
                 if isinstance(item, dict)}
        files, changed = [], False
        for path in paths:
            name = path.relative_to(self.dest).as_posix()
            size, kind = path.stat().st_size, sniff_kind(path)
            item = known.get(name)
            if item and item.get("bytes") == size and item.get("kind") == kind and item.get("sha256"):
                sha = item["sha256"]
            else:
                self.cancel.check()
                sha, changed = file_sha256(path), True
            files.append(FetchedFile(path, kind, size, sha))
        if changed or len(known) != len(files):
            record["files"] = [{"name": f.path.relative_to(self.dest).as_posix(), "kind": f.kind,
                                "bytes": f.bytes, "sha256": f.sha256} for f in files]
            self._write_record(index, record)
        return files


# -- helpers ---------------------------------------------------------------------------------

# What a broken body looks like while streaming (urllib3 raises its own errors from raw.stream).
_NETWORK_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                   http.client.HTTPException, ConnectionError, TimeoutError)


class _Partial:
    """A ``.part`` file and the sha256 of exactly the bytes it holds, kept in step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.expected: Optional[int] = None  # the whole file's size, once a server has said
        self._hasher = hashlib.sha256()
        self._head = b""

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
        if len(self._head) < _SNIFF:
            self._head += chunk[:_SNIFF - len(self._head)]

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    def label(self, index: int) -> str:
        """The final name once the first bytes have shown the kind."""
        if len(self._head) < _SNIFF:
            return f"output-{index}"
        return f"output-{index}.{EXTENSIONS[kind_of_bytes(self._head)]}"


def _content_length(response) -> Optional[int]:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _content_range(value: Optional[str], *, allow_star: bool = False) -> tuple[Optional[int], Optional[int]]:
    """(first byte, total) of a Content-Range header; (None, None) when absent or malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    if start is None and not allow_star:
        return None, total
    return start, total


def _retry_after(response) -> Optional[float]:
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the jittered backoff is close enough


def _peek_text(response, limit: int = 4096) -> str:
    try:
        data = response.raw.read(limit, decode_content=True)
    except Exception:
        return ""
    return (data or b"").decode("utf-8", "replace")


def _match_outputs(old: list, fresh: list) -> list:
    """For each old output, its counterpart among ``fresh`` (same index and type, else the
    same occurrence of its type and layer), or None."""
    def key(o):
        return (getattr(o, "type", None), getattr(o, "layer", None))

    if len(old) == len(fresh) and all(key(a) == key(b) for a, b in zip(old, fresh)):
        return list(fresh)
    pools: dict = {}
    for candidate in fresh:
        pools.setdefault(key(candidate), []).append(candidate)
    used: dict = {}
    matched = []
    for output in old:
        k = key(output)
        n = used.get(k, 0)
        pool = pools.get(k, [])
        matched.append(pool[n] if n < len(pool) else None)
        used[k] = n + 1
    return matched


__all__ = ["FetchedFile", "FetchError", "fetch_outputs", "DEFAULT_TIMEOUT"]

"""Local images and videos as API media refs: inline base64 when small, the Files API when not.

Artists never need public hosting. A frame grabbed from the comp goes inline as base64; a plate,
a big still, or the inline images beyond a per-request total go through the Files API (multipart
for small files, a presigned PUT for large ones, then ``complete`` and a wait until ``ready``).
The ledger remembers each upload by the file's content hash, so the same frame is uploaded once
however many requests use it; a remembered file the service no longer has (404, deleted,
failed) is forgotten and uploaded again.
"""
from __future__ import annotations

import base64
import mimetypes
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ...digest import file_sha256
from ...inputs import image_kind
from .client import LumaClient, LumaError
from ...request import MediaRef

if TYPE_CHECKING:
    from ...jobs.ledger import Ledger

BACKEND = "luma"
READY, PENDING, FAILED, DELETED = "ready", "pending", "failed", "deleted"


def sniff_media_type(path: Path) -> str:
    """MIME type by the file's first bytes (names lie); the extension only as a last resort."""
    with open(path, "rb") as f:
        head = f.read(16)
    image = image_kind(head)
    if image is not None:
        return f"image/{image}"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    guess = mimetypes.guess_type(path.name)[0]
    return guess or "application/octet-stream"


class MediaResolver:
    """``resolve_ref`` for one request: keeps the inline total of that request's body bounded."""

    def __init__(self, client: LumaClient, ledger: "Ledger", *, tag: str = "") -> None:
        self.client = client
        self.ledger = ledger
        self.tag = tag or uuid.uuid4().hex[:12]
        self.inline_bytes = 0
        self.uploaded: list[str] = []  # file ids uploaded (or reused) for this request

    def __call__(self, ref: MediaRef) -> dict:
        """The API ref for a local file (request.to_api_payload passes URLs and ids through
        itself and asks only for local paths)."""
        if not ref.path:
            raise LumaError("only a local file needs resolving; URLs and ids are sent as they are")
        path = Path(ref.path)
        if not path.is_file():
            raise LumaError(f"input file not found: {path} (nothing was sent)", local=True)
        size = path.stat().st_size
        media_type = sniff_media_type(path)
        s = self.client.settings
        if size <= s.inline_max_bytes and self.inline_bytes + size <= s.inline_total_max_bytes:
            self.inline_bytes += size
            return {"data": base64.b64encode(path.read_bytes()).decode("ascii"),
                    "media_type": media_type}
        return {"file_id": self.file_id_for(path, media_type, size)}

    # -- the Files API ------------------------------------------------------------------------

    def file_id_for(self, path: Path, media_type: str, size: int) -> str:
        digest = file_sha256(path)
        remembered = self.ledger.upload_for(digest, BACKEND)
        if remembered:
            state = self._state(remembered)
            if state == PENDING:
                state = self._wait_ready(remembered, path)
            if state == READY:
                self.uploaded.append(remembered)
                return remembered
            # Gone (404), deleted or failed on the service: the memory is stale.
            self.ledger.forget_upload(digest, BACKEND)
        file_id = self._upload(path, media_type, size)
        self._wait_ready(file_id, path)
        self.ledger.remember_upload(digest, BACKEND, file_id)
        self.uploaded.append(file_id)
        return file_id

    def _state(self, file_id: str) -> Optional[str]:
        """The file's state on the service, or None when it does not know the file."""
        try:
            body = self.client.json("GET", f"files/{file_id}", what=f"checking uploaded file {file_id}",
                                    tag=self.tag)
        except LumaError as exc:
            if exc.status == 404:
                return None
            raise
        return _file_state(body)

    def _upload(self, path: Path, media_type: str, size: int) -> str:
        s = self.client.settings
        what = f"uploading {path.name}"
        meta = {"mime_type": media_type, "size_bytes": size, "filename": path.name,
                "purpose": "input"}
        if size <= s.multipart_max_bytes:
            # Retried like a GET: a lost answer can leave a duplicate file record on the
            # service, which costs nothing (unlike a second generation).
            with open(path, "rb") as f:
                body = self.client.json(
                    "POST", "files", what=what, tag=self.tag, rewind=lambda: f.seek(0),
                    data={k: str(v) for k, v in meta.items()},
                    files={"file": (path.name, f, media_type)})
            return _file_id(body, what)
        body = self.client.json("POST", "files", what=what, tag=self.tag, json=meta)
        file_id = _file_id(body, what)
        envelope = body.get("upload") if isinstance(body, dict) else None
        if not isinstance(envelope, dict) or not envelope.get("url"):
            raise LumaError(f"{what}: Luma gave no upload URL for a {size} byte file")
        method = str(envelope.get("method") or "PUT").upper()
        headers = {str(k): str(v) for k, v in (envelope.get("headers") or {}).items()}
        headers.setdefault("Content-Type", media_type)
        headers["Content-Length"] = str(size)
        with open(path, "rb") as f:
            # The presigned URL is a secret: it is used here and never written anywhere.
            self.client.call(method, envelope["url"], what=what, tag=self.tag, data=f,
                             headers=headers, rewind=lambda: f.seek(0), ok=(200, 201, 204))
        self.client.json("POST", f"files/{file_id}/complete", what=f"finishing the upload of {path.name}",
                         tag=self.tag)
        return file_id

    def _wait_ready(self, file_id: str, path: Path) -> str:
        deadline = time.monotonic() + self.client.settings.file_ready_timeout
        delay = 0.2
        while True:
            state = self._state(file_id)
            if state == READY:
                return READY
            if state is None or state in (FAILED, DELETED):
                reason = ""
                if state == FAILED:
                    body = self.client.json("GET", f"files/{file_id}", what="reading the upload",
                                            tag=self.tag)
                    reason = (body or {}).get("failure_reason") or ""
                raise LumaError(f"Luma did not accept {path.name} "
                                f"({state or 'not found'}){': ' + reason if reason else ''}")
            if time.monotonic() > deadline:
                raise LumaError(f"Luma still has not processed {path.name} after "
                                f"{self.client.settings.file_ready_timeout:.0f} s", retryable=True)
            self.client.wait(delay)
            delay = min(delay * 1.5, 5.0)


def _file_state(body) -> Optional[str]:
    if not isinstance(body, dict):
        return None
    if body.get("state"):
        return str(body["state"])
    inner = body.get("file")
    return str(inner.get("state")) if isinstance(inner, dict) and inner.get("state") else None


def _file_id(body, what: str) -> str:
    if isinstance(body, dict):
        if body.get("id"):
            return str(body["id"])
        inner = body.get("file")
        if isinstance(inner, dict) and inner.get("id"):
            return str(inner["id"])
    raise LumaError(f"{what}: Luma's answer carries no file id")


__all__ = ["MediaResolver", "sniff_media_type"]

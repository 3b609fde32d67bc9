"""The offline backend: Ray3's contract served by a local renderer (genplate.core.render).

It behaves like the service where the rest of genplate can tell: a create returns an id at
once, the generation is "processing" while it renders (with progress), then "completed" with
outputs at URLs (``file://`` into the store). That lets every other step (fetch, ingest,
publish, resume after a crash) run for real without an API key or money.

The store (``<data dir>/offline``) holds one folder per generation, ``<remote_id>/``, and
nothing else but dot-names (scratch). A generation folder holds:

- ``request.json``: the request and the job id that created it (reconcile reads it);
- ``output/``: the delivered files, present only once complete (renamed from a scratch
  folder, so nothing half-written is ever visible);
- ``failed.json``: why it failed, when it did;
- ``.progress.json``, ``.render.lock`` and ``.render-*`` scratch folders while rendering.

Rendering happens in the process that follows the generation, on a background thread started
by ``get``. The renderer holds an exclusive lock on ``.render.lock`` while it works, so another
process asking meanwhile only reads the progress; if the renderer's process dies, the OS drops
the lock and the next ``get`` starts the render again from scratch.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Optional

from ..atomic import fsync_dir, fsync_tree, write_json_atomically
from ..progress import CancelToken, ProgressFn
from ..request import ShotRequest
from .base import COMPLETED, FAILED, PROCESSING, Backend, BackendError, Generation, Output

REMOTE_ID = re.compile(r"^offline-[0-9a-f]{32}$")
OUTPUT_DIR = "output"
PROGRESS_FILE = ".progress.json"
LOCK_FILE = ".render.lock"
SCRATCH_PREFIX = ".render-"


class OfflineBackend(Backend):
    name = "offline"
    # A local render answers in seconds: poll often, so a draft is not kept waiting on the poll.
    poll_interval = 0.2
    max_poll_interval = 0.5

    def __init__(self, store_dir: str | os.PathLike) -> None:
        self.store = Path(store_dir)
        self.local_outputs = self.store  # its outputs are file URLs into its own store, only
        self._lock = threading.Lock()
        self._renders: dict[str, threading.Thread] = {}
        self._tokens: dict[str, list[CancelToken]] = {}

    def describe(self) -> str:
        return f"offline renderer (no API key; store {self.store})"

    # -- create / reconcile ----------------------------------------------------------------

    def create(self, request: ShotRequest, *, job_id: str) -> str:
        # The same checks the Luma backend's payload gets (request.validate decodes every
        # input), before anything exists in the store.
        request.validate()
        for gen_id in _generation_refs(request):
            self._finished_dir(gen_id)  # refuses, before anything exists, an unknown generation
        for role, ref in request.media_refs():
            if ref.url or ref.file_id:
                raise BackendError(f"{role}: the offline renderer reads local files only; give a "
                                   f"path instead of a {'url' if ref.url else 'file_id'}")
        self.store.mkdir(parents=True, exist_ok=True)
        remote_id = "offline-" + uuid.uuid4().hex
        scratch = self.store / f".create-{remote_id}"
        scratch.mkdir()
        record = {"id": remote_id, "job_id": job_id, "created_at": time.time(),
                  "request": request.to_json()}
        write_json_atomically(scratch / "request.json", record)
        # The generation exists from the moment of this rename, complete with its job id.
        os.replace(scratch, self.store / remote_id)
        fsync_dir(self.store)
        return remote_id

    def reconcile(self, job_id: str) -> Optional[str]:
        """The generation a lost create made for ``job_id``; None proves there is none (the
        store is local, and a generation is only there once its record is complete)."""
        if not self.store.is_dir():
            return None
        for gen_dir in sorted(self.store.iterdir()):
            if gen_dir.name.startswith(".") or not gen_dir.is_dir():
                continue
            try:
                record = json.loads((gen_dir / "request.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BackendError(f"offline store entry {gen_dir} is unreadable ({exc}); "
                                   f"cannot tell whether job {job_id} made it") from exc
            if record.get("job_id") == job_id:
                return gen_dir.name
        return None

    # -- following ---------------------------------------------------------------------------

    def get(self, remote_id: str, *, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Generation:
        gen_dir = self._dir(remote_id)
        output = gen_dir / OUTPUT_DIR
        if output.is_dir():
            return self._completed(remote_id, output)
        failed = gen_dir / "failed.json"
        if failed.exists():
            info = json.loads(failed.read_text(encoding="utf-8"))
            return Generation(remote_id, FAILED, failure_code=info.get("failure_code"),
                              failure_reason=info.get("failure_reason"))
        self._ensure_rendering(remote_id, gen_dir, cancel)
        if output.is_dir():  # finished between the two looks
            return self._completed(remote_id, output)
        # The runner reports Generation.progress itself; ``progress`` is not called twice over.
        return Generation(remote_id, PROCESSING, progress=_read_progress(gen_dir))

    def _completed(self, remote_id: str, output: Path) -> Generation:
        listed = json.loads((output / "outputs.json").read_text(encoding="utf-8"))
        outputs = tuple(Output(type=o["type"], url=(output / o["name"]).resolve().as_uri())
                        for o in listed)
        return Generation(remote_id, COMPLETED, outputs=outputs, progress=1.0)

    def _dir(self, remote_id: str) -> Path:
        if not isinstance(remote_id, str) or not REMOTE_ID.match(remote_id):
            raise BackendError(f"{remote_id!r} is not an offline generation id "
                               f"(offline- followed by 32 hex digits)")
        gen_dir = self.store / remote_id
        if not (gen_dir / "request.json").is_file():
            raise BackendError(f"offline generation {remote_id} is not in the store {self.store}",
                               code="not_found")
        return gen_dir

    def _finished_dir(self, gen_id: str) -> Path:
        """An earlier generation's output folder, for extend_from / generation_id references."""
        try:
            gen_dir = self._dir(gen_id)
        except BackendError as exc:
            raise BackendError(f"cannot extend {gen_id!r}: {exc}. The offline backend can only "
                               f"extend its own generations, from this data folder") from exc
        output = gen_dir / OUTPUT_DIR
        if not output.is_dir():
            raise BackendError(f"cannot extend {gen_id}: it has not finished rendering "
                               f"(wait for its job to be delivered first)")
        return output

    # -- rendering ---------------------------------------------------------------------------

    def _ensure_rendering(self, remote_id: str, gen_dir: Path, cancel: Optional[CancelToken]) -> None:
        with self._lock:
            tokens = self._tokens.setdefault(remote_id, [])
            if cancel is not None and not any(t is cancel for t in tokens):
                tokens.append(cancel)
            thread = self._renders.get(remote_id)
            if thread is not None and thread.is_alive():
                return
            lock = _RenderLock(gen_dir / LOCK_FILE)
            if not lock.acquire():
                return  # another process renders it; we report its progress
            if (gen_dir / OUTPUT_DIR).is_dir():
                lock.release()
                return
            thread = threading.Thread(target=self._render, args=(remote_id, gen_dir, lock),
                                      name=f"offline-render-{remote_id[-8:]}", daemon=True)
            self._renders[remote_id] = thread
            # Seen by the next get() as "just started", never as an old run's figure.
            write_json_atomically(gen_dir / PROGRESS_FILE, {"progress": 0.0, "pid": os.getpid(), "at": time.time()})
            thread.start()

    def _cancelled(self, remote_id: str) -> bool:
        """Stop rendering when everyone following this generation has cancelled."""
        with self._lock:
            tokens = list(self._tokens.get(remote_id, ()))
        return bool(tokens) and all(t.cancelled for t in tokens)

    def _render(self, remote_id: str, gen_dir: Path, lock: "_RenderLock") -> None:
        from ..render import RenderCancelled, RenderInputError, render

        scratch = gen_dir / f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            for stale in gen_dir.glob(SCRATCH_PREFIX + "*"):
                shutil.rmtree(stale, ignore_errors=True)  # a dead render's leftovers: we hold the lock
            record = json.loads((gen_dir / "request.json").read_text(encoding="utf-8"))
            request = ShotRequest.from_json(record["request"])
            last = [0.0]
            last_check = [0.0]
            cancelled = [False]

            def report(done: int, total: int) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.2 or done >= total:
                    last[0] = now
                    write_json_atomically(gen_dir / PROGRESS_FILE,
                                {"progress": round(0.99 * done / total, 4), "pid": os.getpid(), "at": time.time()})

            def stop() -> bool:
                now = time.monotonic()  # a token may ask the ledger: a few times a second is plenty
                if now - last_check[0] >= 0.25:
                    last_check[0] = now
                    cancelled[0] = self._cancelled(remote_id)
                return cancelled[0]

            outputs = render(request, scratch, stem=remote_id, progress=report, cancelled=stop,
                             generation_frame=self._generation_frame,
                             exr_header={"genplate:offline_id": remote_id,
                                         "Software": "genplate offline renderer"})
            write_json_atomically(scratch / "outputs.json", [{"type": t, "name": n} for t, n in outputs])
            fsync_tree(scratch)
            os.replace(scratch, gen_dir / OUTPUT_DIR)
            fsync_dir(gen_dir)
            write_json_atomically(gen_dir / PROGRESS_FILE, {"progress": 1.0, "pid": os.getpid(), "at": time.time()})
        except RenderCancelled:
            pass  # nothing visible was written; a later get() renders it again
        except RenderInputError as exc:
            write_json_atomically(gen_dir / "failed.json", {"failure_code": "corrupt_input",
                                                  "failure_reason": str(exc)})
        except Exception as exc:  # a renderer bug must end the generation, not hang the job
            traceback.print_exc(file=sys.stderr)
            write_json_atomically(gen_dir / "failed.json", {"failure_code": "generation_failed",
                                                  "failure_reason": f"offline render failed: {exc}"})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._renders.pop(remote_id, None)
                self._tokens.pop(remote_id, None)
            lock.release()

    def _generation_frame(self, gen_id: str, which: str) -> Path:
        from ..render import RenderInputError

        try:
            output = self._finished_dir(gen_id)
        except BackendError as exc:
            raise RenderInputError(str(exc)) from exc
        path = output / f"{which}_frame.exr"
        if not path.is_file():
            raise RenderInputError(f"offline generation {gen_id} has no stored {which} frame")
        return path


def _generation_refs(request: ShotRequest) -> list[str]:
    ids = [request.extend_from] if request.extend_from else []
    ids += [ref.generation_id for _, ref in request.media_refs() if ref.generation_id]
    return ids


class _RenderLock:
    """An exclusive, non-blocking lock that the OS releases when its process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.name == "nt":
                import msvcrt

                os.lseek(self.fd, 0, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(self.fd)  # closing drops an flock
            self.fd = None


def _read_progress(gen_dir: Path) -> Optional[float]:
    try:
        return float(json.loads((gen_dir / PROGRESS_FILE).read_text(encoding="utf-8"))["progress"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["OfflineBackend"]

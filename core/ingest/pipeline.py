"""The frame pipeline every delivery goes through, and what runs beside it.

    decode thread --(bounded queue, 2 x workers frames)--> N worker threads: OCIO -> EXR write

OCIO's ``apply``, numpy's gathers and OIIO's ``write_image`` all release the GIL, so the workers
overlap on every core, and the bounded queue keeps memory flat whatever the clip's length.
Nothing runs serially after the last frame: the worker that converts the middle frame makes
the thumbnail from its pixels (``Thumbnail``), and the delivery is hashed alongside (``Hasher``).
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from genplate.ocio import processors as oproc

from ..digest import file_sha256
from ..progress import Cancelled, CancelToken, ProgressFn
from . import exr as X
from .result import SourceFile


def publish_frame(staging, fspec, extras, thumb, first: int, index: int, pixels) -> None:
    """Everything a converted frame becomes, whatever the delivery: the EXR frame, the extra
    outputs, and the thumbnail when it is the middle frame."""
    frame = first + index
    X.write_frame(Path(staging.frame_path(frame)), pixels, fspec.spec_for(frame))
    if extras:
        extras.add(index, frame, pixels)
    if index == thumb.index:
        thumb.make(index, pixels)


def _offer(q: "queue.Queue", item, stop: threading.Event) -> bool:
    """Put ``item`` on a bounded queue unless ``stop`` is set first; False if it was."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Stop(Exception):
    pass


def run_pipeline(produce: Callable[[Callable[[object], None]], int], convert: Callable,
                 *, workers: int, total: int, progress: ProgressFn, cancel: CancelToken) -> int:
    """Run ``produce`` in a decode thread feeding ``convert`` on ``workers`` threads.

    Progress is reported and the cancel token checked from the calling thread only (the
    token may consult the ledger), once per finished frame and at least 10 times a second.
    Returns the number of frames produced; re-raises the first error of any thread.
    """
    work: "queue.Queue" = queue.Queue(maxsize=max(2, 2 * workers))
    done: "queue.Queue" = queue.Queue()
    stop = threading.Event()

    def put(item) -> None:
        if not _offer(work, item, stop):
            raise _Stop()

    def decoder() -> None:
        try:
            count = produce(put)
            done.put(("decoded", count))
        except _Stop:
            done.put(("decoded", -1))
        except BaseException as exc:  # handed to the caller's thread
            done.put(("error", exc))
        finally:
            # One end-of-work marker per worker; after a stop the workers leave on their own.
            for _ in range(workers):
                if not _offer(work, None, stop):
                    break

    def worker() -> None:
        while True:
            try:
                item = work.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if item is None:
                return
            if stop.is_set():
                continue
            try:
                convert(item)
                done.put(("done", None))
            except BaseException as exc:
                stop.set()
                done.put(("error", exc))

    threads = [threading.Thread(target=decoder, name="ingest-decode", daemon=True)]
    threads += [threading.Thread(target=worker, name=f"ingest-{i}", daemon=True)
                for i in range(workers)]
    for t in threads:
        t.start()
    finished, produced, error = 0, None, None
    try:
        while produced is None or finished < produced:
            try:
                what, value = done.get(timeout=0.1)
            except queue.Empty:
                what, value = None, None
            if what == "done":
                finished += 1
                progress(finished, max(total, produced or 0, finished), f"frame {finished}")
            elif what == "decoded":
                produced = value
                if value < 0:
                    break
            elif what == "error":
                error = value
                break
            if cancel.cancelled:
                raise Cancelled("cancelled")
    finally:
        stop.set()
        for t in threads:
            t.join()
    if error is not None:
        raise error
    return produced or 0


class Thumbnail:
    """The take's thumbnail, made by the worker that converts the middle frame, from that
    frame's pixels in memory: off the serial end of the ingest, and without reading the frame
    back (the PNG is the same, see exr.thumbnail). ``ingest`` falls back to reading
    the written middle frame when the clip had fewer frames than announced."""

    def __init__(self, info, working: str, path: Path, width: int) -> None:
        self.info, self.working, self.path, self.width = info, working, path, width
        self.index: Optional[int] = None  # the middle of the frames announced
        self.made: Optional[int] = None

    def display(self):
        return oproc.display_processor(self.info, self.working)

    def make(self, index: int, pixels: np.ndarray) -> None:
        X.thumbnail(pixels, self.path, self.display(), self.width)
        self.made = index


class Hasher(threading.Thread):
    """sha256 of every delivered file, alongside the conversion (hashlib releases the GIL)."""

    def __init__(self, files: list[SourceFile]) -> None:
        super().__init__(name="ingest-hash", daemon=True)
        self.files = list(files)
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            for f in self.files:
                f.sha256 = file_sha256(f.path)
        except BaseException as exc:
            self.error = exc

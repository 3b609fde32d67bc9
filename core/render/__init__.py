"""The offline renderer: a shot request rendered into what Ray3 would deliver, on this machine.

``render(request, out_dir, stem=...)`` writes ``<stem>.mp4`` (always) and, with exr_export,
``<stem>_exr.zip`` into ``out_dir``, plus ``first_frame.exr`` / ``last_frame.exr`` (ACEScg,
lossless) so a later request can extend this generation. It knows nothing of stores, jobs or
backends: core/backends/offline.py decides where and when it runs.

Frames are a pure function of (request, seed, index): they are drawn on a small thread pool
(numpy and OCIO release the GIL) and encoded in order by the calling thread.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ..request import FPS, ShotRequest
from . import colour, media
from .scene import Scene, build_scene

# How far a keyframe's influence reaches either side of its index (frames).
BLEND_FRAMES = 12
# video_edit strengths: how much of the prompt's own picture replaces the source plate.
EDIT_MIX = {"adhere": (0.1, 0.2, 0.3), "flex": (0.35, 0.45, 0.55), "reimagine": (0.6, 0.7, 0.8)}

ProgressCb = Callable[[int, int], None]


class RenderCancelled(Exception):
    """The render was asked to stop; nothing it wrote is complete."""


class RenderInputError(ValueError):
    """An input (image, video, earlier generation) the render cannot use; names the file."""


@dataclass
class Inputs:
    """What the request's references resolve to, decided before any frame is drawn."""

    pinned: dict[int, np.ndarray] = field(default_factory=dict)  # frame index -> ACEScg image
    source: Optional[Iterator[np.ndarray]] = None  # video_edit / video_reframe plate frames
    source_rect: Optional[tuple[int, int, int, int]] = None  # x, y, w, h in output pixels
    _planes: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def planes(self, index: int) -> Optional[np.ndarray]:
        """The pinned image at ``index`` as planes (3, H, W), converted once."""
        image = self.pinned.get(index)
        if image is None:
            return None
        with self._lock:
            if index not in self._planes:
                self._planes[index] = _to_planes(image)
            return self._planes[index]


# One pool per process, shared by every render in it: concurrent jobs share the cores instead
# of each starting its own threads.
WORKERS = max(1, os.cpu_count() or 1)
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _frame_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="offline-frame")
        return _pool


def resolve_inputs(request: ShotRequest, width: int, height: int,
                   generation_frame: Callable[[str, str], Path]) -> Inputs:
    """Read every reference of the request; ``generation_frame(id, "first"|"last")`` finds a
    stored frame of an earlier generation (raises RenderInputError when it cannot)."""
    n = request.frame_count
    inputs = Inputs()

    def stored(gen_id: str, which: str) -> np.ndarray:
        path = generation_frame(gen_id, which)
        frame = media.read_exr_frame(path)
        if frame.shape[:2] != (height, width):  # extending at another resolution or aspect
            frame = media.read_image(path, width, height)
        return frame

    def image(ref, role: str) -> np.ndarray:
        if ref is None:
            raise RenderInputError(f"{role}: no image given")
        if ref.generation_id:
            return stored(ref.generation_id, "last" if role == "start_frame" else "first")
        if not ref.path:
            raise RenderInputError(f"{role}: the offline renderer reads local files only "
                                   f"(got a {'url' if ref.url else 'file_id'} reference)")
        try:
            return media.read_image(ref.path, width, height)
        except media.MediaError as exc:
            raise RenderInputError(f"{role}: {exc}") from exc

    if request.start_frame is not None:
        inputs.pinned[0] = image(request.start_frame, "start_frame")
    if request.end_frame is not None:
        inputs.pinned[n - 1] = image(request.end_frame, "end_frame")
    if request.extend_from:
        if request.extend_direction == "backward":
            inputs.pinned[n - 1] = stored(request.extend_from, "first")
        else:
            inputs.pinned[0] = stored(request.extend_from, "last")
    for key in request.keyframes:
        inputs.pinned[key.index] = image(key.image, f"keyframe:{key.index}")
    if request.edit is not None:
        for key in request.edit.keyframes:
            inputs.pinned[key.index] = image(key.image, f"edit_keyframe:{key.index}")

    if request.type in ("video_edit", "video_reframe"):
        src = request.source
        if src is None or not src.path:
            raise RenderInputError("source: the offline renderer needs a local source video")
        if request.type == "video_edit":
            inputs.source = media.video_frames(src.path, width, height, n)
        else:
            x, y, w, h = _reframe_rect(request, src.path, width, height)
            inputs.source_rect = (x, y, w, h)
            inputs.source = media.video_frames(src.path, w, h, n)
    return inputs


def _reframe_rect(request: ShotRequest, path: str, width: int, height: int) -> tuple[int, int, int, int]:
    rect = request.source_position
    if rect is not None:
        x, y = round(rect.x_norm * width), round(rect.y_norm * height)
        w = max(2, min(width - x, round(rect.w_norm * width)))
        h = max(2, min(height - y, round(rect.h_norm * height)))
        return x, y, w, h
    # No position given: the whole source, fitted inside the new frame and centred.
    import av

    try:
        with av.open(path) as c:
            cc = c.streams.video[0].codec_context
            sw, sh = cc.width, cc.height
    except Exception as exc:
        raise RenderInputError(f"source: cannot open video {path}: {exc}") from exc
    scale = min(width / sw, height / sh)
    w, h = max(2, round(sw * scale)), max(2, round(sh * scale))
    return (width - w) // 2, (height - h) // 2, w, h


def _edit_mix(request: ShotRequest) -> float:
    strength = (request.edit.strength if request.edit else "adhere_2") or "adhere_2"
    kind, _, level = strength.partition("_")
    return EDIT_MIX.get(kind, EDIT_MIX["adhere"])[max(0, min(2, int(level or 2) - 1))]


def compose(scene: Scene, request: ShotRequest, inputs: Inputs, index: int,
            source: Optional[np.ndarray]) -> np.ndarray:
    """Frame ``index`` in ACEScg (H, W, 3): the prompt's picture, the source plate, the pinned
    images. (The renderer itself works on planes: ``compose_planes``.)"""
    planes = compose_planes(scene, request, inputs, index,
                            None if source is None else _to_planes(source))
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def _to_planes(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def compose_planes(scene: Scene, request: ShotRequest, inputs: Inputs, index: int,
                   source: Optional[np.ndarray]) -> np.ndarray:
    """``compose`` as float32 planes (3, H, W); ``source`` is given as planes too."""
    if request.loop and index == request.frame_count - 1:
        index = 0  # a loop's last frame is its first, start frame included
    pinned = inputs.planes(index)
    if pinned is not None:
        return pinned.copy()  # the frame AT a keyframe's index is the keyframe
    frame = scene.planes(index)
    if source is not None:
        if request.type == "video_edit":
            # Restyle: grade the plate toward the prompt's palette and light, then let the
            # prompt's own picture show through as much as the strength allows.
            mix = float(_edit_mix(request))
            tint = scene.palette[0] / max(float(scene.palette[0].mean()), 1e-3)
            tint = (1 - mix) + mix * np.clip(tint, 0.3, 2.5)
            gain = tint * (scene.sky.ambient ** 0.5) * (1 - mix)
            frame *= np.float32(mix)
            for c in range(3):
                frame[c] += source[c] * np.float32(gain[c])
        else:
            x, y, w, h = inputs.source_rect
            frame *= np.float32(0.6)  # the outpainted surround sits a little under the plate
            frame[:, y:y + h, x:x + w] = source
    weights = []
    for k in inputs.pinned:
        d = abs(index - k)
        if d < BLEND_FRAMES:
            weights.append(((1.0 - d / BLEND_FRAMES) ** 2, inputs.planes(k)))
    if weights:
        total = sum(w for w, _ in weights)
        norm = 1.0 / total if total > 1.0 else 1.0
        frame *= np.float32(max(0.0, 1.0 - total * norm))
        for w, image in weights:
            frame += image * np.float32(w * norm)
    return frame


@dataclass
class _Done:
    linear: Optional[np.ndarray]  # kept for the first and last frame only
    planes: np.ndarray            # Y'CbCr 4:2:0 for the MP4
    aces: Optional[Path]          # the frame's EXR, encoded, waiting to go into the zip


def render(request: ShotRequest, out_dir: Path, *, stem: str,
           generation_frame: Callable[[str, str], Path],
           progress: ProgressCb = lambda done, total: None,
           cancelled: Callable[[], bool] = lambda: False,
           exr_header: Optional[dict[str, str]] = None) -> list[tuple[str, str]]:
    """Render ``request`` into ``out_dir``; returns [(output type, file name)].

    Raises RenderInputError for an unusable input, RenderCancelled when ``cancelled()``.
    Files are written in place: the caller renders into a scratch folder and renames it.
    """
    width, height = request.frame_size()
    n = request.frame_count
    scene = build_scene(request.prompt, request.seed, width, height, n, loop=request.loop)
    inputs = resolve_inputs(request, width, height, generation_frame)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = "pq" if request.hdr else "sdr"
    mp4_name, zip_name = f"{stem}.mp4", f"{stem}_exr.zip"
    mp4 = media.Mp4Writer(out_dir / mp4_name, width, height, hdr=request.hdr)
    exr = media.ExrZipWriter(out_dir / zip_name, stem, header=exr_header) if request.exr_export else None
    matrix, bits = ("2020", 10) if request.hdr else ("709", 8)

    def one(index: int, source: Optional[np.ndarray]) -> _Done:
        linear = compose_planes(scene, request, inputs, index,
                                None if source is None else _to_planes(source))
        aces = exr.encode(index, colour.to_aces2065_half(linear)) if exr is not None else None
        keep = linear.transpose(1, 2, 0) if index in (0, n - 1) else None
        code = colour.planes_to_display(linear, kind)
        return _Done(keep, colour.planes_to_yuv420(*code, matrix=matrix, bits=bits), aces)

    pool = _frame_pool()
    window = 2 * WORKERS  # bounded look-ahead keeps memory flat at 1080p
    pending: deque[Future] = deque()
    written = 0

    def drain_one() -> None:
        nonlocal written
        done = pending.popleft().result()
        mp4.write(done.planes)
        if exr is not None:
            exr.add(written, done.aces)
        if done.linear is not None:
            for name, at in (("first_frame.exr", 0), ("last_frame.exr", n - 1)):
                if written == at:
                    media.write_exr_frame(out_dir / name, done.linear)
        written += 1
        progress(written, n)

    try:
        for index in range(n):
            if cancelled():
                raise RenderCancelled()
            plate = None
            if inputs.source is not None:
                try:
                    plate = next(inputs.source)
                except media.MediaError as exc:
                    raise RenderInputError(f"source: {exc}") from exc
            pending.append(pool.submit(one, index, plate))
            while len(pending) > window:
                drain_one()
        while pending:
            drain_one()
    except BaseException:
        for f in pending:
            f.cancel()
        futures_wait(pending)  # frames already being drawn finish before their files are removed
        mp4.abort()
        if exr is not None:
            exr.abort()
        raise
    mp4.close()
    outputs = [("video", mp4_name)]
    if exr is not None:
        exr.close()
        outputs.append(("exr", zip_name))
    return outputs


__all__ = ["render", "compose", "compose_planes", "resolve_inputs", "Inputs", "RenderCancelled", "RenderInputError", "FPS"]

"""Everything a publish needs, checked before a generation is paid for.

A job that cannot be published once it arrives is money spent for nothing, so before the create
(in the command, before the job is even recorded, and again in the runner, right before it
sends) this checks what publishing will need: the shot and take names, a takes root that exists
(or can be made) and can be written, the OCIO config and working space and the transforms the
expected delivery will go through, the service's key, and disk space for the delivery and the
frames. A failed check raises ``JobError`` saying what to change; nothing is sent.

Disk needs are estimates from the request (frame size, count, pixel type, compression), sized
to catch a disk that is clearly too full, not to predict bytes: a published EXR with lossless
compression takes about 60% of its raw size on generated footage; Luma's ACES EXR export (DWAB
45) about an eighth of raw, which is what puts a 1080p master's delivery near 200 MB.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from ..request import ShotRequest
from ..takes.record import PublishSpec
from .errors import JobError

MIB = 1024 * 1024
MARGIN_BYTES = 64 * MIB  # left free beyond the estimate: a full disk stalls more than genplate
# Delivered video bitrates (bits/s) by resolution: generous for the service's H.264/HEVC.
_VIDEO_BITRATE = {"360p": 3e6, "540p": 6e6, "720p": 12e6, "1080p": 30e6}
_EXR_EXPORT_RATIO = 1 / 8  # DWAB 45 against raw half RGB
_TAKE_RATIO = {"none": 1.0, "rle": 1.0}  # other compressions: 0.6 of raw
# Extra outputs beside the frames (core/ingest/outputs.py), bytes per pixel per frame.
_EXTRA_BYTES_PER_PIXEL = {"dpx10": 4.0, "dpx12": 6.0, "tiff16": 6.0, "aces-archive": 3.6}


def check(request: ShotRequest, spec: PublishSpec, *, data_dir: Path,
          backend: Optional[str] = None) -> None:
    """Refuse (JobError) a shot whose take could not be published; nothing has been sent."""
    check_names(spec)
    take_disk = check_root(spec)
    check_colour(request, spec)
    if backend:
        check_backend(backend)
    check_space(request, spec, take_disk, Path(data_dir))


def check_names(spec: PublishSpec) -> None:
    from ..takes.layout import TakeError, validate_name

    try:
        validate_name("shot", spec.shot)
        validate_name("take", spec.name)
    except TakeError as exc:
        raise JobError(str(exc)) from None


def _deepest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    return probe


def check_root(spec: PublishSpec) -> Path:
    """The folder the take will be written under must be one this process can write: a
    missing root is fine when its nearest existing folder is writable (it is made at publish).

    Returns that nearest existing folder (where the disk space is measured).
    """
    root = Path(os.path.abspath(spec.root))
    target = root / spec.shot / spec.name
    where = _deepest_existing(target)
    advice = "choose another --root, or fix the folder"
    if not where.is_dir():
        what = "is a file" if where.exists() else "is a broken link"
        raise JobError(f"--root {root}: {where} {what}, not a folder, so the take cannot be "
                       f"published there; {advice}")
    try:
        probe = tempfile.mkdtemp(prefix=".genplate-check-", dir=where)
        os.rmdir(probe)
    except OSError as exc:
        missing = (f" ({root} does not exist yet, and cannot be made there: is the disk or "
                   f"share mounted?)" if not root.exists() else "")
        raise JobError(f"--root {root}: cannot write in {where} ({exc.strerror or exc}){missing}; "
                       f"make it writable by you, or {advice}") from None
    return where


def expected_sources(request: ShotRequest, spec: PublishSpec) -> list[tuple[str, str]]:
    """(source kind, mode) of what the delivery may be: what ingest will have to convert."""
    from genplate.ocio import sources as S

    if request.exr_export:
        return [(S.EXR, S.DISPLAY_MATCH)]
    if request.hdr:  # PQ or HLG: the docs do not say which, so both must work
        return [(S.HDR_PQ, spec.hdr_mode), (S.HDR_HLG, spec.hdr_mode)]
    return [(S.SDR_REC709, spec.sdr_mode)] if not spec.source_tags else []


def check_colour(request: ShotRequest, spec: PublishSpec) -> None:
    from genplate.ocio import config as C
    from genplate.ocio import sources as S
    from genplate.ocio.errors import ColourError

    try:
        info = C.resolve_config(spec.config)
        working = C.working_space(info.config, spec.working_space)
        for kind, mode in expected_sources(request, spec):
            src = C.interchange_space(info.config) if kind == S.EXR else None
            S.input_transform(info.config, kind, mode, working, src_space=src,
                              peak_nits=spec.peak_nits or 1000)
    except ColourError as exc:
        raise JobError(f"the take could not be converted once delivered: {exc}") from None


def check_backend(backend: str) -> None:
    """The service can be reached with what this machine has (its key, its settings)."""
    if backend != "luma":
        return
    from ..backends.luma.credentials import require_key
    from ..backends.luma.settings import LumaSettings

    require_key()
    LumaSettings.from_env()


def expected_bytes(request: ShotRequest, spec: PublishSpec) -> tuple[int, int]:
    """(the delivery's bytes, the published take's bytes), generously estimated."""
    width, height = request.frame_size()
    frames = request.frame_count
    pixels = width * height * frames
    seconds = frames / 24.0
    delivery = _VIDEO_BITRATE.get(request.resolution, 30e6) * (1.5 if request.hdr else 1) * seconds / 8
    if request.exr_export:
        delivery += pixels * 6 * _EXR_EXPORT_RATIO
    method = (spec.compression or "zip").split(":", 1)[0].lower()
    raw = pixels * 3 * (4 if spec.pixel_type == "float" else 2)
    take = raw * _TAKE_RATIO.get(method, 0.6)
    take += sum(pixels * _EXTRA_BYTES_PER_PIXEL.get(o, 0.0) for o in spec.outputs or ())
    return int(delivery), int(take)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def check_space(request: ShotRequest, spec: PublishSpec, take_disk: Path, data_dir: Path) -> None:
    delivery, take = expected_bytes(request, spec)
    data_disk = _deepest_existing(Path(os.path.abspath(data_dir)))
    needs: dict[int, list] = {}
    for where, amount, what in ((data_disk, delivery, "the delivery"),
                                (take_disk, take, "the take's frames")):
        try:
            device = os.stat(where).st_dev
        except OSError:
            continue
        entry = needs.setdefault(device, [where, 0, []])
        entry[1] += amount
        entry[2].append(f"{what} ~{amount / MIB:.0f} MB")
    for where, amount, what in needs.values():
        free = free_bytes(where)
        if free < amount + MARGIN_BYTES:
            raise JobError(
                f"not enough disk space for this shot: {' and '.join(what)} need about "
                f"{(amount + MARGIN_BYTES) / MIB:.0f} MB with a margin, and the disk holding "
                f"{where} has {free / MIB:.0f} MB free. Free some space (`genplate clean` "
                f"removes old deliveries and dead staging folders), or publish elsewhere (--root)")


def nearly_full(paths) -> Optional[str]:
    """Words for the first of these disks that is (nearly) full, or None: a step that failed
    there probably failed for that, whatever the library that hit it said."""
    for path in paths:
        try:
            where = _deepest_existing(Path(os.path.abspath(path)))
            free = free_bytes(where)
        except OSError:
            continue
        if free < MARGIN_BYTES:
            return (f"the disk holding {where} is full ({free / MIB:.0f} MB free): free space "
                    f"there (`genplate clean` reclaims old deliveries and dead staging folders)")
    return None


def check_job(job, data_dir: Path) -> None:
    """The same checks for a job already in the ledger, right before its create is sent (the
    backend is not checked here: the runner opens it next, and opening it checks the key)."""
    check(ShotRequest.from_json(job.request), PublishSpec.from_json(job.publish),
          data_dir=data_dir)


__all__ = ["check", "check_job", "check_root", "check_names", "check_colour", "check_space",
           "check_backend", "expected_bytes", "expected_sources", "free_bytes", "nearly_full",
           "MARGIN_BYTES"]

"""What `genplate doctor` checks on this machine, before (and without) any Luma key.

The engine's own parts are tried for real, each small: the OCIO config loads and has a working
space, OpenImageIO writes and reads back an EXR, PyAV has the codecs deliveries and review
movies need, the data folder takes a file, the ledger opens, the disks have room, the offline
renderer draws and encodes two frames. The host installs are reported, not required (the
command works without them). The Luma checks (key, service, account) live in ``luma.py``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

CheckFn = Callable[..., bool]
"""check(name, ok, detail, *, group): ok is True, False, or None (nothing to check here)."""

# A 1080p 10 s master as EXR frames (half, zip) with its delivery is a few GB: below this a
# take can fail half-way through publishing.
LOW_DISK_BYTES = 5 * 1024**3
# Codecs: deliveries are H.264 (SDR) or HEVC Main10 (HDR) MP4s (docs/color.md); the offline
# renderer and the review movies encode with x264 / x265.
DECODERS = ("h264", "hevc")
ENCODERS = ("libx264", "libx265")


def local_checks(check: CheckFn) -> None:
    for step in (_ocio, _oiio, _pyav, _data_and_ledger, _disk, _offline_renderer, _hosts):
        try:
            step(check)
        except Exception as exc:  # noqa: BLE001 - a doctor reports what broke, never dies of it
            check(step.__name__.strip("_").replace("_", " "), False, f"{type(exc).__name__}: {exc}")


def _ocio(check: CheckFn) -> None:
    from genplate.ocio import config as ocfg
    from genplate.ocio.errors import ColourError

    try:
        info = ocfg.resolve_config()
        working = ocfg.working_space(info.config)
    except ColourError as exc:
        check("OCIO config", False, str(exc))
        return
    check("OCIO config", True, f"{info.name or info.uri} ({info.origin}), working space {working}")


def _oiio(check: CheckFn) -> None:
    try:
        import numpy as np
        import OpenImageIO as oiio
    except ImportError as exc:
        check("OpenImageIO", False, f"cannot be imported ({exc}): reinstall genplate's "
                                    f"environment")
        return
    with tempfile.TemporaryDirectory(prefix="genplate-doctor-") as folder:
        path = os.path.join(folder, "probe.exr")
        pixels = np.full((4, 8, 3), 0.18, dtype=np.float32)
        out = oiio.ImageOutput.create(path)
        ok = out is not None and out.open(path, oiio.ImageSpec(8, 4, 3, "half"))
        ok = ok and out.write_image(pixels)
        if out is not None:
            out.close()
        back = oiio.ImageBuf(path).get_pixels(oiio.FLOAT) if ok else None
    if back is None or abs(float(back.mean()) - 0.18) > 1e-3:
        check("OpenImageIO", False, f"{oiio.__version__}: an EXR could not be written and read "
                                    f"back ({oiio.geterror() or 'no reason given'})")
        return
    check("OpenImageIO", True, f"{oiio.__version__}: writes and reads EXR")


def _pyav(check: CheckFn) -> None:
    try:
        import av
    except ImportError as exc:
        check("PyAV", False, f"cannot be imported ({exc}): reinstall genplate's environment")
        return
    missing = []
    for names, mode in ((DECODERS, "r"), (ENCODERS, "w")):
        for name in names:
            try:
                av.codec.Codec(name, mode)
            except Exception:  # av raises its own UnknownCodecError (not public everywhere)
                missing.append(f"{name} ({'decode' if mode == 'r' else 'encode'})")
    if missing:
        check("PyAV codecs", False, f"PyAV {av.__version__} lacks {', '.join(missing)}: install "
                                    f"the PyAV wheel from PyPI (it bundles them)")
        return
    check("PyAV codecs", True, f"PyAV {av.__version__}: decodes {', '.join(DECODERS)}, "
                               f"encodes {', '.join(ENCODERS)}")


def _data_and_ledger(check: CheckFn) -> None:
    from ..jobs import ledger as L

    folder = L.default_data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        check("data folder", False, f"{folder}: {exc.strerror or exc} (set "
                                    f"{L.DATA_DIR_ENV} to a folder you can write)")
        return
    check("data folder", True, f"{folder} (writable)")
    try:
        ledger = L.Ledger()
        jobs = ledger.jobs()
        unfinished = list(L.iter_unfinished(ledger))
    except (OSError, L.LedgerError, Exception) as exc:  # sqlite3.DatabaseError among them
        check("ledger", False, f"{folder / 'ledger.sqlite3'} cannot be read: {exc}")
        return
    note = (f", {len(unfinished)} unfinished (`genplate resume` finishes them)"
            if unfinished else "")
    check("ledger", True, f"{len(jobs)} job(s){note}")


def _nearest_existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _disk(check: CheckFn) -> None:
    from ..jobs.ledger import default_data_dir
    from .options import ROOT_ENV

    places = {"takes": Path(os.environ.get(ROOT_ENV) or "takes"), "data": default_data_dir()}
    words, low = [], []
    for label, place in places.items():
        where = _nearest_existing(place)
        free = shutil.disk_usage(where).free
        words.append(f"{free / 1024**3:.1f} GB free for {label} ({where})")
        if free < LOW_DISK_BYTES:
            low.append(label)
    detail = "; ".join(words)
    if low:
        check("disk space", False, f"{detail}: under {LOW_DISK_BYTES // 1024**3} GB for "
                                   f"{' and '.join(low)}, a 1080p master may not fit")
        return
    check("disk space", True, detail)


def _offline_renderer(check: CheckFn) -> None:
    import av

    from ..render import colour, media
    from ..render.scene import build_scene

    width, height, frames = 64, 36, 2
    scene = build_scene("genplate doctor", 1, width, height, frames)
    with tempfile.TemporaryDirectory(prefix="genplate-doctor-") as folder:
        path = Path(folder) / "probe.mp4"
        writer = media.Mp4Writer(path, width, height, hdr=False)
        try:
            for index in range(frames):
                code = colour.planes_to_display(scene.planes(index), "sdr")
                writer.write(colour.planes_to_yuv420(*code, matrix="709", bits=8))
        except BaseException:
            writer.abort()
            raise
        writer.close()
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
    if decoded != frames:
        check("offline renderer", False, f"drew {frames} frames but {decoded} came back")
        return
    check("offline renderer", True, "works: draws and encodes test footage (free, no network; "
                                    "used while there is no Luma key)")


def _hosts(check: CheckFn) -> None:
    check("Nuke", *_nuke_install(), group="hosts")
    check("Resolve", *_resolve_install(), group="hosts")
    from genplate.panel.engine_config import EngineNotFound, engine_command

    try:
        command, source = engine_command()
    except EngineNotFound as exc:
        check("engine for the hosts", False, str(exc), group="hosts")
        return
    if source == "this Python":  # true here, in the engine; inside a host it is not
        check("engine for the hosts", None, "not recorded: `genplate install nuke` or "
                                            "`install resolve` tells the hosts where it is",
              group="hosts")
        return
    check("engine for the hosts", True, f"{' '.join(command)} (from {source})", group="hosts")


def _nuke_install() -> tuple[Optional[bool], str]:
    from ..install.nuke import BEGIN, default_nuke_dir

    init_py = default_nuke_dir() / "init.py"
    try:
        if BEGIN in init_py.read_text(encoding="utf-8"):
            return True, f"installed ({init_py})"
    except OSError:
        pass
    if "genplate" in os.environ.get("NUKE_PATH", ""):
        return True, "on NUKE_PATH"
    return None, "not installed here (`genplate install nuke`)"


def _resolve_install() -> tuple[Optional[bool], str]:
    from ..install.resolve import LAUNCHER_NAME, scripts_dir

    launcher = scripts_dir() / LAUNCHER_NAME
    if launcher.is_file():
        return True, f"installed ({launcher})"
    return None, "not installed here (`genplate install resolve`)"


__all__ = ["local_checks", "LOW_DISK_BYTES"]

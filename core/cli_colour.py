"""`genplate ingest FILE...`: publish footage that did not come from a job as a take.

Artists also generate in Luma's own app (its Hi-Fi 4K HDR EXR downloads) or get a clip from
elsewhere; this publishes an MP4/MOV, an EXR sequence (files or a folder) or a ZIP of one exactly
the way a generation is published: the same ingest, the same staging and atomic commit, the same
take.json schema and the same ``--json`` summary.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import time
import uuid
from pathlib import Path

from . import __version__

INGEST_BACKEND = "ingest"  # take.json "backend" of a take published from files, not a job


def register(command) -> None:
    from .cli_request import add_publish_options

    p = command("ingest", cmd_ingest,
                "publish a video, an EXR sequence (files or folder) or a ZIP of one as a take")
    p.add_argument("files", nargs="+", metavar="FILE", help="the delivery: files and/or folders")
    add_publish_options(p)
    g = p.add_argument_group("colour")
    g.add_argument("--hdr-mode", choices=("display-match", "texture"), default="display-match",
                   help="how PQ/HLG video becomes scene-linear: inverse HDR view (default) or "
                        "the inverse EOTF only (100 nits = 1.0)")
    g.add_argument("--source-tags", metavar="WORDS",
                   help='override what the video says it is, e.g. "bt709 full srgb" or '
                        '"bt2020 limited pq" (default: the stream\'s own tags)')
    g.add_argument("--assume", metavar="WORDS",
                   help='what an untagged video is taken to be (default "bt709 limited bt1886")')
    g.add_argument("--pixel-type", choices=("half", "float"), default="half",
                   help="EXR pixel type (default half)")
    g.add_argument("--peak-nits", type=int, choices=(1000, 2000, 4000), default=None,
                   help="the HDR view inverted for PQ/HLG (default: from the stream's MaxCLL "
                        "or mastering metadata, else 1000)")
    from .ingest_outputs import OUTPUTS

    g.add_argument("--output", action="append", default=[], choices=OUTPUTS, metavar="OUTPUT",
                   help=f"an extra output beside the EXR frames (repeatable): {', '.join(OUTPUTS)}")
    p.add_argument("--prompt", default="", help="what the footage shows (kept in take.json)")


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def cmd_ingest(args: argparse.Namespace) -> int:
    from . import takes
    from .cli import _Bars, _emit, _say
    from .cli_request import root_from
    from .ingest import IngestOptions, ingest
    from .ingest_video import DEFAULT_ASSUME

    paths = [Path(f).expanduser().resolve() for f in args.files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    root = root_from(args)
    name = takes.validate_name("take", args.name or takes.slug(paths[0].stem.split(".")[0]))
    takes.validate_name("shot", args.shot)
    options = IngestOptions(
        first_frame=args.first_frame, sdr_mode=args.sdr_mode, working_space=args.working_space,
        config=args.config, compression=args.compression, pixel_type=args.pixel_type,
        hdr_mode=args.hdr_mode, assume=args.assume or DEFAULT_ASSUME,
        source_tags=args.source_tags, peak_nits=args.peak_nits, outputs=tuple(args.output))
    options.check()  # refuse bad options before a version is reserved

    job_id = "i" + uuid.uuid4().hex[:15]
    started = time.time()
    staging = takes.reserve(root, args.shot, name, job_id)
    header = {
        "genplate:shot": args.shot,
        "genplate:take": name,
        "genplate:version": takes.version_label(staging.version),
        "genplate:kind": "take",
        "genplate:job_id": job_id,
        "genplate:backend": INGEST_BACKEND,
        "genplate:source": ", ".join(p.name for p in paths)[:1000],
        "genplate:engine": f"genplate {__version__}",
    }
    if args.prompt:
        header["genplate:prompt"] = args.prompt
    bar = _Bars()
    try:
        result = ingest(paths, staging, options, header=header,
                        progress=lambda d, t, m: bar(d, t, f"ingesting: {m}"))
        bar.close()
        take = takes.commit(staging, _record(args, staging, name, job_id, result, started))
    except KeyboardInterrupt:
        bar.close()
        takes.release(staging)
        _say("\ngenplate: interrupted; nothing was published")
        return 130
    except BaseException:
        bar.close()
        takes.release(staging)
        raise
    summary = take.summary()
    payload = {**summary, "ingest": {
        "seconds": round(result.seconds, 2), "source_kind": result.source_kind,
        "input_transform": result.transform.describe(), "assumed": result.assumed}}
    for note in result.assumed:
        _say(f"genplate: assumed {note}")

    def human() -> str:
        return (f"published {summary['shot']}/{summary['name']}/v{summary['version']:03d}: "
                f"{summary['pattern']} ({summary['first']}-{summary['last']}, "
                f"{summary['colorspace']}, {summary['fps']} fps; {result.transform.describe()})")

    _emit(args, payload, human)
    return 0


def _record(args, staging, name: str, job_id: str, result, started: float) -> dict:
    """take.json for footage published from files: the schema of jobs.take_record, with no
    request, no backend job and no cost."""
    frames = result.frames_record()
    frames["pattern"] = staging.pattern
    return {
        "schema": "genplate.take/1",
        "shot": args.shot,
        "name": name,
        "version": staging.version,
        "kind": "take",
        "job_id": job_id,
        "backend": INGEST_BACKEND,
        "remote_id": None,
        "request": {"prompt": args.prompt} if args.prompt else None,
        "inputs": {},
        "estimate_usd": 0.0,
        "times": {"started": _iso(started), "published": _iso(time.time())},
        "engine": {"name": "genplate", "version": __version__},
        "frames": frames,
        "colour": result.colour_record(),
        "sources": result.sources_record(),
        "exr": {"compression": args.compression, "pixel_type": result.pixel_type},
        "thumbnail": "thumbnail.png",
        "parent": None,
        "strokes": None,
        "scores": None,
    }

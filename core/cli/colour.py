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

from .. import __version__

INGEST_BACKEND = "ingest"  # take.json "backend" of a take published from files, not a job


def register(command) -> None:
    from .options import add_publish_options

    p = command("ingest", cmd_ingest,
                "publish a video, an EXR sequence (files or folder) or a ZIP of one as a take")
    p.add_argument("files", nargs="+", metavar="FILE", help="the delivery: files and/or folders")
    add_publish_options(p)
    p.add_argument("--prompt", default="", help="what the footage shows (kept in take.json)")


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def cmd_ingest(args: argparse.Namespace) -> int:
    from ..takes import layout, versions
    from .output import Bars, emit, say
    from .options import publish_from
    from ..ingest.convert import ingest

    paths = [Path(f).expanduser().resolve() for f in args.files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    name = layout.validate_name("take", args.name or layout.slug(paths[0].stem.split(".")[0]))
    layout.validate_name("shot", args.shot)
    spec = publish_from(args, None, name=name)  # checks every option before a version is taken
    options = spec.ingest_options()

    job_id = "i" + uuid.uuid4().hex[:15]
    started = time.time()
    staging = versions.reserve(spec.root, spec.shot, name, job_id)
    header = {
        "genplate:shot": args.shot,
        "genplate:take": name,
        "genplate:version": layout.version_label(staging.version),
        "genplate:kind": "take",
        "genplate:job_id": job_id,
        "genplate:backend": INGEST_BACKEND,
        "genplate:source": ", ".join(p.name for p in paths)[:1000],
        "genplate:engine": f"genplate {__version__}",
    }
    if args.prompt:
        header["genplate:prompt"] = args.prompt
    bar = Bars()
    try:
        result = ingest(paths, staging, options, header=header,
                        progress=lambda d, t, m: bar(d, t, f"ingesting: {m}"))
        bar.close()
        take = versions.commit(staging, _record(args, spec, staging, job_id, result, started))
    except KeyboardInterrupt:
        bar.close()
        versions.release(staging)
        say("\ngenplate: interrupted; nothing was published")
        return 130
    except BaseException:
        bar.close()
        versions.release(staging)
        raise
    summary = take.summary()
    payload = {**summary, "ingest": {
        "seconds": round(result.seconds, 2), "source_kind": result.source_kind,
        "input_transform": result.transform.describe(), "assumed": result.assumed}}
    for note in result.assumed:
        say(f"genplate: assumed {note}")

    def human() -> str:
        return (f"published {summary['shot']}/{summary['name']}/v{summary['version']:03d}: "
                f"{summary['pattern']} ({summary['first']}-{summary['last']}, "
                f"{summary['colorspace']}, {summary['fps']} fps; {result.transform.describe()})")

    emit(args, payload, human)
    return 0


def _record(args, spec, staging, job_id: str, result, started: float) -> dict:
    """take.json for footage published from files: the generated takes' schema, with no
    request, no backend job and no cost."""
    from ..takes.record import publish_record

    return publish_record(spec, staging, result, job_id=job_id, backend=INGEST_BACKEND,
                          remote_id=None, request={"prompt": args.prompt} if args.prompt else None,
                          inputs={}, estimate_usd=0.0, times={"started": _iso(started)})

"""Commands on published takes: `takes` lists them, `show` sums a take up (its whole provenance
record with --json), `export` hands takes to a host without the host (a Nuke snippet, an OTIO
timeline), beside the take unless told where (``-o -``: stdout)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .options import ROOT_HELP, root_from
from .output import emit

STDOUT = "-"


def cmd_takes(args: argparse.Namespace) -> int:
    from ..takes.take import list_takes

    takes = list_takes(root_from(args), shot=args.shot, name=args.name)
    summaries = [t.summary() for t in takes]
    emit(args, {"takes": summaries}, lambda: "\n".join(
        f"{s['shot']}/{s['name']}/v{s['version']:03d}{' (latest)' if s.get('latest') else ''}  "
        f"{s['first']}-{s['last']}  {s['pattern']}" for s in summaries) or "no takes")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..takes.take import load_take

    take = load_take(args.take, root=root_from(args))
    emit(args, {"take": take.summary(), "record": take.record}, lambda: describe_take(take))
    return 0


def describe_take(take) -> str:
    """What an artist asks of a take, one line each; the rest is in take.json (--json)."""
    record = take.record
    request = record.get("request") or {}
    colour = record.get("colour") or {}
    summary = take.summary()
    tags = [take.kind] + (["latest"] if take.latest else [])
    lines = [f"{take.shot}/{take.name} {take.label} ({', '.join(tags)})"]
    if take.prompt:
        lines.append(f"  prompt   {take.prompt}")
    asked = " ".join(str(request[k]) for k in ("resolution", "duration", "aspect_ratio")
                     if request.get(k))
    if request.get("hdr"):
        asked += " HDR" + ("+EXR" if request.get("exr_export") else "")
    backend = record.get("backend") or "ingested files"
    lines.append(f"  backend  {backend}" + (f" ({request.get('model')}, {asked})" if asked else "")
                 + (f", remote id {record['remote_id']}" if record.get("remote_id") else ""))
    size = f", {take.width}x{take.height}" if take.width and take.height else ""
    lines.append(f"  frames   {take.first}-{take.last} ({take.count} frames, {take.fps} fps{size})")
    source = colour.get("source_kind")
    lines.append(f"  colour   {take.colorspace or 'unknown'}"
                 + (f" from {source} ({colour.get('mode') or colour.get('sdr_mode')})"
                    if source else "")
                 + (f", config {colour['config']}" if colour.get("config") else ""))
    scores = summary.get("scores")
    if scores:
        verdict = f"{scores.get('verdict')} {float(scores.get('score') or 0):.1f}"
        notes = list(scores.get("reasons") or []) + list(scores.get("warnings") or [])
        lines.append(f"  verdict  {verdict}" + (f": {'; '.join(notes)}" if notes else ""))
    else:
        lines.append("  verdict  not judged (`genplate judge` measures it)")
    lines.append(f"  cost     {_cost(record)}")
    if record.get("parent"):
        parent = record["parent"]
        lines.append(f"  from     {parent.get('shot')}/{parent.get('name')} "
                     f"v{int(parent.get('version') or 0):03d}")
    lines.append(f"  where    {take.dir}")
    lines.append(f"  files    {take.pattern}")
    return "\n".join(lines)


def _cost(record: dict) -> str:
    from ..backends import FREE_BACKENDS

    backend = record.get("backend")
    if backend is None:
        return "nothing (footage ingested from files)"
    if backend in FREE_BACKENDS:
        return f"free ({backend} renderer)"
    usd = record.get("estimate_usd")
    return f"about ${float(usd):.2f} (estimated when sent)" if usd is not None else "unknown"


def cmd_export(args: argparse.Namespace) -> int:
    from ..takes.take import load_take

    root = root_from(args)
    takes = [load_take(t, root=root) for t in args.take]
    if args.target == "nuke":
        from ..takes.export_nuke import nuke_snippet

        text = nuke_snippet(takes)
        default_name = f"{takes[0].shot}_{takes[0].name}.nk"
    else:
        import opentimelineio as otio

        from ..takes.export_otio import takes_timeline

        text = otio.adapters.write_to_string(takes_timeline(takes, args.timeline_name),
                                             adapter_name="otio_json")
        default_name = f"{takes[0].shot}_takes.otio"
    if args.output == STDOUT:
        if getattr(args, "json", False):  # stdout holds one JSON object: the text goes in it
            emit(args, {"path": None, "format": args.target, "text": text}, lambda: "")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    from ..atomic import write_text_atomically

    out = Path(args.output).expanduser() if args.output else export_folder(takes) / default_name
    write_text_atomically(out, text)
    emit(args, {"path": str(out.resolve()), "format": args.target}, lambda: f"wrote {out}")
    return 0


def export_folder(takes) -> Path:
    """Where an export goes by default: the take folder (``<shot>/<name>``, beside its
    versions, never inside a published one), or the shot's, or the root, whichever all the
    exported takes share."""
    folders = {t.dir.parent for t in takes}
    if len(folders) == 1:
        return folders.pop()
    shots = {t.dir.parent.parent for t in takes}
    if len(shots) == 1:
        return shots.pop()
    return Path(os.path.commonpath([str(t.dir.parent.parent.parent) for t in takes]))


def register(command) -> None:
    p = command("takes", cmd_takes, "list published takes")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--shot", help="only this shot's takes")
    p.add_argument("--name", help="only the versions of this take")

    p = command("show", cmd_show, "sum up a take: prompt, frames, colour, verdict, cost, where "
                                  "(--json: its whole provenance record, take.json)")
    p.add_argument("take", help="version folder, take.json, or SHOT/NAME[/v001] under --root")
    p.add_argument("--root", help=ROOT_HELP)

    p = command("export", cmd_export, "hand takes to a host without the host: a Nuke snippet or OTIO")
    p.add_argument("target", choices=("nuke", "otio"),
                   help="nuke: Read nodes to paste (.nk); otio: an OpenTimelineIO timeline")
    p.add_argument("take", nargs="+", help="version folder, take.json, or SHOT/NAME[/v001] "
                                           "(several: one Read or clip each)")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write it (default: beside the take, in its SHOT/NAME folder; "
                        "- prints it on stdout)")
    p.add_argument("--timeline-name", default=None,
                   help="otio: the timeline's name (default: from the takes)")

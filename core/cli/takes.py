"""Commands on published takes: `takes` lists them, `show` prints a take's provenance, `export`
hands takes to a host without the host (a Nuke snippet, an OTIO timeline)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .options import root_from
from .output import emit


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
    emit(args, {"take": take.summary(), "record": take.record},
         lambda: json.dumps(take.record, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..takes.take import load_take

    root = root_from(args)
    takes = [load_take(t, root=root) for t in args.take]
    if args.target == "nuke":
        from ..takes.export_nuke import write_nuke_snippet

        out = Path(args.output or f"{takes[0].shot}_{takes[0].name}.nk")
        write_nuke_snippet(takes, out)
    else:
        from ..takes.export_otio import write_otio

        out = Path(args.output or f"{takes[0].shot}_takes.otio")
        write_otio(takes, out, name=args.timeline_name)
    emit(args, {"path": str(out.resolve())}, lambda: f"wrote {out}")
    return 0


def register(command) -> None:
    p = command("takes", cmd_takes, "list published takes")
    p.add_argument("--root")
    p.add_argument("--shot")
    p.add_argument("--name")

    p = command("show", cmd_show, "a take's provenance record (take.json)")
    p.add_argument("take", help="version folder, take.json, or SHOT/NAME[/v001] under --root")
    p.add_argument("--root")

    p = command("export", cmd_export, "hand takes to a host without the host: a Nuke snippet or OTIO")
    p.add_argument("target", choices=("nuke", "otio"))
    p.add_argument("take", nargs="+")
    p.add_argument("--root")
    p.add_argument("-o", "--output")
    p.add_argument("--timeline-name", default=None)

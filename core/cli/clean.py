"""`genplate clean`: give back disk space that nothing needs any more (see core/jobs/clean.py
for what is reclaimed and what is always kept); `--dry-run` shows it without touching it."""
from __future__ import annotations

import argparse

from ..jobs import ledger as L
from .output import emit


def register(command) -> None:
    from ..jobs.clean import DEFAULT_KEEP_DAYS

    p = command("clean", cmd_clean, "reclaim disk space: staging folders of versions that will "
                                    "never be published, and the downloads of published takes")
    p.add_argument("--root", action="append", default=[], metavar="ROOT",
                   help="a takes root to look in too (the roots of the ledger's jobs always are)")
    p.add_argument("--keep-days", type=float, default=DEFAULT_KEEP_DAYS, metavar="DAYS",
                   help="keep a published take's downloaded delivery this long "
                        "(default %(default)g)")
    p.add_argument("--dry-run", action="store_true", help="show what would go; remove nothing")


def _mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def cmd_clean(args: argparse.Namespace) -> int:
    from ..jobs import clean

    if args.keep_days < 0:
        from .output import CommandError

        raise CommandError(f"--keep-days {args.keep_days:g}: a number of days, 0 or more")
    ledger = L.Ledger()
    roots = clean.known_roots(ledger, args.root)
    found, kept = clean.survey(ledger, roots, keep_days=args.keep_days)
    done = found if args.dry_run else clean.reclaim(ledger, found, keep_days=args.keep_days)
    gone = [i for i in done if not i.error]
    failed = [i for i in done if i.error]
    total = sum(i.bytes for i in gone)

    def human() -> str:
        verb = "would reclaim" if args.dry_run else "reclaimed"
        lines = [f"{verb} {total / 1e6:.1f} MB in {len(gone)} item(s)"
                 + (":" if gone else f" (looked in {len(roots)} takes root(s) and the downloads)")]
        lines += [f"  {i.kind:8} {_mb(i.bytes)}  {i.path}  ({i.reason})" for i in gone]
        lines += [f"  could not remove {i.path}: {i.error}" for i in failed]
        if kept:
            lines.append(f"kept {len(kept)} item(s), {sum(i.bytes for i in kept) / 1e6:.1f} MB:")
            lines += [f"  {i.kind:8} {_mb(i.bytes)}  {i.path}  ({i.reason})" for i in kept]
        return "\n".join(lines)

    emit(args, {"dry_run": args.dry_run, "bytes": total, "reclaimed": [i.to_json() for i in gone],
                "failed": [i.to_json() for i in failed], "kept": [i.to_json() for i in kept],
                "roots": [str(r) for r in roots]}, human)
    return 1 if failed else 0

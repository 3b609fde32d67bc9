"""What a delivery folder holds, and what is known about it without the network.

Output ``i`` of a generation is ``output-<i>.<ext>`` (the extension of the kind its bytes show),
with a small hidden record ``.output-<i>.json`` of its size, kind and hash (and, for a ZIP, of
the files extracted into ``output-<i>/``). A later call re-verifies a file against its record
instead of downloading it again; ``discard_outputs`` forgets the outputs a damaged file came
from, so the next fetch downloads them afresh.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..digest import file_sha256
from ..progress import ProgressFn
from ..secrets import install_filter
from .unpack import EXTENSIONS, sniff_kind

log = install_filter(logging.getLogger(__name__))


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    kind: str  # by magic bytes: mp4, exr, png, jpeg, unknown (zip only before extraction)
    bytes: int
    sha256: str


def record_path(dest: Path, index: int) -> Path:
    return dest / f".output-{index}.json"


def read_record(dest: Path, index: int) -> dict:
    try:
        record = json.loads(record_path(dest, index).read_text(encoding="utf-8"))
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def write_record(dest: Path, index: int, record: dict) -> None:
    path = record_path(dest, index)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(temp, path)


def existing(dest: Path, index: int, progress: ProgressFn) -> Optional[FetchedFile]:
    """The output's file from an earlier call, re-verified (size and magic), or None."""
    record = read_record(dest, index)
    for ext in sorted(set(EXTENSIONS.values())):
        path = dest / f"output-{index}.{ext}"
        if not path.is_file():
            continue
        size, kind = path.stat().st_size, sniff_kind(path)
        if EXTENSIONS[kind] != ext or size == 0:
            log.warning("%s is not what its name says (or empty); downloading it again", path)
            path.unlink()
            continue
        if record.get("name") == path.name and record.get("bytes") == size \
                and record.get("kind") == kind and record.get("sha256"):
            sha = record["sha256"]
        elif record.get("name") == path.name and record.get("bytes") not in (None, size):
            log.warning("%s changed size since it was downloaded; downloading it again", path)
            path.unlink()
            continue
        else:  # renamed into place but its record never written (a crash between the two)
            sha = file_sha256(path)
            write_record(dest, index, {"name": path.name, "kind": kind, "bytes": size,
                                       "sha256": sha})
        progress(size, size, path.name)
        return FetchedFile(path, kind, size, sha)
    return None


def discard_outputs(dest_dir: os.PathLike | str, damaged: Sequence[os.PathLike | str]) -> list[int]:
    """Forget the outputs that ``damaged`` files came from (the output itself, its ZIP's
    extraction, its record), so the next ``fetch_outputs`` downloads them again; their indexes."""
    dest = Path(dest_dir).absolute()
    indexes = set()
    for path in damaged:
        try:
            first = Path(path).absolute().relative_to(dest).parts[0]
        except (ValueError, IndexError):
            continue
        match = re.fullmatch(r"output-(\d+)(?:\.[a-z0-9]+)?", first)
        if match:
            indexes.add(int(match.group(1)))
    for index in sorted(indexes):
        for leftover in dest.glob(f"output-{index}.*"):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(dest / f"output-{index}", ignore_errors=True)
        (dest / f".output-{index}.json").unlink(missing_ok=True)
    return sorted(indexes)


__all__ = ["FetchedFile", "existing", "read_record", "write_record", "discard_outputs"]

"""Writing files so that readers, and a crash, see the old content or the new, never a part.

One place for the engine's durable writes: take.json, scores, budgets, installers, the offline
renderer's store. (The host side keeps its own small copy: it may not import the engine.)
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path


def write_text_atomically(path: os.PathLike | str, text: str) -> Path:
    """Write beside the target, flush to disk, then rename over it."""
    path = Path(os.path.abspath(os.fspath(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain open, not mkstemp (which makes 0600 files), so the file gets the user's umask:
    # takes and their records live in folders a whole team reads.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}."
                         f"{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_json_atomically(path: os.PathLike | str, data, *, indent: int = 2, default=None) -> Path:
    return write_text_atomically(path, json.dumps(data, indent=indent, ensure_ascii=False,
                                                  default=default) + "\n")


def fsync_file(path: os.PathLike | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: os.PathLike | str) -> None:
    """Make a rename inside ``path`` durable."""
    if os.name == "nt":  # Windows cannot open a directory for fsync; NTFS journals renames
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some network file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def fsync_tree(path: os.PathLike | str) -> None:
    """Flush every file directly inside ``path``, then the folder itself (before renaming it)."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                fsync_file(entry.path)
    fsync_dir(path)

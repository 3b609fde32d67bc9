"""How takes are laid out on disk: the names a shot, a take and a version folder may have, and
what a take folder holds (published ``v###`` folders, hidden staging folders of reserved versions).

Every other module of the room reads the disk through these rules, so a name that would climb
out of the root, or a folder that is not a take, is refused in one place.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

ROOT_ENV = "GENPLATE_ROOT"
TAKE_JSON = "take.json"
THUMBNAIL = "thumbnail.png"
STAGING_SUFFIX = ".staging"

# Letters, digits, "_", "-" and "."; never a leading "." (hidden, and the start of "..").
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}")
# Job ids become part of a staging folder name whose fields are separated by dots.
_JOB_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
VERSION_DIR_RE = re.compile(r"v(\d{3,})")
STAGING_RE = re.compile(r"\.v(\d{3,})\.([A-Za-z0-9_-]+)\.staging")
VERSION_REF_RE = re.compile(r"v?(\d+)", re.IGNORECASE)

# Words a take name is better without ("sunset over a desert" -> "sunset_desert").
_FILLER = frozenset("a an the of and or in on at to with over under into onto for from by "
                    "is are its it this that".split())
_SLUG_CHARS = 24
_SLUG_WORDS = 3


class TakeError(RuntimeError):
    """A take cannot be reserved, published or found; the message names the value to change."""


def slug(text: str) -> str:
    """A take name made from a prompt: up to three lowercase ascii words joined by "_"."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    meaningful = [w for w in words if w not in _FILLER] or words
    picked: list[str] = []
    for word in meaningful:
        candidate = "_".join(picked + [word])
        if len(candidate) > _SLUG_CHARS:
            if not picked:  # one very long word: keep its start rather than nothing
                picked.append(word[:_SLUG_CHARS])
            break
        picked.append(word)
        if len(picked) == _SLUG_WORDS:
            break
    return "_".join(picked) or "take"


def validate_name(kind: str, value: object) -> str:
    """Refuse a shot or take name that is not a plain folder name (no separators, no "..")."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise TakeError(
            f"{kind} name {value!r} is not allowed: use 1-80 letters, digits, '_', '-' or '.' "
            f"(not a leading '.'), e.g. sh010 or desert_road")
    return value


def validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not _JOB_RE.fullmatch(job_id):
        raise TakeError(f"job id {job_id!r} is not allowed: use letters, digits, '_' or '-'")
    return job_id


def version_label(version: int) -> str:
    return f"v{version:03d}"


def absolute(root: os.PathLike | str) -> Path:
    # abspath, not resolve(): a studio's /show symlink must stay /show in published paths.
    return Path(os.path.abspath(os.fspath(root)))


def scan(take_dir: Path) -> tuple[set[int], list[tuple[int, str, Path]]]:
    """Published versions, and staging reservations as (version, job id, folder)."""
    published: set[int] = set()
    staged: list[tuple[int, str, Path]] = []
    try:
        entries = list(os.scandir(take_dir))
    except FileNotFoundError:
        return published, staged
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        match = VERSION_DIR_RE.fullmatch(entry.name)
        if match:
            published.add(int(match.group(1)))
            continue
        match = STAGING_RE.fullmatch(entry.name)
        if match:
            staged.append((int(match.group(1)), match.group(2), Path(entry.path)))
    return published, staged


def subdirs(folder: Path) -> list[Path]:
    """Visible subfolders (dot folders are staging or tool leftovers, never takes)."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder)
                      if e.is_dir() and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []

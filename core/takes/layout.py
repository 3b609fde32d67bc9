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

# Shot and take names: letters of any script (with their combining marks), decimal digits, "_",
# "-" and "."; NFC-normalised, so the folder macOS hands back decomposed is the same name.
# Never a leading "." (hidden, and the start of ".."), never a trailing "." (Windows drops it),
# no space, separator, control or format character (zero-width, bidi overrides), no device
# name Windows reserves. Bytes are bounded too: "<name>_v001.1001.exr" must fit the 255 bytes
# of a file name on every file system.
NAME_CHARS = 80
NAME_BYTES = 200
_NAME_PUNCTUATION = frozenset("_-.")
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
                             | {f"{p}{i}" for p in ("COM", "LPT") for i in "123456789¹²³"})
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
    """The shot or take name, NFC-normalised; refused unless it is one plain folder name on
    Windows, macOS and Linux (see NAME_CHARS above)."""
    name = unicodedata.normalize("NFC", value) if isinstance(value, str) else None
    if name is None or not _plain_name(name):
        raise TakeError(
            f"{kind} name {value!r} is not allowed: use 1-{NAME_CHARS} letters of any script, "
            f"digits, '_', '-' or '.' (no space, not a leading or trailing '.', not a Windows "
            f"device name such as CON), e.g. sh010, desert_road or café_nuit")
    return name


def _plain_name(name: str) -> bool:
    if not 1 <= len(name) <= NAME_CHARS or len(name.encode("utf-8")) > NAME_BYTES:
        return False
    if name[0] == "." or name[-1] == "." or unicodedata.category(name[0])[0] == "M":
        return False
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        return False
    return all(c in _NAME_PUNCTUATION or unicodedata.category(c)[0] in "LM"
               or unicodedata.category(c) == "Nd" for c in name)


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

"""Takes and their versions: where a job's frames are published, and how they are found again.

A take is one published result, ``<root>/<shot>/<name>/v###/`` holding the frames
(``<name>_v###.####.exr``), ``take.json`` (the provenance record) and ``thumbnail.png``. A
version folder is complete or absent: frames are written into a hidden staging folder that this
job reserved, and the whole folder is renamed into place only once ``take.json`` is on disk.
A take is immutable once published; new work makes a new version.

Reserving a version must hold across threads, processes and machines sharing a file server,
so it rests on the one operation every file system (NFS and SMB included) makes atomic: mkdir.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..atomic import fsync_dir, fsync_file, write_text_atomically
from ..secrets import redact

ROOT_ENV = "GENPLATE_ROOT"
TAKE_JSON = "take.json"
THUMBNAIL = "thumbnail.png"
STAGING_SUFFIX = ".staging"

# Letters, digits, "_", "-" and "."; never a leading "." (hidden, and the start of "..").
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}")
# Job ids become part of a staging folder name whose fields are separated by dots.
_JOB_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VERSION_DIR_RE = re.compile(r"v(\d{3,})")
_STAGING_RE = re.compile(r"\.v(\d{3,})\.([A-Za-z0-9_-]+)\.staging")
_VERSION_REF_RE = re.compile(r"v?(\d+)", re.IGNORECASE)

# Words a take name is better without ("sunset over a desert" -> "sunset_desert").
_FILLER = frozenset("a an the of and or in on at to with over under into onto for from by "
                    "is are its it this that".split())
_SLUG_CHARS = 24
_SLUG_WORDS = 3


class TakeError(RuntimeError):
    """A take cannot be reserved, published or found; the message names the value to change."""


# -- names ------------------------------------------------------------------------------------

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


def _validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not _JOB_RE.fullmatch(job_id):
        raise TakeError(f"job id {job_id!r} is not allowed: use letters, digits, '_' or '-'")
    return job_id


def version_label(version: int) -> str:
    return f"v{version:03d}"


def _abs(root: os.PathLike | str) -> Path:
    # abspath, not resolve(): a studio's /show symlink must stay /show in published paths.
    return Path(os.path.abspath(os.fspath(root)))


# -- reserving a version ----------------------------------------------------------------------

@dataclass(frozen=True)
class Staging:
    """A reserved version: the hidden folder a job writes its frames into before publishing."""

    root: Path
    shot: str
    name: str
    version: int
    job_id: str

    @property
    def take_dir(self) -> Path:
        return self.root / self.shot / self.name

    @property
    def dir(self) -> Path:
        return self.take_dir / f".{version_label(self.version)}.{self.job_id}{STAGING_SUFFIX}"

    @property
    def final_dir(self) -> Path:
        return self.take_dir / version_label(self.version)

    @property
    def basename(self) -> str:
        return f"{self.name}_{version_label(self.version)}"

    @property
    def pattern(self) -> str:
        """The frames' printf path once published (what take.json and the hosts use)."""
        return str(self.final_dir / f"{self.basename}.%04d.exr")

    def frame_path(self, frame: int, ext: str = "exr") -> Path:
        return self.dir / f"{self.basename}.{frame:04d}.{ext}"

    @property
    def thumbnail_path(self) -> Path:
        return self.dir / THUMBNAIL


@dataclass(frozen=True)
class Reservation:
    """A staging folder on disk: which job holds which version (for the ledger's cleanup)."""

    dir: Path
    shot: str
    name: str
    version: int
    job_id: str


def _scan(take_dir: Path) -> tuple[set[int], list[tuple[int, str, Path]]]:
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
        match = _VERSION_DIR_RE.fullmatch(entry.name)
        if match:
            published.add(int(match.group(1)))
            continue
        match = _STAGING_RE.fullmatch(entry.name)
        if match:
            staged.append((int(match.group(1)), match.group(2), Path(entry.path)))
    return published, staged


def reserve(root: os.PathLike | str, shot: str, name: str, job_id: str) -> Staging:
    """Reserve the next free version of ``<shot>/<name>`` for a job and return its staging folder.

    A job that already holds a reservation (it was interrupted and resumed) gets the same
    version back, emptied, so a resume never skips a version number. Reservations of other jobs
    count as taken even when their jobs are long dead: only the ledger knows that, and it
    removes them (see ``list_reservations``).
    """
    validate_name("shot", shot)
    validate_name("take", name)
    _validate_job_id(job_id)
    base = _abs(root)
    take_dir = base / shot / name
    try:
        take_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TakeError(f"cannot create {take_dir}: {exc.strerror or exc}") from exc

    reused = _reuse_own(base, shot, name, job_id, take_dir)
    if reused is not None:
        return reused

    # Optimistic claim: mkdir our folder for the next number, then look again. Two jobs that
    # picked the same number both see each other and both step back (with jitter), so at most
    # one ever keeps a number; a job that saw no rival after its mkdir is safe, because any
    # later rival will see its folder.
    for attempt in range(1, 1001):
        published, staged = _scan(take_dir)
        version = max(published | {v for v, _, _ in staged}, default=0) + 1
        staging = Staging(base, shot, name, version, job_id)
        try:
            os.mkdir(staging.dir)
        except FileExistsError:
            continue
        except OSError as exc:
            raise TakeError(f"cannot reserve {staging.dir}: {exc.strerror or exc}") from exc
        published, staged = _scan(take_dir)
        rivals = [j for v, j, _ in staged if v == version and j != job_id]
        if not rivals and version not in published:
            return staging
        os.rmdir(staging.dir)
        time.sleep(random.uniform(0.0, min(0.002 * attempt, 0.05)))
    raise TakeError(f"could not reserve a version of {take_dir}: too many jobs competing")


def _reuse_own(base: Path, shot: str, name: str, job_id: str, take_dir: Path) -> Optional[Staging]:
    _, staged = _scan(take_dir)
    mine = sorted((v, p) for v, j, p in staged if j == job_id)
    keep: Optional[Staging] = None
    for version, path in mine:
        candidate = Staging(base, shot, name, version, job_id)
        if keep is None and not candidate.final_dir.exists():
            keep = candidate
            _empty(path)
        else:
            # A second reservation of the same job (or one whose number got published by hand)
            # holds nothing worth keeping: it is this job's own, so it may go.
            shutil.rmtree(path, ignore_errors=True)
    return keep


def _empty(folder: Path) -> None:
    """Remove what an interrupted attempt left in a staging folder (frames are rewritten)."""
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def list_reservations(root: os.PathLike | str) -> list[Reservation]:
    """Every staging folder under root; the ledger decides which belong to dead jobs."""
    base = _abs(root)
    found: list[Reservation] = []
    for shot_dir in _subdirs(base):
        for take_dir in _subdirs(shot_dir):
            for version, job_id, path in _scan(take_dir)[1]:
                found.append(Reservation(path, shot_dir.name, take_dir.name, version, job_id))
    return sorted(found, key=lambda r: (r.shot, r.name, r.version, r.job_id))


def release(staging: Staging | Reservation) -> None:
    """Give a reservation up (its frames are deleted; nothing published is touched)."""
    path = staging.dir
    if not _STAGING_RE.fullmatch(path.name):
        raise TakeError(f"{path} is not a staging folder")
    shutil.rmtree(path, ignore_errors=True)


# -- publishing ---------------------------------------------------------------------------------

def commit(staging: Staging, record: dict) -> "Take":
    """Publish a staging folder as its version: take.json first, then one rename.

    Everything is flushed to disk before the rename, and the rename itself is made durable, so
    after a crash or a power cut the version folder either is complete or does not exist.
    """
    final_dir = staging.final_dir
    if final_dir.exists():
        raise TakeError(f"{final_dir} is already published; a take never changes once "
                        f"published (reserve a new version)")
    if not staging.dir.is_dir():
        raise TakeError(f"{staging.dir} is not reserved (was the reservation removed?)")
    record = dict(record)
    for key, expected in (("shot", staging.shot), ("name", staging.name),
                          ("version", staging.version), ("job_id", staging.job_id)):
        if record.setdefault(key, expected) != expected:
            raise TakeError(f"take.json says {key}={record[key]!r} but the reservation is "
                            f"{key}={expected!r}")

    text = json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    write_text_atomically(staging.dir / TAKE_JSON, text)
    for entry in os.scandir(staging.dir):
        if entry.is_file(follow_symlinks=False) and entry.name != TAKE_JSON:
            fsync_file(entry.path)
    fsync_dir(staging.dir)

    if final_dir.exists():  # checked again: a hand-made folder may have appeared meanwhile
        raise TakeError(f"{final_dir} is already published; a take never changes once published")
    try:
        os.rename(staging.dir, final_dir)
    except OSError as exc:
        raise TakeError(f"cannot publish {staging.dir} as {final_dir}: "
                        f"{exc.strerror or exc}") from exc
    fsync_dir(staging.take_dir)
    return _take_from_dir(final_dir)


# -- published takes ----------------------------------------------------------------------------

@dataclass
class Take:
    """One published version of a take, as found on disk."""

    dir: Path
    shot: str
    name: str
    version: int
    record: dict = field(repr=False)
    latest: bool = False

    @property
    def label(self) -> str:
        return version_label(self.version)

    @property
    def basename(self) -> str:
        # From the folder the take is in now, not the path recorded at publish time: roots get
        # moved and mounted elsewhere (another OS, another machine).
        recorded = (self.record.get("frames") or {}).get("pattern")
        if recorded:
            stem = _frame_stem(os.path.basename(str(recorded).replace("\\", "/")))
            if stem:
                return stem
        return f"{self.name}_{self.label}"

    @property
    def pattern(self) -> str:
        return str(self.dir / f"{self.basename}.%04d.exr")

    @property
    def frames(self) -> dict:
        return self.record.get("frames") or {}

    @property
    def first(self) -> int:
        return int(self.frames.get("first", 1001))

    @property
    def last(self) -> int:
        frames = self.frames
        if "last" in frames:
            return int(frames["last"])
        return self.first + int(frames.get("count", 1)) - 1

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def fps(self) -> float:
        fps = self.frames.get("fps", 24)
        return int(fps) if float(fps).is_integer() else float(fps)

    @property
    def width(self) -> Optional[int]:
        return self.frames.get("width")

    @property
    def height(self) -> Optional[int]:
        return self.frames.get("height")

    @property
    def colorspace(self) -> Optional[str]:
        return (self.record.get("colour") or {}).get("working_space")

    @property
    def kind(self) -> str:
        return self.record.get("kind") or "take"

    @property
    def prompt(self) -> str:
        return (self.record.get("request") or {}).get("prompt") or ""

    @property
    def take_json(self) -> Path:
        return self.dir / TAKE_JSON

    @property
    def thumbnail(self) -> Path:
        return self.dir / (self.record.get("thumbnail") or THUMBNAIL)

    def summary(self) -> dict:
        """What `genplate takes/show --json` print and the host panels insert."""
        return {
            "dir": str(self.dir), "pattern": self.pattern, "first": self.first,
            "last": self.last, "colorspace": self.colorspace, "fps": self.fps,
            "version": self.version, "shot": self.shot, "name": self.name, "kind": self.kind,
            "latest": self.latest, "thumbnail": str(self.thumbnail),
            "take_json": str(self.take_json), "job_id": self.record.get("job_id"),
            "remote_id": self.record.get("remote_id"), "prompt": self.prompt,
            "width": self.width, "height": self.height, "scores": self.scores(),
        }

    def scores(self) -> Optional[dict]:
        """The judge's latest verdict on this take (score and reasons), or None if unjudged."""
        from ..review.judge import load_scores

        scores = load_scores(self.dir)
        if not scores:
            return None
        return {k: scores.get(k) for k in ("verdict", "score", "reasons", "warnings", "plot")}

    def provenance(self) -> dict:
        """take.json's essentials for places outside the take folder (Nuke nodes, OTIO clips).

        Chosen field by field rather than copied: a request may hold image URLs, and no URL
        leaves take.json.
        """
        record = self.record
        request = record.get("request") or {}
        colour = record.get("colour") or {}
        frames = self.frames
        essentials = {
            "schema": record.get("schema"),
            "shot": self.shot, "name": self.name, "version": self.version, "kind": self.kind,
            "job_id": record.get("job_id"), "backend": record.get("backend"),
            "remote_id": record.get("remote_id"),
            "request": {k: request[k] for k in _REQUEST_ESSENTIALS if k in request},
            "frames": {k: frames[k] for k in ("first", "last", "count", "fps", "width", "height")
                       if k in frames},
            "colour": {k: colour[k] for k in ("config", "working_space", "source_kind", "sdr_mode")
                       if k in colour},
            "published": (record.get("times") or {}).get("published"),
            "engine": record.get("engine"),
            "parent": _parent_essentials(record.get("parent")),
            "take_json": str(self.take_json),
        }
        return _without_url_secrets(essentials)


_REQUEST_ESSENTIALS = ("prompt", "model", "type", "resolution", "aspect_ratio", "duration", "hdr",
                       "exr_export", "loop", "seed", "extend_from")


def _parent_essentials(parent: Any) -> Any:
    if not isinstance(parent, dict):
        return parent
    return {k: parent[k] for k in ("shot", "name", "version", "kind", "job_id", "remote_id", "dir")
            if k in parent}


def _without_url_secrets(value: Any) -> Any:
    """Every string through secrets.redact (URL query strings, keys and tokens removed)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _without_url_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_url_secrets(v) for v in value]
    return value


def _frame_stem(filename: str) -> Optional[str]:
    match = re.fullmatch(r"(.+)\.(?:%0?\d*d|#+|@+|\d+)\.exr", filename)
    return match.group(1) if match else None


def _subdirs(folder: Path) -> list[Path]:
    """Visible subfolders (dot folders are staging or tool leftovers, never takes)."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder)
                      if e.is_dir() and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_record(take_json: Path) -> dict:
    try:
        record = json.loads(take_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TakeError(f"{take_json.parent} is not a published take (no {TAKE_JSON})") from None
    except (OSError, ValueError) as exc:
        raise TakeError(f"{take_json} cannot be read: {exc}") from exc
    if not isinstance(record, dict):
        raise TakeError(f"{take_json} is not a take record (expected a JSON object)")
    return record


def _take_from_dir(version_dir: Path, *, latest: Optional[bool] = None) -> Take:
    version_dir = _abs(version_dir)
    match = _VERSION_DIR_RE.fullmatch(version_dir.name)
    if not match:
        raise TakeError(f"{version_dir} is not a version folder (expected v001, v002, ...)")
    record = _read_record(version_dir / TAKE_JSON)
    version = int(match.group(1))
    if latest is None:
        published, _ = _scan(version_dir.parent)
        latest = version == max(published, default=version)
    return Take(dir=version_dir, shot=version_dir.parent.parent.name,
                name=version_dir.parent.name, version=version, record=record, latest=latest)


def _published(take_dir: Path) -> list[Take]:
    """The readable versions of one take name, oldest first, the highest marked latest."""
    takes: list[Take] = []
    for version in sorted(_scan(take_dir)[0]):
        try:
            takes.append(_take_from_dir(take_dir / version_label(version), latest=False))
        except TakeError:
            continue  # a folder without a readable take.json is not a take (hand-made, damaged)
    if takes:
        takes[-1].latest = True
    return takes


def find_for_job(root: os.PathLike | str, shot: str, name: str, job_id: str) -> Optional[Take]:
    """The version a job already published, if any (a crash hid it from the ledger)."""
    validate_name("shot", shot)
    validate_name("take", name)
    for take in _published(_abs(root) / shot / name):
        if take.record.get("job_id") == job_id:
            return take
    return None


def list_takes(root: os.PathLike | str, shot: Optional[str] = None,
               name: Optional[str] = None) -> list[Take]:
    """Published takes under root, sorted by shot, name and version."""
    base = _abs(root)
    if name is not None:
        validate_name("take", name)
    shots = [base / validate_name("shot", shot)] if shot is not None else _subdirs(base)
    takes: list[Take] = []
    for shot_dir in shots:
        names = [shot_dir / validate_name("take", name)] if name is not None else _subdirs(shot_dir)
        for take_dir in names:
            takes.extend(_published(take_dir))
    return takes


def latest(root: os.PathLike | str, shot: str, name: str) -> Optional[Take]:
    """The highest published version of a take name, or None."""
    takes = list_takes(root, shot=shot, name=name)
    return takes[-1] if takes else None


def load_take(ref: os.PathLike | str, root: os.PathLike | str | None = None) -> Take:
    """A take from a version folder, a take.json path, a take name folder (its latest version),
    or ``SHOT/NAME[/v001]`` under root."""
    text = os.fspath(ref)
    path = Path(text)
    if path.is_file() and path.name == TAKE_JSON:
        return _take_from_dir(path.parent)
    if path.is_dir():
        if (path / TAKE_JSON).is_file() or _VERSION_DIR_RE.fullmatch(path.name):
            return _take_from_dir(path)
        takes = _published(_abs(path))
        if takes:
            return takes[-1]
    base = _abs(root if root is not None else os.environ.get(ROOT_ENV) or "takes")
    parts = [p for p in text.replace("\\", "/").split("/") if p]
    if len(parts) not in (2, 3) or path.is_absolute():
        raise TakeError(f"no take at {text!r}: give a version folder, a take.json, or "
                        f"SHOT/NAME[/v001] under the takes root ({base})")
    shot, name = validate_name("shot", parts[0]), validate_name("take", parts[1])
    takes = _published(base / shot / name)
    if not takes:
        raise TakeError(f"no published take {shot}/{name} under {base}")
    if len(parts) == 2 or parts[2].lower() == "latest":
        return takes[-1]
    match = _VERSION_REF_RE.fullmatch(parts[2])
    if not match:
        raise TakeError(f"version {parts[2]!r} is not allowed: write v001, 1 or latest")
    wanted = int(match.group(1))
    for take in takes:
        if take.version == wanted:
            return take
    have = ", ".join(t.label for t in takes)
    raise TakeError(f"{shot}/{name} has no {version_label(wanted)} under {base} (it has {have})")


__all__ = [
    "TakeError", "Staging", "Reservation", "Take", "slug", "validate_name", "version_label",
    "reserve", "commit", "find_for_job", "list_takes", "latest", "load_take",
    "list_reservations", "release",
]

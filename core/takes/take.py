"""Published takes: one version folder as found on disk (``Take``), and finding them again: a
job's own take after a crash, a shot's takes, the latest version, a take named by the artist.

A take is one published result, ``<root>/<shot>/<name>/v###/`` holding the frames
(``<name>_v###.####.exr``), ``take.json`` (the provenance record) and ``thumbnail.png``
(reserving and publishing one: ``versions``).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..secrets import redact
from .layout import (ROOT_ENV, TAKE_JSON, THUMBNAIL, VERSION_DIR_RE, VERSION_REF_RE, TakeError,
                     absolute, scan, subdirs, validate_name, version_label)



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
        from ..review.scores import load_scores

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


_PRINTF = re.compile(r"%0?(\d*)d")


def frame_paths(take_dir: Path, record: dict) -> list[Path]:
    """The take's frames in order, found beside take.json (the take may have been moved)."""
    frames = record.get("frames") or {}
    pattern = frames.get("pattern")
    first, last = frames.get("first"), frames.get("last")
    if pattern and first is not None and last is not None:
        name = Path(pattern).name
        if _PRINTF.search(name):
            paths = [take_dir / (name % f) for f in range(int(first), int(last) + 1)]
            present = [p for p in paths if p.is_file()]
            if present:
                return present
    return sorted(take_dir.glob("*.exr"))


def take_from_dir(version_dir: Path, *, latest: Optional[bool] = None) -> Take:
    version_dir = absolute(version_dir)
    match = VERSION_DIR_RE.fullmatch(version_dir.name)
    if not match:
        raise TakeError(f"{version_dir} is not a version folder (expected v001, v002, ...)")
    record = _read_record(version_dir / TAKE_JSON)
    version = int(match.group(1))
    if latest is None:
        published, _ = scan(version_dir.parent)
        latest = version == max(published, default=version)
    return Take(dir=version_dir, shot=version_dir.parent.parent.name,
                name=version_dir.parent.name, version=version, record=record, latest=latest)


def _published(take_dir: Path) -> list[Take]:
    """The readable versions of one take name, oldest first, the highest marked latest."""
    takes: list[Take] = []
    for version in sorted(scan(take_dir)[0]):
        try:
            takes.append(take_from_dir(take_dir / version_label(version), latest=False))
        except TakeError:
            continue  # a folder without a readable take.json is not a take (hand-made, damaged)
    if takes:
        takes[-1].latest = True
    return takes


def find_for_job(root: os.PathLike | str, shot: str, name: str, job_id: str) -> Optional[Take]:
    """The version a job already published, if any (a crash hid it from the ledger)."""
    shot, name = validate_name("shot", shot), validate_name("take", name)
    for take in _published(absolute(root) / shot / name):
        if take.record.get("job_id") == job_id:
            return take
    return None


def list_takes(root: os.PathLike | str, shot: Optional[str] = None,
               name: Optional[str] = None) -> list[Take]:
    """Published takes under root, sorted by shot, name and version."""
    base = absolute(root)
    if name is not None:
        name = validate_name("take", name)
    shots = [base / validate_name("shot", shot)] if shot is not None else subdirs(base)
    takes: list[Take] = []
    for shot_dir in shots:
        names = [shot_dir / name] if name is not None else subdirs(shot_dir)
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
        return take_from_dir(path.parent)
    if path.is_dir():
        if (path / TAKE_JSON).is_file() or VERSION_DIR_RE.fullmatch(path.name):
            return take_from_dir(path)
        takes = _published(absolute(path))
        if takes:
            return takes[-1]
    base = absolute(root if root is not None else os.environ.get(ROOT_ENV) or "takes")
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
    match = VERSION_REF_RE.fullmatch(parts[2])
    if not match:
        raise TakeError(f"version {parts[2]!r} is not allowed: write v001, 1 or latest")
    wanted = int(match.group(1))
    for take in takes:
        if take.version == wanted:
            return take
    have = ", ".join(t.label for t in takes)
    raise TakeError(f"{shot}/{name} has no {version_label(wanted)} under {base} (it has {have})")

"""Reserving a version and publishing it: a job's frames are written into a hidden staging folder
that this job reserved, and the whole folder is renamed into place only once ``take.json`` is
on disk, so a version folder is complete or absent. A take is immutable once published; new
work makes a new version.

Reserving a version must hold across threads, processes and machines sharing a file server,
so it rests on the one operation every file system (NFS and SMB included) makes atomic: mkdir.

Each staging folder carries a small stamp (``.reservation.json``: job, machine, process, time)
so that `genplate clean` can tell a folder whose process is gone from one still being written;
the stamp is removed before the folder is published.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..atomic import fsync_dir, fsync_file, write_json_atomically, write_text_atomically
from ..owner import host_id
from .layout import (STAGING_RE, STAGING_SUFFIX, TAKE_JSON, THUMBNAIL, TakeError, absolute, scan,
                     subdirs, validate_job_id, validate_name, version_label)
from .take import Take, take_from_dir


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


STAMP = ".reservation.json"


@dataclass(frozen=True)
class Reservation:
    """A staging folder on disk: which job holds which version (for the ledger's cleanup)."""

    dir: Path
    shot: str
    name: str
    version: int
    job_id: str

    def stamp(self) -> Optional[dict]:
        """Who reserved it (job, host, pid, at), or None for a folder without a readable stamp."""
        try:
            data = json.loads((self.dir / STAMP).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _stamp(staging: "Staging") -> None:
    try:
        write_json_atomically(staging.dir / STAMP, {"job_id": staging.job_id, "host": host_id(),
                                                    "pid": os.getpid(), "at": time.time()})
    except OSError:  # a folder we just made but cannot write: the frames will say so
        pass


def reserve(root: os.PathLike | str, shot: str, name: str, job_id: str) -> Staging:
    """Reserve the next free version of ``<shot>/<name>`` for a job and return its staging folder.

    A job that already holds a reservation (it was interrupted and resumed) gets the same
    version back, emptied, so a resume never skips a version number. Reservations of other jobs
    count as taken even when their jobs are long dead: only the ledger knows that, and it
    removes them (see ``list_reservations``).
    """
    shot = validate_name("shot", shot)
    name = validate_name("take", name)
    validate_job_id(job_id)
    base = absolute(root)
    take_dir = base / shot / name
    try:
        take_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TakeError(f"cannot create {take_dir}: {exc.strerror or exc}") from exc

    reused = _reuse_own(base, shot, name, job_id, take_dir)
    if reused is not None:
        _stamp(reused)
        return reused

    # Optimistic claim: mkdir our folder for the next number, then look again. Two jobs that
    # picked the same number both see each other and both step back (with jitter), so at most
    # one ever keeps a number; a job that saw no rival after its mkdir is safe, because any
    # later rival will see its folder.
    for attempt in range(1, 1001):
        published, staged = scan(take_dir)
        version = max(published | {v for v, _, _ in staged}, default=0) + 1
        staging = Staging(base, shot, name, version, job_id)
        try:
            os.mkdir(staging.dir)
        except FileExistsError:
            continue
        except OSError as exc:
            raise TakeError(f"cannot reserve {staging.dir}: {exc.strerror or exc}") from exc
        published, staged = scan(take_dir)
        rivals = [j for v, j, _ in staged if v == version and j != job_id]
        if not rivals and version not in published:
            _stamp(staging)
            return staging
        os.rmdir(staging.dir)
        time.sleep(random.uniform(0.0, min(0.002 * attempt, 0.05)))
    raise TakeError(f"could not reserve a version of {take_dir}: too many jobs competing")


def _reuse_own(base: Path, shot: str, name: str, job_id: str, take_dir: Path) -> Optional[Staging]:
    _, staged = scan(take_dir)
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
    base = absolute(root)
    found: list[Reservation] = []
    for shot_dir in subdirs(base):
        for take_dir in subdirs(shot_dir):
            for version, job_id, path in scan(take_dir)[1]:
                found.append(Reservation(path, shot_dir.name, take_dir.name, version, job_id))
    return sorted(found, key=lambda r: (r.shot, r.name, r.version, r.job_id))


def release(staging: Staging | Reservation) -> None:
    """Give a reservation up (its frames are deleted; nothing published is touched)."""
    path = staging.dir
    if not STAGING_RE.fullmatch(path.name):
        raise TakeError(f"{path} is not a staging folder")
    shutil.rmtree(path, ignore_errors=True)


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
    try:
        os.unlink(staging.dir / STAMP)  # a published take carries no trace of its reservation
    except FileNotFoundError:
        pass
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
    return take_from_dir(final_dir)

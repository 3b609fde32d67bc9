"""What a delivered file is, and how a delivered ZIP is unpacked without trusting it.

The API does not document how EXR output arrives (one file, a sequence, a ZIP) nor what its
``type`` string will be, so a delivery's kind is read from its first bytes, never from a name
or a type string. A ZIP comes from the network: its names may try to climb out of the folder,
point at links, collide, or lie about their sizes, so every entry is checked before a byte is
written and bytes are counted again while they are written. Extraction goes to a hidden
temporary folder beside the destination and is renamed into place at the end, so the
destination is either a complete extraction or absent.

How much an archive may hold is the delivery's budget (limits.py): its entry count, the sizes
its entries declare and their ratio to the archive's own size are checked before anything is
written, and the bytes actually written are counted against the same bound.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path
from typing import Optional

from ..owner import pid_alive  # the one liveness check the engine uses for workers too
from ..progress import CancelToken, ProgressFn, no_progress
from .limits import RATIO_ENV, SCALE_ENV, Budget, budget_for_files, size_text

KINDS = ("mp4", "exr", "zip", "png", "jpeg", "unknown")
EXTENSIONS = {"mp4": "mp4", "exr": "exr", "zip": "zip", "png": "png", "jpeg": "jpg", "unknown": "bin"}

MANIFEST = ".genplate-extraction.json"
_CHUNK = 1 << 20
_SNIFF_BYTES = 16
# Below this many declared bytes the ratio says nothing (headers dominate a tiny archive).
RATIO_FLOOR = 1024 * 1024
# Windows' FILE_ATTRIBUTE_REPARSE_POINT: how a ZIP made on Windows marks a symlink or junction.
_WIN_REPARSE_POINT = 0x400
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(RuntimeError):
    """A delivered archive is unsafe or broken; nothing of it was extracted."""


class ArchiveTooLarge(ArchiveError):
    """An archive holds more (entries, bytes, expansion) than the delivery's budget allows."""


def sniff_kind(path: os.PathLike | str) -> str:
    """The delivery's kind from its magic bytes: mp4, exr, zip, png, jpeg or unknown."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    return kind_of_bytes(head)


def kind_of_bytes(head: bytes) -> str:
    """The kind of a file that starts with ``head`` (at least 12 bytes for MP4)."""
    # ISO-BMFF (MP4, MOV, M4V alike): a box named ftyp first, then a printable brand code.
    if len(head) >= 12 and head[4:8] == b"ftyp" and all(32 <= c < 127 for c in head[8:12]):
        return "mp4"
    if head.startswith(b"\x76\x2f\x31\x01"):
        return "exr"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return "unknown"


def extract_zip(zip_path: os.PathLike | str, dest_dir: os.PathLike | str, *,
                budget: Optional[Budget] = None, max_files: Optional[int] = None,
                max_bytes: Optional[int] = None, progress: ProgressFn = no_progress,
                cancel: Optional[CancelToken] = None) -> list[Path]:
    """Extract ``zip_path`` into ``dest_dir`` safely and atomically; the files, sorted.

    Refuses (ArchiveError, nothing written) absolute names, drive letters, ``..``, links and
    special files, colliding names, encrypted entries; and (ArchiveTooLarge, nothing written)
    more files than the budget's ``files``, more uncompressed bytes than its ``bytes``
    (declared or actually written) or an expansion over its ``ratio``. ``max_files`` and
    ``max_bytes`` override the budget's (default: the bound for footage of unknown size).
    When ``dest_dir`` already holds a complete extraction of this archive it is returned as
    it is.
    """
    zip_path, dest = Path(zip_path), Path(dest_dir)
    budget = budget or budget_for_files()
    max_files = budget.files if max_files is None else max_files
    max_bytes = budget.bytes if max_bytes is None else max_bytes
    try:
        with zipfile.ZipFile(zip_path) as archive:
            plan = _plan(archive, zip_path, max_files=max_files, max_bytes=max_bytes,
                         basis=budget.basis)
            _check_ratio(plan, zip_path, budget.ratio)
            manifest = _manifest(zip_path, plan)
            done = _existing_extraction(dest, manifest)
            if done is not None:
                return done
            _check_destination(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _remove_abandoned_temps(dest)
            temp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-{os.getpid()}-",
                                         dir=dest.parent))
            try:
                _extract(archive, plan, temp, zip_path, max_bytes=max_bytes,
                         progress=progress, cancel=cancel)
                _write_json(temp / MANIFEST, manifest)
                _replace(temp, dest)
            except BaseException:
                shutil.rmtree(temp, ignore_errors=True)
                raise
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{zip_path.name} is not a readable ZIP archive: {exc}") from None
    return sorted(dest / name for name, _ in plan)


# -- checking the entries before anything is written ---------------------------------------

def _plan(archive: zipfile.ZipFile, zip_path: Path, *, max_files: int,
          max_bytes: int, basis: str) -> list[tuple[str, zipfile.ZipInfo]]:
    """The (safe relative name, entry) of every file to extract; raises on the first problem."""
    where = zip_path.name
    files: list[tuple[str, zipfile.ZipInfo]] = []
    seen: dict[str, str] = {}  # _fold(path) -> "file" | "dir"
    declared = 0
    for info in archive.infolist():
        parts = _safe_parts(info.filename, where)
        is_dir = info.is_dir()
        _refuse_links(info, where)
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{where}: entry {info.filename!r} is encrypted; genplate "
                               f"cannot read encrypted deliveries")
        if not parts:  # "./" and the like: the archive's own root
            continue
        # Every parent of an entry is a directory; a name used both as a file and as a
        # directory, or twice (also differing only in case, which collides on macOS and
        # Windows), would make the result depend on the order of extraction.
        for depth in range(1, len(parts)):
            parent = _fold("/".join(parts[:depth]))
            if seen.get(parent) == "file":
                raise ArchiveError(f"{where}: entry {info.filename!r} lies inside "
                                   f"{'/'.join(parts[:depth])!r}, which is also a file")
            seen[parent] = "dir"
        key = _fold("/".join(parts))
        if is_dir:
            if seen.get(key) == "file":
                raise ArchiveError(f"{where}: {info.filename!r} is both a file and a folder")
            seen[key] = "dir"
            continue
        if key in seen:
            raise ArchiveError(f"{where}: entry {info.filename!r} collides with another entry "
                               f"of the same name (names are compared ignoring case)")
        if key == _fold(MANIFEST):
            raise ArchiveError(f"{where}: entry {info.filename!r} uses a name genplate reserves")
        seen[key] = "file"
        files.append(("/".join(parts), info))
        if len(files) > max_files:
            raise ArchiveTooLarge(f"{where} holds more than {max_files} files, the most a "
                                  f"{basis} delivery may hold; nothing was extracted")
        declared += info.file_size
        if declared > max_bytes:
            raise ArchiveTooLarge(f"{where} would expand to more than {size_text(max_bytes)}, "
                                  f"the budget of a {basis} delivery; nothing was extracted "
                                  f"(if it is genuine, raise {SCALE_ENV})")
    return files


def _check_ratio(plan: list[tuple[str, zipfile.ZipInfo]], zip_path: Path, ratio: float) -> None:
    """Refuse an archive that expands far beyond its own size (a ZIP bomb), before writing."""
    declared = sum(info.file_size for _, info in plan)
    size = max(1, zip_path.stat().st_size)
    if declared > RATIO_FLOOR and declared / size > ratio:
        raise ArchiveTooLarge(f"{zip_path.name} would expand {declared / size:.0f} times, from "
                              f"{size_text(size)} to {size_text(declared)}: over the {ratio:.0f}x "
                              f"bound ({RATIO_ENV}) for a delivery; refusing a ZIP bomb, "
                              f"nothing was extracted")


def _fold(path: str) -> str:
    """A name as a case- and normalisation-insensitive file system sees it (macOS, Windows)."""
    return unicodedata.normalize("NFC", path).casefold()


def _safe_parts(name: str, where: str) -> list[str]:
    """The path components of an entry name, refusing anything that could leave the folder."""
    if "\x00" in name:
        raise ArchiveError(f"{where}: entry {name!r} has a NUL character in its name")
    # Old Windows tools write "\" as the separator; treating it as one also catches "..\".
    text = name.replace("\\", "/")
    if text.startswith("/"):
        raise ArchiveError(f"{where}: entry {name!r} has an absolute path")
    if _DRIVE.match(text):
        raise ArchiveError(f"{where}: entry {name!r} names a drive")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise ArchiveError(f"{where}: entry {name!r} climbs out of the folder with '..'")
        if ":" in part:
            raise ArchiveError(f"{where}: entry {name!r} has a ':' (a drive or an alternate "
                               f"data stream on Windows)")
    return parts


def _refuse_links(info: zipfile.ZipInfo, where: str) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ArchiveError(f"{where}: entry {info.filename!r} is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(f"{where}: entry {info.filename!r} is not a regular file "
                           f"(a device, pipe, socket or hard link)")
    if info.external_attr & _WIN_REPARSE_POINT:
        raise ArchiveError(f"{where}: entry {info.filename!r} is a link (a Windows reparse point)")


# -- extracting ----------------------------------------------------------------------------

def _extract(archive: zipfile.ZipFile, plan: list[tuple[str, zipfile.ZipInfo]], temp: Path,
             zip_path: Path, *, max_bytes: int, progress: ProgressFn,
             cancel: Optional[CancelToken]) -> None:
    where = zip_path.name
    total_declared = sum(info.file_size for _, info in plan)
    written = 0
    for index, (name, info) in enumerate(plan):
        target = temp.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        entry_bytes = 0
        try:
            with archive.open(info) as source, open(target, "xb") as out:
                while True:
                    if cancel is not None:
                        cancel.check()
                    chunk = source.read(_CHUNK)
                    if not chunk:
                        break
                    entry_bytes += len(chunk)
                    written += len(chunk)
                    # zipfile stops at the declared size today; counting here keeps the bound
                    # true whatever the reader does with an entry that lies about its size.
                    if entry_bytes > info.file_size:
                        raise ArchiveError(f"{where}: entry {info.filename!r} expands beyond "
                                           f"its declared size ({info.file_size} bytes): "
                                           f"refusing a ZIP bomb")
                    if written > max_bytes:
                        raise ArchiveTooLarge(f"{where} expands to more than "
                                              f"{size_text(max_bytes)}; refusing to extract it")
                    out.write(chunk)
                    progress(written, total_declared, f"extracting {where}")
        except zipfile.BadZipFile as exc:
            raise ArchiveError(f"{where}: entry {info.filename!r} is corrupt or lies about its "
                               f"size ({exc})") from None
        except (EOFError, zlib.error) as exc:
            raise ArchiveError(f"{where}: entry {info.filename!r} is truncated or corrupt "
                               f"({exc})") from None
        except NotImplementedError as exc:
            raise ArchiveError(f"{where}: entry {info.filename!r} uses a compression genplate "
                               f"cannot read ({exc})") from None
        if entry_bytes != info.file_size:
            raise ArchiveError(f"{where}: entry {info.filename!r} holds {entry_bytes} bytes "
                               f"but declares {info.file_size}")


def _manifest(zip_path: Path, plan: list[tuple[str, zipfile.ZipInfo]]) -> dict:
    return {
        "schema": "genplate.extraction/1",
        "archive_bytes": zip_path.stat().st_size,
        "files": [{"name": name, "bytes": info.file_size, "crc": info.CRC} for name, info in plan],
    }


def _existing_extraction(dest: Path, manifest: dict) -> Optional[list[Path]]:
    """The files of a complete earlier extraction of the same archive into ``dest``, or None."""
    try:
        recorded = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if recorded != manifest:
        return None
    paths = []
    for item in manifest["files"]:
        path = dest.joinpath(*item["name"].split("/"))
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size != item["bytes"]:
                return None
        except OSError:
            return None
        paths.append(path)
    return sorted(paths)


def _check_destination(dest: Path) -> None:
    """Refuse to replace a folder that genplate did not extract (a person's files)."""
    if not dest.exists() and not dest.is_symlink():
        return
    if dest.is_symlink() or not dest.is_dir():
        raise ArchiveError(f"{dest} exists and is not a folder; move it away to extract there")
    if (dest / MANIFEST).is_file() or not any(dest.iterdir()):
        return  # an earlier, different extraction of ours, or an empty folder: replaceable
    raise ArchiveError(f"{dest} already holds files that genplate did not extract; move them "
                       f"away or choose another folder")


def _replace(temp: Path, dest: Path) -> None:
    """Put the finished extraction at ``dest`` with renames only."""
    if not dest.exists():
        os.rename(temp, dest)
        return
    if not any(dest.iterdir()):
        dest.rmdir()
        os.rename(temp, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-{os.getpid()}-", dir=dest.parent))
    old.rmdir()
    os.rename(dest, old)
    os.rename(temp, dest)
    shutil.rmtree(old, ignore_errors=True)


def _remove_abandoned_temps(dest: Path) -> None:
    """Delete temporary folders that a killed extraction into ``dest`` left behind.

    The folder name carries the extracting process's id, so only folders of processes that no
    longer exist are removed; a concurrent extraction keeps its own.
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    own = re.compile(re.escape(f".{dest.name}.") + r"(?:extract|old)-(\d+)-")
    for leftover in dest.parent.glob(f".{glob.escape(dest.name)}.*"):
        match = own.match(leftover.name)
        if not match or not leftover.is_dir():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue  # this process's other threads, or another live process, may be using it
        shutil.rmtree(leftover, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


__all__ = ["ArchiveError", "ArchiveTooLarge", "KINDS", "EXTENSIONS", "MANIFEST",
           "sniff_kind", "kind_of_bytes", "extract_zip"]

"""Deliveries: kinds by magic bytes, and ZIPs unpacked safely, atomically and only once."""
from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genplate.core.delivery.unpack import MANIFEST, ArchiveError, extract_zip, sniff_kind
from genplate.core.progress import Cancelled, CancelToken


# -- real little files of each kind ---------------------------------------------------------

def write_video(path: Path, fmt: str = "mp4") -> Path:
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_image(path: Path, fmt_ext: str) -> Path:
    import OpenImageIO as oiio

    pixels = np.linspace(0, 4.0 if fmt_ext == "exr" else 1.0, 4 * 4 * 3, dtype=np.float32)
    spec = oiio.ImageSpec(4, 4, 3, "half" if fmt_ext == "exr" else "uint8")
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(pixels.reshape(4, 4, 3))
    out.close()
    return path


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def nothing_left(dest: Path) -> bool:
    """No destination and no hidden temporary folder beside it."""
    return not dest.exists() and not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]


# -- sniffing ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("samples")
    return {
        "mp4": write_video(d / "clip.mp4"),
        "mov": write_video(d / "clip.mov", "mov"),
        "exr": write_image(d / "frame.exr", "exr"),
        "png": write_image(d / "frame.png", "png"),
        "jpeg": write_image(d / "frame.jpg", "jpg"),
        "zip": write_zip(d / "frames.zip", {"a.txt": b"hello"}),
    }


@pytest.mark.parametrize("sample, kind", [("mp4", "mp4"), ("mov", "mp4"), ("exr", "exr"),
                                          ("png", "png"), ("jpeg", "jpeg"), ("zip", "zip")])
def test_sniff_each_kind_of_real_file(samples, sample, kind):
    assert sniff_kind(samples[sample]) == kind


def test_sniff_ignores_the_name(samples, tmp_path):
    disguised = tmp_path / "frame.0001.exr"
    disguised.write_bytes(samples["mp4"].read_bytes())
    assert sniff_kind(disguised) == "mp4"
    html = tmp_path / "video.mp4"
    html.write_bytes(b"<html><body>AccessDenied</body></html>")
    assert sniff_kind(html) == "unknown"


@pytest.mark.parametrize("data", [b"", b"PK", b"\x76\x2f\x31", b"abcdftyp", b"\0\0\0\x18ftyp\0\x01\x02\x03",
                                  b"PK\x05\x06" + bytes(18)])
def test_sniff_short_or_foreign_heads_are_unknown(tmp_path, data):
    path = tmp_path / "x"
    path.write_bytes(data)
    assert sniff_kind(path) == "unknown"


# -- extracting -------------------------------------------------------------------------------

def test_extract_returns_sorted_files_with_their_content(samples, tmp_path):
    exr = samples["exr"].read_bytes()
    z = write_zip(tmp_path / "d.zip", {"seq/b.0002.exr": exr, "seq/a.0001.exr": exr,
                                       "./notes/readme.txt": b"hi", "seq/": b""})
    dest = tmp_path / "out"
    files = extract_zip(z, dest)
    assert files == sorted(files)
    assert [p.relative_to(dest).as_posix() for p in files] == [
        "notes/readme.txt", "seq/a.0001.exr", "seq/b.0002.exr"]
    assert files[1].read_bytes() == exr and sniff_kind(files[1]) == "exr"
    assert (dest / MANIFEST).is_file()  # hidden, and not among the returned files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_extract_is_idempotent_and_does_not_rewrite(tmp_path):
    z = write_zip(tmp_path / "d.zip", {"a.exr": b"\x76\x2f\x31\x01" + bytes(100)})
    dest = tmp_path / "out"
    first = extract_zip(z, dest)
    os.utime(first[0], (1, 1))
    again = extract_zip(z, dest)
    assert again == first
    assert first[0].stat().st_mtime == 1  # not extracted a second time


def test_extract_repairs_an_incomplete_earlier_extraction(tmp_path):
    z = write_zip(tmp_path / "d.zip", {"a.bin": b"x" * 50, "b.bin": b"y" * 50})
    dest = tmp_path / "out"
    files = extract_zip(z, dest)
    files[1].write_bytes(b"short")  # damaged after the fact
    again = extract_zip(z, dest)
    assert again[1].read_bytes() == b"y" * 50


def test_extract_refuses_a_folder_of_someone_elses_files(tmp_path):
    z = write_zip(tmp_path / "d.zip", {"a.bin": b"x"})
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(ArchiveError, match="did not extract"):
        extract_zip(z, dest)
    assert (dest / "mine.txt").read_text() == "keep me"


def test_extract_removes_what_a_killed_extraction_left(tmp_path):
    z = write_zip(tmp_path / "d.zip", {"a.bin": b"x"})
    # A temp folder of a process that no longer exists (pids this high are not handed out).
    stale = tmp_path / ".out.extract-999999999-abc"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"partial")
    extract_zip(z, tmp_path / "out")
    assert not stale.exists()


@pytest.mark.parametrize("name, why", [
    ("../evil.txt", "'..'"),
    ("frames/../../evil.txt", "'..'"),
    ("..\\evil.txt", "'..'"),
    ("/etc/evil.txt", "absolute"),
    ("C:/Windows/evil.txt", "drive"),
    ("c:evil.txt", "drive"),
    ("frames/a.exr:stream", "':'"),
])
def test_extract_refuses_names_that_leave_the_folder(tmp_path, name, why):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr("ok.txt", b"fine")
        archive.writestr(zipfile.ZipInfo(name), b"pwned")
    dest = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match=why):
        extract_zip(z, dest)
    assert not (tmp_path / "deep").exists()  # refused before a folder was made
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.zip"]


def _entry_with_mode(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize("mode, why", [
    (stat.S_IFLNK | 0o777, "symbolic link"),
    (stat.S_IFIFO | 0o644, "not a regular file"),
    (stat.S_IFCHR | 0o644, "not a regular file"),
])
def test_extract_refuses_links_and_special_files(tmp_path, mode, why):
    z = tmp_path / "links.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr("frame.exr", b"\x76\x2f\x31\x01")
        archive.writestr(_entry_with_mode("link.exr", mode), b"/etc/passwd")
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match=why):
        extract_zip(z, dest)
    assert nothing_left(dest)


def test_extract_refuses_a_windows_reparse_point(tmp_path):
    z = tmp_path / "junction.zip"
    info = zipfile.ZipInfo("junction")
    info.external_attr = 0x400
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr(info, b"C:\\Windows")
    with pytest.raises(ArchiveError, match="reparse point"):
        extract_zip(z, tmp_path / "out")
    assert nothing_left(tmp_path / "out")


@pytest.mark.parametrize("names, why", [
    (["a.exr", "a.exr"], "collides"),
    (["A.exr", "a.exr"], "collides"),
    (["seq", "seq/a.exr"], "also a file"),
    (["caf\u00e9.exr", "cafe\u0301.exr"], "collides"),  # the same name on macOS (NFC vs NFD)
    (["seq/a.exr", "./seq/a.exr"], "collides"),
    ([MANIFEST], "reserves"),
])
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_extract_refuses_colliding_entries(tmp_path, names, why):
    z = tmp_path / "dup.zip"
    with zipfile.ZipFile(z, "w") as archive:
        for name in names:
            archive.writestr(zipfile.ZipInfo(name), b"data")
    with pytest.raises(ArchiveError, match=why):
        extract_zip(z, tmp_path / "out")
    assert nothing_left(tmp_path / "out")


def test_extract_refuses_too_many_files(tmp_path):
    z = write_zip(tmp_path / "many.zip", {f"f{i}.bin": b"x" for i in range(11)})
    with pytest.raises(ArchiveError, match="more than 10 files"):
        extract_zip(z, tmp_path / "out", max_files=10)
    assert nothing_left(tmp_path / "out")
    assert len(extract_zip(z, tmp_path / "out", max_files=11)) == 11


def test_extract_refuses_more_declared_bytes_than_allowed(tmp_path):
    z = write_zip(tmp_path / "big.zip", {"a.bin": bytes(600), "b.bin": bytes(600)})
    with pytest.raises(ArchiveError, match="expand to more than"):
        extract_zip(z, tmp_path / "out", max_bytes=1000)
    assert nothing_left(tmp_path / "out")


def _lie_about_size(path: Path, declared: int) -> None:
    """Rewrite every uncompressed-size field (local and central headers) to ``declared``."""
    data = bytearray(path.read_bytes())
    offset = 0
    while (offset := data.find(b"PK\x03\x04", offset)) != -1:
        struct.pack_into("<I", data, offset + 22, declared)
        offset += 4
    offset = 0
    while (offset := data.find(b"PK\x01\x02", offset)) != -1:
        struct.pack_into("<I", data, offset + 24, declared)
        offset += 4
    path.write_bytes(bytes(data))


def test_extract_refuses_a_zip_bomb_that_lies_about_its_size(tmp_path):
    z = write_zip(tmp_path / "bomb.zip", {"frame.exr": bytes(4 * 1024 * 1024)})
    assert z.stat().st_size < 10_000  # 4 MiB of zeros deflate to almost nothing
    _lie_about_size(z, 100)
    with zipfile.ZipFile(z) as archive:
        assert archive.infolist()[0].file_size == 100  # what the bomb claims
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="bomb|lies about its size|corrupt"):
        extract_zip(z, dest, max_bytes=1000)
    assert nothing_left(dest)


def test_extract_refuses_an_entry_shorter_than_declared(tmp_path):
    z = write_zip(tmp_path / "short.zip", {"frame.exr": b"abc" * 100})
    _lie_about_size(z, 10_000)
    with pytest.raises(ArchiveError):
        extract_zip(z, tmp_path / "out")
    assert nothing_left(tmp_path / "out")


def test_extract_refuses_encrypted_entries(tmp_path):
    z = write_zip(tmp_path / "enc.zip", {"a.bin": b"secret"})
    data = bytearray(z.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        offset = data.find(sig)
        struct.pack_into("<H", data, offset + flag_at, struct.unpack_from("<H", data, offset + flag_at)[0] | 1)
    z.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="encrypted"):
        extract_zip(z, tmp_path / "out")


def test_extract_refuses_a_file_that_is_not_a_zip(tmp_path):
    z = tmp_path / "fake.zip"
    z.write_bytes(b"PK\x03\x04 but then nothing sensible")
    with pytest.raises(ArchiveError, match="not a readable ZIP"):
        extract_zip(z, tmp_path / "out")
    assert nothing_left(tmp_path / "out")


def test_cancelled_extraction_leaves_nothing(tmp_path):
    z = write_zip(tmp_path / "d.zip", {f"f{i}.bin": bytes(10) for i in range(5)})
    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append(done)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        extract_zip(z, tmp_path / "out", progress=progress, cancel=token)
    assert nothing_left(tmp_path / "out")


# -- the delivery's budget ---------------------------------------------------------------------

def _budget(**kw):
    from genplate.core.delivery.limits import Budget

    values = dict(bytes=10 ** 9, files=100, ratio=100.0, basis="360p 5s SDR 16:9")
    values.update(kw)
    return Budget(**values)


def test_a_zip_bomb_is_refused_by_its_ratio_before_anything_is_written(tmp_path):
    from genplate.core.delivery.unpack import ArchiveTooLarge

    z = write_zip(tmp_path / "bomb.zip", {f"f.{i:04d}.exr": bytes(8 * 1024 * 1024) for i in range(4)})
    assert z.stat().st_size < 200_000  # 32 MiB of zeros in a few KiB: honest sizes, a huge ratio
    dest = tmp_path / "out"
    with pytest.raises(ArchiveTooLarge, match=r"would expand \d+ times.*over the 100x bound "
                                              r"\(GENPLATE_UNPACK_MAX_RATIO\)"):
        extract_zip(z, dest, budget=_budget())
    assert nothing_left(dest)
    assert len(extract_zip(z, dest, budget=_budget(ratio=1e6))) == 4  # a genuine one, allowed


def test_an_archive_over_the_requests_budget_is_refused_before_anything_is_written(tmp_path):
    from genplate.core.delivery.unpack import ArchiveTooLarge

    z = write_zip(tmp_path / "big.zip", {"a.exr": os.urandom(60_000), "b.exr": os.urandom(60_000)})
    with pytest.raises(ArchiveTooLarge, match="more than 97.7 KiB, the budget of a 360p 5s SDR "
                                              "16:9 delivery.*GENPLATE_DELIVERY_BUDGET_SCALE"):
        extract_zip(z, tmp_path / "out", budget=_budget(bytes=100_000))
    assert nothing_left(tmp_path / "out")


def test_an_archive_with_more_entries_than_frames_asked_for_is_refused(tmp_path):
    from genplate.core.delivery.limits import budget_for
    from genplate.core.delivery.unpack import ArchiveTooLarge
    from genplate.core.request import ShotRequest

    draft = budget_for(ShotRequest.draft("a kite"))
    assert draft.files == 2 * 121 + 16
    z = write_zip(tmp_path / "many.zip", {f"f.{i:05d}.exr": b"x" for i in range(draft.files + 1)})
    with pytest.raises(ArchiveTooLarge, match=f"more than {draft.files} files, the most a 360p 5s "
                                              f"SDR 16:9 delivery may hold"):
        extract_zip(z, tmp_path / "out", budget=draft)
    assert nothing_left(tmp_path / "out")


def test_the_budget_formula_for_a_master_and_a_draft():
    from genplate.core.delivery.limits import budget_for
    from genplate.core.request import ShotRequest

    master = budget_for(ShotRequest.master("a", resolution="1080p", duration="10s"))
    # 241 x 1920 x 1080: 1 byte a pixel of video, RGBA half of EXR, 64 KiB a frame, 16 MiB.
    assert master.bytes == 16 * 2 ** 20 + 241 * 1920 * 1080 * (1 + 8) + 241 * 64 * 1024
    assert 4e9 < master.bytes < 5e9  # "a few GB at most"
    assert (master.width, master.height, master.channels, master.pixel_types) == \
        (1920, 1080, 4, ("half",))
    draft = budget_for(ShotRequest.draft("a"))
    assert draft.bytes == 16 * 2 ** 20 + 121 * 640 * 360
    assert budget_for(ShotRequest.draft("a"), scale=2.0).bytes == 2 * draft.bytes


def test_the_budget_scale_and_ratio_are_read_from_their_settings(monkeypatch):
    from genplate.core.delivery.limits import LimitError, budget_for, pace_from_env
    from genplate.core.request import ShotRequest

    draft = ShotRequest.draft("a")
    base = budget_for(draft).bytes
    monkeypatch.setenv("GENPLATE_DELIVERY_BUDGET_SCALE", "3")
    monkeypatch.setenv("GENPLATE_UNPACK_MAX_RATIO", "20")
    monkeypatch.setenv("GENPLATE_FETCH_DEADLINE", "90")
    monkeypatch.setenv("GENPLATE_FETCH_MIN_RATE_KIB", "2")
    monkeypatch.setenv("GENPLATE_FETCH_RATE_WINDOW", "30")
    assert budget_for(draft).bytes == 3 * base and budget_for(draft).ratio == 20
    pace = pace_from_env()
    assert (pace.deadline, pace.min_rate, pace.window) == (90, 2048, 30)
    monkeypatch.setenv("GENPLATE_FETCH_RATE_WINDOW", "-1")
    with pytest.raises(LimitError, match="GENPLATE_FETCH_RATE_WINDOW='-1' must be a number of "
                                         "at least 0.1"):
        pace_from_env()

"""The request's own media is decoded and checked before anything is sent (issue #14): one check,
in ShotRequest.validate (core/inputs.py), for the Luma backend and the offline renderer alike."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from genplate.core.backends.luma.backend import LumaBackend
from genplate.core.backends.luma.client import LumaClient
from genplate.core.backends.luma.settings import LumaSettings
from genplate.core.backends.offline import OfflineBackend
from genplate.core.jobs import ledger as L
from genplate.core.jobs.runner import submit
from genplate.core.request import EditOptions, Keyframe, MediaRef, RequestError, ShotRequest
from genplate.core.takes.record import PublishSpec

from luma_emulator import LumaEmulator, make_image, make_mp4


def png_declaring(width: int, height: int, pad: int = 8 * 1024 * 1024) -> bytes:
    """A PNG whose header (IHDR) declares ``width`` x ``height``, with one tiny IDAT and a
    private chunk of ``pad`` zeros (OpenImageIO refuses a header that claims far more than
    its file holds; padded, it opens it and reports the size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"paDd", bytes(pad))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def write_image(path: Path, fmt: str, size=(96, 54)) -> Path:
    import OpenImageIO as oiio

    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[..., 0] = 200
    assert oiio.ImageBuf(pixels).write(str(path), "uint8"), oiio.geterror()
    return path


def refusal(request: ShotRequest) -> RequestError:
    with pytest.raises(RequestError) as caught:
        request.validate()
    return caught.value


@pytest.fixture
def passwd(tmp_path) -> Path:
    """/etc/passwd as an artist might pass it (a copy, so the test runs anywhere)."""
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    return path


# -- the check -----------------------------------------------------------------------------------

@pytest.mark.parametrize("place", ["keyframe", "start_frame", "end_frame", "edit_keyframe"])
def test_a_file_that_is_not_an_image_is_refused_naming_its_field(passwd, place, tmp_path):
    image = MediaRef(path=str(passwd))
    if place == "keyframe":
        request, field = ShotRequest.draft("a", keyframes=(Keyframe(48, image),)), "keyframe:48"
    elif place == "edit_keyframe":
        plate = tmp_path / "plate.mp4"
        plate.write_bytes(make_mp4(64, 36, 12))
        request = ShotRequest.draft("a", type="video_edit", source=MediaRef(path=str(plate)),
                                    edit=EditOptions(keyframes=(Keyframe(24, image),)))
        field = "edit_keyframe:24"
    else:
        request, field = ShotRequest.draft("a", **{place: image}), place
    err = refusal(request)
    assert err.field == field and err.value == str(passwd)
    assert "a PNG, JPEG or WebP image" in str(err) and field in str(err)


def test_the_real_etc_passwd_is_refused_too():
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd on this system")
    err = refusal(ShotRequest.draft("a", keyframes=(Keyframe(0, MediaRef(path="/etc/passwd")),)))
    assert err.field == "keyframe:0" and "/etc/passwd" in str(err)


def test_an_image_header_declaring_a_huge_frame_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_declaring(20_000, 20_000))  # OpenImageIO itself opens this one
    err = refusal(ShotRequest.draft("a", start_frame=MediaRef(path=str(path))))
    assert err.field == "start_frame"
    assert "its header says 20000 x 20000; nothing of it was decoded" in str(err)


def test_a_damaged_image_is_refused(tmp_path):
    whole = write_image(tmp_path / "whole.png", "png", size=(640, 360)).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    err = refusal(ShotRequest.draft("a", end_frame=MediaRef(path=str(cut))))
    assert err.field == "end_frame" and "can be decoded" in str(err)


def test_an_image_over_the_apis_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.png"
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(51 * 1000 * 1000)  # sparse: nothing to decode, only its size
    err = refusal(ShotRequest.draft("a", start_frame=MediaRef(path=str(path))))
    assert "at most 50 MB" in str(err)


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_png_jpeg_and_webp_images_are_accepted(tmp_path, fmt):
    path = write_image(tmp_path / f"frame.{fmt}", fmt)
    ShotRequest.draft("a", keyframes=(Keyframe(0, MediaRef(path=str(path))),)).validate()


def test_an_image_is_judged_by_its_bytes_not_its_name(tmp_path):
    disguised = tmp_path / "frame.bin"
    disguised.write_bytes(make_image(32, 18, "png"))
    ShotRequest.draft("a", start_frame=MediaRef(path=str(disguised))).validate()
    exr = write_image(tmp_path / "frame.exr", "exr")  # decodes, but the API takes no EXR
    assert "a PNG, JPEG or WebP image" in str(
        refusal(ShotRequest.draft("a", start_frame=MediaRef(path=str(exr)))))


def test_an_edit_source_must_be_a_video_that_decodes(tmp_path, passwd):
    def edit(path):
        return ShotRequest.draft("a", type="video_edit", source=MediaRef(path=str(path)))

    err = refusal(edit(passwd))
    assert err.field == "source" and "an MP4 or MOV video" in str(err)
    fake = tmp_path / "fake.mov"
    fake.write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\0" * 100)
    assert "a video that can be decoded" in str(refusal(edit(fake)))
    plate = tmp_path / "plate.mp4"
    plate.write_bytes(make_mp4(64, 36, 24))
    edit(plate).validate()


# -- the same check for every backend, before anything is sent ----------------------------------

def test_the_luma_backend_sends_nothing_for_an_input_that_is_not_an_image(passwd, tmp_path):
    request = ShotRequest.draft("a", keyframes=(Keyframe(48, MediaRef(path=str(passwd))),))
    with LumaEmulator(frames=5) as emu:
        ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
        backend = LumaBackend(ledger, client=LumaClient(emu.key, LumaSettings(base_url=emu.base_url)))
        job = ledger.claim_create(ledger.add_job(backend="luma", request=request.to_json(),
                                                 publish={}).id)
        with pytest.raises(RequestError, match="keyframe:48"):
            backend.create(request, job_id=job.id)
        assert emu.log == [] and emu.files == {}  # no upload, no create: not one request


def test_the_offline_backend_refuses_the_same_file_before_anything_exists(passwd, tmp_path):
    request = ShotRequest.draft("a", keyframes=(Keyframe(48, MediaRef(path=str(passwd))),))
    backend = OfflineBackend(tmp_path / "offline")
    with pytest.raises(RequestError, match="keyframe:48") as offline:
        backend.create(request, job_id="j1")
    assert backend.reconcile("j1") is None
    assert str(offline.value) == str(refusal(request))  # one check, one message


@pytest.mark.parametrize("backend", ["offline", "luma"])
def test_no_job_is_recorded_for_a_request_with_a_bad_input(passwd, tmp_path, backend):
    ledger = L.Ledger()
    request = ShotRequest.draft("a", start_frame=MediaRef(path=str(passwd)))
    with pytest.raises(RequestError, match="start_frame"):
        submit(ledger, request, PublishSpec(root=str(tmp_path), shot="sh010", name="t"), backend)
    assert ledger.jobs() == []

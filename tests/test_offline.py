"""The offline backend and its renderer: deterministic HDR footage that honours the request, delivered
like Ray3 delivers it (tagged MP4, ACES EXR zip) through the create/get/reconcile contract.

Backend-behaviour tests shrink the frame (ShotRequest.frame_size patched to 64x36) so a 121-frame
render takes a fraction of a second; picture tests render single frames at the real size; the
full-size renders are marked slow."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import av
import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.backends.base import BackendError
from genplate.core.backends.offline import OfflineBackend
from genplate.core.progress import CancelToken
from genplate.core.render import Inputs, compose, media, colour, render, resolve_inputs
from genplate.core.render.scene import build_scene
from genplate.core.request import EditOptions, Keyframe, MediaRef, ReframeRect, ShotRequest

PROMPT = "a red balloon drifting over a harbour at noon"
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)


@pytest.fixture
def tiny(monkeypatch):
    """Backend tests render 64x36 frames: the contract, not the picture, is under test."""
    monkeypatch.setattr(ShotRequest, "frame_size", lambda self: (64, 36))


def _path(url: str) -> Path:
    assert url.startswith("file://")
    return Path(unquote(urlparse(url).path))


def _frame(request: ShotRequest, index: int, inputs: Inputs | None = None) -> np.ndarray:
    w, h = request.frame_size()
    scene = build_scene(request.prompt, request.seed, w, h, request.frame_count, loop=request.loop)
    return compose(scene, request, inputs or Inputs(), index, None)


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        # The raw Y' plane (code values as encoded; a "gray" conversion would rescale the range).
        return [f.to_ndarray()[: f.height] for f in c.decode(video=0)]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _pattern_png(path: Path, w: int, h: int) -> np.ndarray:
    """A picture nothing in the renderer draws: diagonal stripes and a bright block."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = ((xx + yy) // max(4, w // 16) % 2).astype(np.float32) * 0.8 + 0.1
    grey[h // 4: h // 2, w // 2: 3 * w // 4] = 1.0
    rgb = np.stack([grey, grey[:, ::-1], grey * 0.5 + 0.25], axis=-1)
    oiio.ImageBuf(np.ascontiguousarray(rgb)).write(str(path), "uint8")
    return rgb


def _follow(backend: OfflineBackend, remote_id: str, timeout: float = 120.0, **kw):
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        g = backend.get(remote_id, **kw)
        seen.append(g)
        if g.state in ("completed", "failed"):
            return g, seen
        assert time.monotonic() < deadline, f"still {g.state} after {timeout} s"
        time.sleep(0.05)


# -- determinism -------------------------------------------------------------------------------

def test_same_request_and_seed_render_identical_frames_and_others_differ():
    base = ShotRequest.draft(PROMPT, seed=7)
    for index in (0, 60, 120):
        assert np.array_equal(_frame(base, index), _frame(base, index))
    other_seed = ShotRequest.draft(PROMPT, seed=8)
    other_prompt = ShotRequest.draft("a blue car racing through a city at night", seed=7)
    assert not np.array_equal(_frame(base, 60), _frame(other_seed, 60))
    assert not np.array_equal(_frame(base, 60), _frame(other_prompt, 60))
    # No seed is seed 0.
    assert np.array_equal(_frame(ShotRequest.draft(PROMPT), 30), _frame(ShotRequest.draft(PROMPT, seed=0), 30))


def test_frames_are_the_same_in_another_process_with_another_hash_seed():
    code = textwrap.dedent(f"""
        import hashlib, numpy as np
        from genplate.core.request import ShotRequest
        from genplate.core.render import Inputs, compose
        from genplate.core.render.scene import build_scene
        r = ShotRequest.draft({PROMPT!r}, seed=5)
        s = build_scene(r.prompt, r.seed, 640, 360, 121)
        print(hashlib.sha256(compose(s, r, Inputs(), 42, None).tobytes()).hexdigest())
    """)
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             timeout=120, check=True).stdout.strip()
        digests.add(out)
    r = ShotRequest.draft(PROMPT, seed=5)
    import hashlib

    digests.add(hashlib.sha256(_frame(r, 42).tobytes()).hexdigest())
    assert len(digests) == 1


def test_the_camera_moves_and_the_picture_changes_across_the_shot():
    r = ShotRequest.draft(PROMPT, seed=2)
    first, mid, last = _frame(r, 0), _frame(r, 60), _frame(r, 120)
    assert np.abs(first - last).mean() > 0.02
    assert np.abs(first - mid).mean() > 0.01
    # Neighbouring frames are close: motion, not noise.
    assert np.abs(_frame(r, 60) - _frame(r, 61)).mean() < np.abs(first - last).mean()


def test_prompt_words_choose_light_and_setting():
    night = build_scene("a neon city street at night", 1, 64, 36, 121)
    noon = build_scene("a sunny beach at noon", 1, 64, 36, 121)
    assert (night.time_of_day, night.setting) == ("night", "city")
    assert (noon.time_of_day, noon.setting) == ("noon", "water")
    assert noon.frame(10).mean() > 4 * night.frame(10).mean()


# -- size, count, highlights --------------------------------------------------------------------

@pytest.mark.parametrize("aspect,resolution,size", [
    ("16:9", "360p", (640, 360)), ("9:16", "360p", (360, 640)), ("1:1", "720p", (720, 720)),
    ("21:9", "540p", (1260, 540)), ("4:3", "540p", (720, 540)),
])
def test_frames_have_the_request_size(aspect, resolution, size):
    r = ShotRequest(PROMPT, aspect_ratio=aspect, resolution=resolution, seed=1)
    frame = _frame(r, 3)
    assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.float32


@pytest.mark.parametrize("prompt", [PROMPT, "a taxi racing down a neon city street at night",
                                    "lanterns over the desert at sunset"])
def test_scene_linear_frames_carry_highlights_far_above_one(prompt):
    frame = _frame(ShotRequest.draft(prompt, seed=4), 50)
    assert frame.max() > 10.0          # a sun, headlights, lanterns: several stops over white
    assert frame.max() < 200.0
    assert np.median(frame) < 1.0      # ... while most of the picture is ordinary
    assert np.isfinite(frame).all() and frame.min() >= 0.0


def test_the_baked_display_transform_matches_the_exact_one():
    frame = _frame(ShotRequest.draft(PROMPT, seed=4), 50)[::4, ::4].copy()
    exact = colour.exact_to_display(frame, "sdr")
    baked = colour.to_display(frame.copy(), "sdr")
    err = np.abs(exact - baked) * 255
    assert np.percentile(err, 99) < 1.0 and err.max() < 3.0


def test_ycbcr_is_bt709_limited_range():
    code = np.zeros((4, 4, 3), np.float32)
    code[:2] = 1.0                      # white rows
    code[2:, :2] = (1.0, 0.0, 0.0)      # red
    planes = colour.rgb_to_yuv420(code)
    y = planes[:4]
    assert y[0, 0] == 235 and y[2, 2] == 16
    assert y[2, 0] == round(16 + 219 * 0.2126)
    cb, cr = planes[4:].reshape(-1)[:4], planes[4:].reshape(-1)[4:]
    assert cb[0] == 128 and cr[0] == 128          # white: neutral chroma
    assert cr[2] == round(128 + 224 * 0.5)        # red: Cr at its top (240)
    ten = colour.rgb_to_yuv420(code, matrix="2020", bits=10)
    assert ten.dtype == np.uint16 and ten[0, 0] == 940 and ten[2, 2] == 64


# -- the delivered files -------------------------------------------------------------------------

def _encode(tmp_path: Path, hdr: bool, frames: int = 4, size=(128, 72)) -> Path:
    w, h = size
    scene = build_scene(PROMPT, 1, w, h, 121)
    path = tmp_path / ("hdr.mp4" if hdr else "sdr.mp4")
    writer = media.Mp4Writer(path, w, h, hdr=hdr)
    for i in range(frames):
        code = colour.to_display(scene.frame(i * 10), "pq" if hdr else "sdr")
        writer.write(colour.rgb_to_yuv420(code, matrix="2020" if hdr else "709", bits=10 if hdr else 8))
    writer.close()
    return path


def test_sdr_mp4_is_h264_8bit_bt709_limited(tmp_path):
    path = _encode(tmp_path, hdr=False)
    assert path.read_bytes()[4:8] == b"ftyp"
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        assert cc.name == "h264" and cc.pix_fmt == "yuv420p"
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
        assert s.average_rate == 24
        frames = list(c.decode(s))
    assert len(frames) == 4
    assert (frames[0].color_primaries, frames[0].color_trc, frames[0].colorspace) == (1, 1, 1)


def test_hdr_mp4_is_hevc_10bit_bt2020_pq(tmp_path):
    path = _encode(tmp_path, hdr=True)
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.name == "hevc" and cc.pix_fmt == "yuv420p10le"
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (9, 16, 9, 1)
        frames = list(c.decode(video=0))
    y = frames[0].to_ndarray()  # 10-bit planes
    assert len(frames) == 4 and y.max() > 600  # highlights reach well into PQ's HDR range


def test_flat_grey_survives_the_encode_at_the_expected_code(tmp_path):
    w, h = 64, 32
    path = tmp_path / "grey.mp4"
    writer = media.Mp4Writer(path, w, h, hdr=False)
    scene_grey = np.full((h, w, 3), 0.18, np.float32)
    code = colour.to_display(scene_grey.copy())
    for _ in range(3):
        writer.write(colour.rgb_to_yuv420(code))
    writer.close()
    y = _decode(path)[0]
    expected = 16 + 219 * colour.exact_to_display(scene_grey[:1, :1])[0, 0, 1]  # ACES 2.0: 0.18 -> 0.383
    assert abs(float(y.mean()) - expected) < 1.0


def test_exr_zip_members_are_aces2065_half_dwab_with_highlights(tmp_path):
    scene = build_scene(PROMPT, 1, 96, 54, 121)
    path = tmp_path / "g_exr.zip"
    writer = media.ExrZipWriter(path, "g")
    frames = [scene.frame(i) for i in (0, 60)]
    for i, f in enumerate(frames):
        writer.write(i, colour.to_aces2065_half(f))
    writer.close()
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["g.0000.exr", "g.0001.exr"]
        z.extractall(tmp_path / "x")
    exr = tmp_path / "x" / "g.0001.exr"
    assert exr.read_bytes()[:4] == b"\x76\x2f\x31\x01"
    buf = oiio.ImageBuf(str(exr))
    spec = buf.spec()
    assert spec.format == oiio.TypeDesc("half") and spec.nchannels == 3
    assert spec.get_string_attribute("compression").startswith("dwab")
    assert np.allclose(spec.getattribute("chromaticities"), AP0, atol=1e-4)
    assert tuple(spec.getattribute("FramesPerSecond")) == (24, 1)
    pixels = buf.get_pixels(oiio.FLOAT)
    assert pixels.max() > 10.0
    back = colour.aces2065_to_acescg(pixels)
    assert np.percentile(np.abs(back - frames[1]) / (np.abs(frames[1]) + 0.05), 99) < 0.1  # DWAB is lossy


# -- inputs: keyframes, start/end, loop, edit, reframe ---------------------------------------------

def test_keyframe_image_is_the_frame_at_its_index_and_fades_in_and_out(tmp_path):
    png = tmp_path / "key.png"
    image = _pattern_png(png, 640, 360)
    r = ShotRequest.draft(PROMPT, seed=3, keyframes=(Keyframe(48, MediaRef(path=str(png))),))
    r.validate()
    inputs = resolve_inputs(r, 640, 360, generation_frame=None)
    at = colour.to_display(_frame(r, 48, inputs))
    near = colour.to_display(_frame(r, 52, inputs))
    far = colour.to_display(_frame(r, 100, inputs))
    # The frame at the index shows the image (display-match round trip through the baked
    # LUTs: within a few 8-bit codes, most of it the forward bake on these saturated colours).
    assert np.percentile(np.abs(at - image) * 255, 99) < 6
    c_at, c_near, c_far = _corr(at, image), _corr(near, image), _corr(far, image)
    assert c_at > 0.98 and c_at > c_near > c_far and c_far < 0.5


def test_start_and_end_frames_pin_the_first_and_last_frame(tmp_path):
    start, end = tmp_path / "start.png", tmp_path / "end.jpg"
    a = _pattern_png(start, 320, 180)  # smaller than the frame: resized to it
    b = np.ascontiguousarray(a[::-1, ::-1])
    oiio.ImageBuf(b).write(str(end), "uint8")
    r = ShotRequest.draft(PROMPT, seed=1, start_frame=MediaRef(path=str(start)),
                          end_frame=MediaRef(path=str(end)))
    r.validate()
    inputs = resolve_inputs(r, 640, 360, generation_frame=None)
    first = colour.to_display(_frame(r, 0, inputs))
    last = colour.to_display(_frame(r, 120, inputs))
    big_a = media.read_image(start, 640, 360)
    assert np.array_equal(_frame(r, 0, inputs), big_a)
    assert _corr(first[::2, ::2], a) > 0.9 and _corr(last[::2, ::2], b) > 0.9
    assert _corr(last[::2, ::2], a) < _corr(last[::2, ::2], b)


def test_a_loop_ends_on_its_first_frame(tmp_path):
    r = ShotRequest.draft(PROMPT, seed=9, loop=True)
    assert np.array_equal(_frame(r, 0), _frame(r, 120))
    assert not np.array_equal(_frame(r, 0), _frame(r, 60))
    # With a start frame, the loop comes back to that image.
    _pattern_png(tmp_path / "start.png", 640, 360)
    r = ShotRequest.draft(PROMPT, seed=9, loop=True, start_frame=MediaRef(path=str(tmp_path / "start.png")))
    r.validate()
    inputs = resolve_inputs(r, 640, 360, generation_frame=None)
    assert np.array_equal(_frame(r, 120, inputs), inputs.pinned[0])


def test_exr_keyframes_are_read_as_aces2065(tmp_path):
    frame = _frame(ShotRequest.draft(PROMPT, seed=1), 10)
    path = tmp_path / "key.exr"
    spec = oiio.ImageSpec(640, 360, 3, "half")
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP0)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(colour.to_aces2065_half(frame))
    out.close()
    back = media.read_image(path, 640, 360)
    assert np.percentile(np.abs(back - frame) / (frame + 0.05), 99) < 0.02
    assert back.max() > 10


def _source_video(tmp_path: Path, w=128, h=72, frames=30) -> Path:
    """A plate with a bright square moving left to right, tagged BT.709."""
    path = tmp_path / "plate.mp4"
    writer = media.Mp4Writer(path, w, h, hdr=False)
    for i in range(frames):
        code = np.full((h, w, 3), 0.2, np.float32)
        x = 4 + i * (w - 24) // frames
        code[h // 3: h // 3 + 16, x: x + 16] = (0.9, 0.85, 0.3)
        writer.write(colour.rgb_to_yuv420(code))
    writer.close()
    return path


def test_video_edit_restyles_the_source_frames(tmp_path, tiny):
    plate = _source_video(tmp_path)
    r = ShotRequest(PROMPT, type="video_edit", resolution="360p", seed=1,
                    source=MediaRef(path=str(plate)), edit=EditOptions(strength="adhere_1"))
    r.validate()
    frames = list(media.video_frames(plate, 64, 36, 121))
    assert len(frames) == 121
    inputs = resolve_inputs(r, 64, 36, generation_frame=None)
    scene = build_scene(r.prompt, r.seed, 64, 36, 121)
    src = [colour.to_display(next(inputs.source)) for _ in range(20)]  # compared as seen
    out10 = colour.to_display(compose(scene, r, inputs, 10, colour.from_display(src[10].copy())))
    square10, square0 = src[10].mean(-1) > 0.5, src[0].mean(-1) > 0.5
    # The plate's bright square is where the plate has it now, not where it was at frame 0.
    assert out10[square10].mean() > out10[square0 & ~square10].mean() + 0.1
    assert _corr(out10, src[10]) > _corr(out10, src[0]) + 0.2
    assert not np.allclose(out10, src[10])                # ... restyled, not copied


def test_video_reframe_places_the_source_in_its_rectangle(tmp_path, tiny):
    plate = _source_video(tmp_path)
    rect = ReframeRect(0.25, 0.25, 0.5, 0.5)
    r = ShotRequest(PROMPT, type="video_reframe", resolution="360p", seed=1,
                    source=MediaRef(path=str(plate)), source_position=rect)
    r.validate()
    inputs = resolve_inputs(r, 64, 36, generation_frame=None)
    assert inputs.source_rect == (16, 9, 32, 18)
    scene = build_scene(r.prompt, r.seed, 64, 36, 121)
    plate0 = next(inputs.source)
    out = compose(scene, r, inputs, 0, plate0)
    assert np.array_equal(out[9:27, 16:48], plate0)


# -- the backend contract ----------------------------------------------------------------------

def test_create_then_processing_then_completed_with_file_urls_into_the_store(tmp_path, tiny):
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    assert backend.name == "offline" and backend.poll_interval <= 0.25 and backend.max_poll_interval <= 0.5
    rid = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="job-1")
    assert rid.startswith("offline-") and len(rid) == len("offline-") + 32
    record = json.loads((store / rid / "request.json").read_text())
    assert record["job_id"] == "job-1" and record["request"]["prompt"] == PROMPT

    final, seen = _follow(backend, rid)
    assert seen[0].state == "processing"
    assert final.state == "completed" and final.progress == 1.0
    progress = [g.progress for g in seen if g.state == "processing" and g.progress is not None]
    assert progress == sorted(progress) and all(0.0 <= p < 1.0 for p in progress)
    assert [o.type for o in final.outputs] == ["video"]
    mp4 = _path(final.outputs[0].url)
    assert mp4.parent.parent == store / rid and mp4.read_bytes()[4:8] == b"ftyp"
    assert len(_decode(mp4)) == 121
    # Only generation folders and dot-names in the store; nothing half-written anywhere.
    assert [p.name for p in store.iterdir() if not p.name.startswith(".")] == [rid]
    assert not list((store / rid).glob(".render-*"))
    # Every later get is completed at once, with the same files.
    assert backend.get(rid).outputs == final.outputs


def test_hdr_exr_request_delivers_an_mp4_and_one_zip(tmp_path, monkeypatch):
    monkeypatch.setattr(ShotRequest, "frame_size", lambda self: (64, 36))
    backend = OfflineBackend(tmp_path / "offline")
    rid = backend.create(ShotRequest.master(PROMPT, resolution="720p", seed=2), job_id="j")
    final, _ = _follow(backend, rid)
    assert [o.type for o in final.outputs] == ["video", "exr"]
    with zipfile.ZipFile(_path(final.outputs[1].url)) as z:
        assert len(z.namelist()) == 121


def test_reconcile_finds_the_generation_of_a_job_or_proves_there_is_none(tmp_path, tiny):
    backend = OfflineBackend(tmp_path / "offline")
    assert backend.reconcile("job-a") is None  # no store yet: nothing was ever created
    rid = backend.create(ShotRequest.draft(PROMPT), job_id="job-a")
    backend.create(ShotRequest.draft(PROMPT), job_id="job-b")
    (tmp_path / "offline" / ".create-offline-halfdone").mkdir()  # a create killed mid-way
    assert backend.reconcile("job-a") == rid
    assert backend.reconcile("job-c") is None


def test_get_of_an_unknown_generation_is_a_clear_error(tmp_path):
    backend = OfflineBackend(tmp_path / "offline")
    with pytest.raises(BackendError, match="not in the store"):
        backend.get("offline-" + "0" * 32)
    with pytest.raises(BackendError, match="not an offline generation id"):
        backend.get("../etc")


def test_cancelled_follower_stops_the_render_and_leaves_nothing_half_done(tmp_path, tiny):
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    rid = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="j")
    token = CancelToken()
    token.cancel()
    assert backend.get(rid, cancel=token).state == "processing"
    deadline = time.monotonic() + 30
    while backend._renders and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not backend._renders
    assert not (store / rid / "output").exists()
    assert not list((store / rid).glob(".render-*"))
    # Following again (not cancelled) renders it to the end.
    final, _ = _follow(backend, rid)
    assert final.state == "completed"


POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="holds the lock with fcntl and kills with SIGKILL")


@POSIX_ONLY
def test_a_render_locked_by_another_process_is_left_to_it_then_taken_over_when_it_dies(tmp_path, tiny):
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    rid = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="j")
    gen = store / rid
    (gen / ".render-dead").mkdir()
    (gen / ".render-dead" / "half.mp4").write_bytes(b"\0" * 100)
    (gen / ".progress.json").write_text(json.dumps({"progress": 0.5}))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(gen / '.render.lock')!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        g = backend.get(rid)
        assert g.state == "processing" and g.progress == 0.5  # the other renderer's figure
        assert not backend._renders                          # ... and no second render here
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    final, seen = _follow(backend, rid)
    assert final.state == "completed"
    assert not (gen / ".render-dead").exists()  # the dead render's scratch is gone
    assert _decode(_path(final.outputs[0].url))


@pytest.mark.slow
@POSIX_ONLY
def test_a_render_killed_half_way_restarts_and_completes(tmp_path):
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    rid = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="j")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from genplate.core.backends.offline import OfflineBackend
        b = OfflineBackend({str(store)!r})
        while True:
            b.get({rid!r})
            time.sleep(0.1)
    """)])
    try:
        deadline = time.monotonic() + 120
        progress_file = store / rid / ".progress.json"
        while not (progress_file.exists() and json.loads(progress_file.read_text()).get("pid") == child.pid):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        while True:
            g = backend.get(rid)  # meanwhile, this process must not render it too
            assert not backend._renders
            if g.progress and 0.1 < g.progress < 0.9:
                break
            assert g.state == "processing" and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not (store / rid / "output").exists()
    final, seen = _follow(backend, rid)
    assert seen[0].state == "processing" and final.state == "completed"
    assert len(_decode(_path(final.outputs[0].url))) == 121
    assert not list((store / rid).glob(".render-*"))


def test_extend_starts_from_the_earlier_generations_last_frame(tmp_path, tiny):
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    first = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="a")
    _follow(backend, first)
    with pytest.raises(BackendError, match="cannot extend"):
        backend.create(ShotRequest.draft(PROMPT, extend_from="offline-" + "f" * 32), job_id="x")
    second = backend.create(ShotRequest.draft("the balloon rises into clouds", seed=2,
                                              extend_from=first), job_id="b")
    final, _ = _follow(backend, second)
    assert final.state == "completed"
    last_of_first = media.read_exr_frame(store / first / "output" / "last_frame.exr")
    first_of_second = media.read_exr_frame(store / second / "output" / "first_frame.exr")
    assert np.array_equal(last_of_first, first_of_second)
    # Backward: the new clip ends where the earlier one starts.
    before = backend.create(ShotRequest.draft("the balloon rises into clouds", seed=3, extend_from=first,
                                              extend_direction="backward"), job_id="c")
    _follow(backend, before)
    assert np.array_equal(media.read_exr_frame(store / before / "output" / "last_frame.exr"),
                          media.read_exr_frame(store / first / "output" / "first_frame.exr"))


def test_extend_at_another_resolution_resizes_the_earlier_frame(tmp_path, monkeypatch):
    monkeypatch.setattr(ShotRequest, "frame_size",
                        lambda self: (64, 36) if self.resolution == "360p" else (128, 72))
    store = tmp_path / "offline"
    backend = OfflineBackend(store)
    first = backend.create(ShotRequest.draft(PROMPT, seed=1), job_id="a")
    _follow(backend, first)
    second = backend.create(ShotRequest(PROMPT, resolution="540p", seed=1, extend_from=first), job_id="b")
    final, _ = _follow(backend, second)
    assert final.state == "completed", final.failure_reason
    small = media.read_exr_frame(store / first / "output" / "last_frame.exr")
    big = media.read_exr_frame(store / second / "output" / "first_frame.exr")
    assert big.shape == (72, 128, 3)
    assert _corr(big[::2, ::2], small) > 0.9


def test_inputs_it_cannot_read_locally_are_refused_before_anything_exists(tmp_path):
    backend = OfflineBackend(tmp_path / "offline")
    request = ShotRequest.draft(PROMPT, start_frame=MediaRef(url="https://example.com/a.png"))
    with pytest.raises(BackendError, match="start_frame: the offline renderer reads local files only"):
        backend.create(request, job_id="j")
    assert backend.reconcile("j") is None


def test_an_unreadable_input_is_refused_before_anything_exists(tmp_path):
    from genplate.core.request import RequestError

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    backend = OfflineBackend(tmp_path / "offline")
    with pytest.raises(RequestError, match="start_frame=.*broken.png.* is not allowed: a PNG"):
        backend.create(ShotRequest.draft(PROMPT, start_frame=MediaRef(path=str(bad))), job_id="j")
    assert backend.reconcile("j") is None  # the same check as the Luma backend's (inputs.py)


# -- full-size renders ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_360p_draft_renders_121_frames_fast_with_the_keyframe_in_the_mp4(tmp_path):
    png = tmp_path / "key.png"
    image = _pattern_png(png, 640, 360)
    r = ShotRequest.draft(PROMPT, seed=3, keyframes=(Keyframe(48, MediaRef(path=str(png))),))
    t0 = time.perf_counter()
    outputs = render(r, tmp_path / "out", stem="d", generation_frame=None)
    seconds = time.perf_counter() - t0
    assert outputs == [("video", "d.mp4")]
    y = _decode(tmp_path / "out" / "d.mp4")
    assert len(y) == 121 and y[0].shape == (360, 640)
    luma = 0.2126 * image[..., 0] + 0.7152 * image[..., 1] + 0.0722 * image[..., 2]
    assert _corr(y[48], luma) > 0.95 > _corr(y[110], luma)
    assert seconds < 30  # a few seconds on 2 idle cores; generous for a busy CI machine


@pytest.mark.slow
def test_a_10s_request_renders_241_frames(tmp_path, monkeypatch):
    monkeypatch.setattr(ShotRequest, "frame_size", lambda self: (128, 72))
    r = ShotRequest.draft(PROMPT, duration="10s", seed=1)
    render(r, tmp_path / "out", stem="t", generation_frame=None)
    assert len(_decode(tmp_path / "out" / "t.mp4")) == 241


@pytest.mark.slow
def test_a_720p_master_delivers_hdr_mp4_and_aces_exr_zip(tmp_path):
    r = ShotRequest.master("a taxi racing down a neon city street at night", resolution="720p", seed=2)
    render(r, tmp_path / "out", stem="m", generation_frame=None)
    with av.open(str(tmp_path / "out" / "m.mp4")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.pix_fmt, cc.width, cc.height) == ("hevc", "yuv420p10le", 1280, 720)
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (9, 16, 9)
        assert sum(1 for _ in c.decode(video=0)) == 121
    with zipfile.ZipFile(tmp_path / "out" / "m_exr.zip") as z:
        names = z.namelist()
        assert len(names) == 121
        z.extract(names[60], tmp_path / "x")
    buf = oiio.ImageBuf(str(tmp_path / "x" / names[60]))
    assert (buf.spec().width, buf.spec().height) == (1280, 720)
    assert buf.get_pixels(oiio.FLOAT).max() > 10.0

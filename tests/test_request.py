"""Shot requests: every rule of luma-agents-api.md refused before anything is sent, with the field,
the value and what is allowed; prices; the payload the Luma backend sends."""
from __future__ import annotations

import json

import pytest

from genplate.core.request import (EditOptions, Keyframe, MediaRef, ReframeRect, RequestError,
                                   ShotRequest, to_api_payload)


@pytest.fixture
def image(tmp_path):
    """A real PNG: validation decodes every input (core/inputs.py)."""
    from luma_emulator import make_image

    path = tmp_path / "frame.png"
    path.write_bytes(make_image(32, 18, "png"))
    return MediaRef(path=str(path))


@pytest.fixture
def plate(tmp_path):
    """A real 2 s video, so the source-length rules read a real duration."""
    import av
    import numpy as np

    path = tmp_path / "plate.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(48):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 4, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return MediaRef(path=str(path))


def refused(request: ShotRequest) -> RequestError:
    with pytest.raises(RequestError) as err:
        request.validate()
    return err.value


def kf(index, ref):
    return Keyframe(index=index, image=ref)


# -- the plain rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", ["", "   ", "x" * 6001])
def test_prompt_is_1_to_6000_characters(prompt):
    err = refused(ShotRequest(prompt=prompt))
    assert err.field == "prompt" and "6000" in err.allowed


def test_a_6000_character_prompt_is_accepted():
    ShotRequest(prompt="x" * 6000).validate()


@pytest.mark.parametrize("field,value", [
    ("model", "ray-2"), ("type", "image"), ("aspect_ratio", "2:1"),
    ("resolution", "4k"), ("duration", "7s")])
def test_enumerated_fields_name_what_is_allowed(field, value):
    err = refused(ShotRequest(prompt="a cat", **{field: value}))
    assert err.field == field and err.value == value
    assert "one of" in err.allowed
    assert str(err).startswith(f"{field}={value!r}")


@pytest.mark.parametrize("resolution", ["360p", "540p"])
def test_hdr_needs_720p_or_1080p(resolution):
    err = refused(ShotRequest(prompt="a cat", resolution=resolution, hdr=True))
    assert err.field == "hdr" and "720p" in err.allowed and resolution in err.allowed


def test_hdr_is_not_with_loop():
    assert refused(ShotRequest(prompt="a", hdr=True, loop=True)).field == "hdr"


def test_hdr_is_not_for_reframe(plate):
    err = refused(ShotRequest(prompt="a", type="video_reframe", hdr=True, source=plate))
    assert err.field == "hdr" and "reframe" in err.allowed


def test_exr_export_requires_hdr():
    err = refused(ShotRequest(prompt="a", exr_export=True))
    assert err.field == "exr_export" and "hdr" in err.allowed


def test_loop_is_video_only_and_5s_only(plate):
    assert refused(ShotRequest(prompt="a", loop=True, duration="10s")).field == "loop"
    err = refused(ShotRequest(prompt="a", loop=True, type="video_edit", source=plate))
    assert err.field == "loop" and "video" in err.allowed


def test_keyframes_are_1_to_64_on_the_grid(image):
    ShotRequest(prompt="a", keyframes=tuple(kf(i, image) for i in range(64))).validate()
    too_many = ShotRequest(prompt="a", duration="10s", keyframes=tuple(kf(i, image) for i in range(65)))
    assert refused(too_many).field == "keyframes"
    assert refused(ShotRequest(prompt="a", keyframes=(kf(121, image),))).field == "keyframes.index"
    assert refused(ShotRequest(prompt="a", keyframes=(kf(-1, image),))).field == "keyframes.index"
    ShotRequest(prompt="a", duration="10s", keyframes=(kf(240, image),)).validate()
    assert refused(ShotRequest(prompt="a", duration="10s", keyframes=(kf(241, image),))).value == 241


def test_keyframe_indexes_are_unique(image):
    err = refused(ShotRequest(prompt="a", keyframes=(kf(10, image), kf(10, image))))
    assert err.field == "keyframes.index" and err.value == [10]


def test_keyframes_exclude_start_end_frame_and_loop(image):
    assert refused(ShotRequest(prompt="a", keyframes=(kf(5, image),), start_frame=image)).field == "keyframes"
    assert refused(ShotRequest(prompt="a", keyframes=(kf(5, image),), end_frame=image)).field == "keyframes"
    assert refused(ShotRequest(prompt="a", keyframes=(kf(5, image),), loop=True)).field == "keyframes"


def test_keyframes_work_with_10s_and_hdr(image):
    ShotRequest(prompt="a", duration="10s", resolution="1080p", hdr=True, exr_export=True,
                keyframes=(kf(0, image), kf(240, image))).validate()


def test_an_image_ref_has_exactly_one_source(image, tmp_path):
    both = MediaRef(path=image.path, url="https://example.com/a.png")
    assert refused(ShotRequest(prompt="a", start_frame=both)).field == "start_frame"
    assert refused(ShotRequest(prompt="a", start_frame=MediaRef())).field == "start_frame"
    missing = MediaRef(path=str(tmp_path / "nope.png"))
    err = refused(ShotRequest(prompt="a", end_frame=missing))
    assert err.field == "end_frame" and "existing file" in err.allowed
    assert refused(ShotRequest(prompt="a", start_frame=MediaRef(url="ftp://x/y.png"))).field == "start_frame"


def test_extend_is_sdr_one_5s_block_and_takes_the_frame_slot(image):
    ShotRequest(prompt="a", extend_from="gen-1").validate()
    assert refused(ShotRequest(prompt="a", extend_from="gen-1", resolution="720p", hdr=True)).field == "extend_from"
    assert refused(ShotRequest(prompt="a", extend_from="gen-1", duration="10s")).field == "duration"
    assert refused(ShotRequest(prompt="a", extend_from="gen-1", start_frame=image)).field == "start_frame"
    ShotRequest(prompt="a", extend_from="gen-1", start_frame=image, extend_direction="backward").validate()
    assert refused(ShotRequest(prompt="a", extend_from="gen-1", end_frame=image,
                               extend_direction="backward")).field == "end_frame"
    assert refused(ShotRequest(prompt="a", extend_from="gen-1", extend_direction="sideways")).field == "extend_direction"


def test_edit_needs_a_source_of_at_most_18s_and_known_strength_and_controls(plate, image):
    assert refused(ShotRequest(prompt="a", type="video_edit")).field == "source"
    ShotRequest(prompt="a", type="video_edit", source=plate,
                edit=EditOptions(strength="flex_3", controls=("depth", "pose"))).validate()
    assert refused(ShotRequest(prompt="a", type="video_edit", source=plate,
                               edit=EditOptions(strength="loose"))).field == "edit.strength"
    assert refused(ShotRequest(prompt="a", type="video_edit", source=plate,
                               edit=EditOptions(controls=("depth", "depth")))).field == "edit.controls"
    assert refused(ShotRequest(prompt="a", type="video_edit", source=plate,
                               edit=EditOptions(controls=("colour",)))).field == "edit.controls"
    assert refused(ShotRequest(prompt="a", type="video_edit", source=plate,
                               start_frame=image)).field == "start_frame"
    assert refused(ShotRequest(prompt="a", edit=EditOptions())).field == "edit"


def test_a_source_longer_than_the_limit_is_refused_with_its_length(plate, monkeypatch):
    from genplate.core import request as R

    monkeypatch.setattr(R, "_video_seconds", lambda path: 19.5)
    err = refused(ShotRequest(prompt="a", type="video_edit", source=plate))
    assert err.field == "source" and err.value == "19.5 s" and "18 s" in err.allowed
    ShotRequest(prompt="a", type="video_reframe", source=plate).validate()  # 30 s for reframe
    monkeypatch.setattr(R, "_video_seconds", lambda path: 31.0)
    assert "30 s" in refused(ShotRequest(prompt="a", type="video_reframe", source=plate)).allowed


def test_the_real_plate_duration_is_read(plate):
    from genplate.core.request import _video_seconds

    assert _video_seconds(plate.path) == pytest.approx(2.0, abs=0.1)


def test_reframe_rectangle_and_its_1080p_rule(plate):
    ok = ShotRequest(prompt="a", type="video_reframe", source=plate,
                     source_position=ReframeRect(0.1, 0.0, 0.8, 1.0))
    ok.validate()
    outside = ShotRequest(prompt="a", type="video_reframe", source=plate,
                          source_position=ReframeRect(0.5, 0.0, 0.8, 1.0))
    assert refused(outside).field == "source_position"
    negative = ShotRequest(prompt="a", type="video_reframe", source=plate,
                           source_position=ReframeRect(-0.1, 0.0, 0.5, 0.5))
    assert refused(negative).field == "source_position.x_norm"
    tall = ShotRequest(prompt="a", type="video_reframe", source=plate, resolution="1080p",
                       aspect_ratio="9:16")
    assert refused(tall).field == "resolution"
    assert refused(ShotRequest(prompt="a", source_position=ReframeRect(0, 0, 1, 1))).field == "source_position"


def test_seed_is_a_whole_number():
    assert refused(ShotRequest(prompt="a", seed=-3)).field == "seed"


# -- tiers, sizes, prices -----------------------------------------------------------------------

def test_draft_and_master_tiers():
    draft = ShotRequest.draft("a cat")
    assert (draft.resolution, draft.hdr, draft.quality) == ("360p", False, "draft")
    master = ShotRequest.master("a cat")
    assert (master.resolution, master.hdr, master.exr_export, master.quality) == ("1080p", True, True, "master")
    assert ShotRequest.master("a cat", resolution="720p", exr=False).quality == "master"
    with pytest.raises(RequestError):
        ShotRequest.master("a cat", resolution="540p")


@pytest.mark.parametrize("aspect,resolution,size", [
    ("16:9", "360p", (640, 360)), ("16:9", "1080p", (1920, 1080)), ("9:16", "360p", (360, 640)),
    ("1:1", "720p", (720, 720)), ("21:9", "1080p", (2520, 1080)), ("4:3", "540p", (720, 540)),
    ("3:4", "720p", (720, 960))])
def test_frame_size_follows_resolution_and_aspect(aspect, resolution, size):
    assert ShotRequest(prompt="a", aspect_ratio=aspect, resolution=resolution).frame_size() == size


def test_frame_count_is_the_24fps_grid():
    assert ShotRequest(prompt="a").frame_count == 121
    assert ShotRequest(prompt="a", duration="10s").frame_count == 241


@pytest.mark.parametrize("fields,usd", [
    (dict(resolution="360p"), 0.06), (dict(resolution="360p", duration="10s"), 0.18),
    (dict(resolution="540p"), 0.15), (dict(resolution="720p", duration="10s"), 0.90),
    (dict(resolution="1080p"), 1.20), (dict(resolution="1080p", duration="10s"), 3.60),
    (dict(resolution="720p", hdr=True), 0.60), (dict(resolution="720p", hdr=True, exr_export=True), 0.90),
    (dict(resolution="1080p", hdr=True), 2.40), (dict(resolution="1080p", hdr=True, exr_export=True), 3.60)])
def test_estimates_follow_the_price_table(fields, usd):
    estimate = ShotRequest(prompt="a", **fields).estimate()
    assert estimate.usd == pytest.approx(usd)
    assert "ray-3.2" in estimate.basis


def test_an_unpublished_price_is_extrapolated_and_says_so():
    estimate = ShotRequest(prompt="a", resolution="1080p", hdr=True, duration="10s").estimate()
    assert estimate.usd == pytest.approx(7.20) and "extrapolated" in estimate.basis


# -- serialisation and payload --------------------------------------------------------------------

def test_json_round_trip_keeps_every_field(image, plate):
    request = ShotRequest(prompt="a", type="video_edit", source=plate, seed=4, user_id="u1",
                          edit=EditOptions(strength="reimagine_1", controls=("pose",),
                                           keyframes=(kf(3, image),)))
    again = ShotRequest.from_json(json.loads(json.dumps(request.to_json())))
    assert again == request


def test_input_hashes_name_each_role(image):
    request = ShotRequest(prompt="a", keyframes=(kf(0, image), kf(60, image)))
    hashes = request.input_hashes()
    assert set(hashes) == {"keyframe:0", "keyframe:60"} and len(hashes["keyframe:0"]) == 64


def test_payload_carries_every_video_field(image):
    resolved = []

    def resolve(ref):
        resolved.append(ref.path)
        return {"data": "AAAA", "media_type": "image/png"}

    request = ShotRequest(prompt="  a lighthouse  ", resolution="1080p", duration="10s", hdr=True,
                          exr_export=True, aspect_ratio="21:9",
                          keyframes=(kf(120, image), kf(0, image)))
    body = to_api_payload(request, resolve)
    assert body["prompt"] == "a lighthouse" and body["model"] == "ray-3.2" and body["type"] == "video"
    assert body["aspect_ratio"] == "21:9"
    video = body["video"]
    assert video["resolution"] == "1080p" and video["duration"] == "10s"
    assert video["hdr"] is True and video["exr_export"] is True and "loop" not in video
    assert video["keyframe_indexes"] == [0, 120] and len(video["keyframes"]) == 2
    assert resolved == [image.path, image.path]


def test_payload_extends_by_generation_id():
    forward = to_api_payload(ShotRequest(prompt="a", extend_from="gen-9"), lambda r: {})
    assert forward["video"]["start_frame"] == {"generation_id": "gen-9"}
    backward = to_api_payload(ShotRequest(prompt="a", extend_from="gen-9", extend_direction="backward"),
                              lambda r: {})
    assert backward["video"]["end_frame"] == {"generation_id": "gen-9"} and "start_frame" not in backward["video"]


def test_payload_for_edit_and_reframe(plate):
    edit = to_api_payload(ShotRequest(prompt="a", type="video_edit", source=MediaRef(file_id="f1"),
                                      edit=EditOptions(strength="adhere_3", auto_controls=True)),
                          lambda r: {})
    assert edit["source"] == {"file_id": "f1"} and edit["video"]["edit"]["strength"] == "adhere_3"
    assert edit["video"]["edit"]["auto_controls"] is True and "aspect_ratio" not in edit
    reframe = to_api_payload(ShotRequest(prompt="a", type="video_reframe", source=MediaRef(url="https://x/p.mp4"),
                                         aspect_ratio="9:16", resolution="720p",
                                         source_position=ReframeRect(0, 0.25, 1, 0.5)), lambda r: {})
    assert reframe["video"]["source_position"] == {"x_norm": 0, "y_norm": 0.25, "w_norm": 1, "h_norm": 0.5}
    assert reframe["aspect_ratio"] == "9:16"


def test_a_refused_request_never_becomes_a_payload():
    with pytest.raises(RequestError):
        to_api_payload(ShotRequest(prompt="a", resolution="360p", hdr=True), lambda r: {})

"""The annotation conversion: strokes on a frame -> keyframes and prompt directions (pure)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genplate.core.review.annotate import (AnnotationError, Stroke, in_force, keyframe_indexes,
                                           propose, strokes_from_json, strokes_to_json)

W, H = 160, 90
RED = np.array([230, 20, 20], np.uint8)


def frame_with_subject(x: float = 0.2, y: float = 0.5, size: float = 0.07) -> np.ndarray:
    """A dark blue-grey gradient with a red disc subject centred at (x, y), radius in heights."""
    xx = np.linspace(40, 80, W, dtype=np.float32)
    frame = np.zeros((H, W, 3), np.uint8)
    frame[...] = np.stack([xx * 0.6, xx * 0.8, xx], axis=-1)[None].astype(np.uint8)
    yy, gx = np.mgrid[0:H, 0:W]
    frame[np.hypot(gx - x * W, yy - y * H) <= size * H] = RED
    return frame


def red_centre(image: np.ndarray) -> tuple[float, float] | None:
    mask = (image[..., 0] > 150) & (image[..., 1] < 90)
    if mask.sum() < 20:
        return None
    ys, xs = np.nonzero(mask)
    return xs.mean() / W, ys.mean() / H


def arrow(x0, y0, x1, y1):
    return Stroke("arrow", ((x0, y0), (x1, y1)))


def test_an_arrow_moves_the_subject_along_it_at_later_keyframes():
    frame = frame_with_subject()
    p = propose([arrow(0.2, 0.5, 0.8, 0.5)], frame, "a red box on a table")
    assert [k.index for k in p.keyframes] == [0, 60, 120]
    assert p.keyframes[0].image is not frame and np.array_equal(p.keyframes[0].image, frame)
    for kf, expected_x in zip(p.keyframes[1:], (0.5, 0.8)):
        assert kf.image.shape == frame.shape and kf.image.dtype == np.uint8
        cx, cy = red_centre(kf.image)
        assert cx == pytest.approx(expected_x, abs=0.03) and cy == pytest.approx(0.5, abs=0.03)
        # the subject left its old place: no red remains there
        assert red_centre(kf.image[:, :int(0.35 * W)].copy()) is None or expected_x < 0.6
    end = p.keyframes[-1].image
    assert (end[40:50, 25:40, 0] < 150).all()  # the hole is filled from the background
    assert [d.text for d in p.directions] == ["the subject moves left to right across the frame"]
    assert p.prompt == "a red box on a table. The subject moves left to right across the frame."


@pytest.mark.parametrize("stroke, words", [
    (arrow(0.8, 0.5, 0.2, 0.5), "moves right to left across the frame"),
    (arrow(0.5, 0.8, 0.5, 0.2), "rises"),
    (arrow(0.5, 0.2, 0.5, 0.8), "descends"),
    (arrow(0.3, 0.7, 0.6, 0.3), "rises toward the upper right"),
    (arrow(0.5, 0.5, 0.7, 0.5), "moves to the right"),
])
def test_directions_name_the_motion(stroke, words):
    p = propose([stroke], frame_with_subject(), "x")
    assert p.directions[0].text == f"the subject {words}"


def test_a_pin_names_the_subject_an_arrow_moves():
    strokes = [Stroke("pin", ((0.21, 0.52),), radius=0.15, label="the red kite"),
               arrow(0.2, 0.5, 0.5, 0.1)]
    p = propose(strokes, frame_with_subject(), "a kite festival")
    assert [d.text for d in p.directions] == ["the red kite rises toward the upper right"]
    assert p.directions[0].strokes == (1, 0)


def test_a_pin_without_an_arrow_stays_in_place_and_adds_no_motion_keyframes():
    p = propose([Stroke("pin", ((0.7, 0.3),), label="the moon")], frame_with_subject(), "night")
    assert [d.text for d in p.directions] == ["the moon stays in place"]
    assert [k.index for k in p.keyframes] == [0]


def test_several_subjects_are_told_apart_by_place():
    p = propose([arrow(0.15, 0.2, 0.45, 0.2), arrow(0.85, 0.85, 0.85, 0.55)],
                frame_with_subject(), "x")
    assert [d.text for d in p.directions] == [
        "the subject at the upper left moves to the right",
        "the subject at the lower right rises"]


def test_an_outward_radial_set_is_the_camera_pushing_in():
    c = 0.5
    strokes = [arrow(c - 0.15, c, c - 0.35, c), arrow(c + 0.15, c, c + 0.35, c),
               arrow(c, c - 0.15, c, c - 0.35), arrow(c, c + 0.15, c, c + 0.35)]
    frame = frame_with_subject(0.5, 0.5, 0.1)
    p = propose(strokes, frame, "a red box")
    assert p.camera == "camera pushes in"
    assert [d.text for d in p.directions] == ["camera pushes in"]
    # the frame is zoomed: the red square grows and stays centred
    start = (frame[..., 0] > 150).sum()
    end_img = p.keyframes[-1].image
    assert (end_img[..., 0] > 150).sum() > 2.5 * start
    assert red_centre(end_img) == pytest.approx((0.5, 0.5), abs=0.03)


def test_an_inward_set_pulls_back_and_parallel_arrows_pan():
    inward = [arrow(0.1, 0.5, 0.3, 0.5), arrow(0.9, 0.5, 0.7, 0.5), arrow(0.5, 0.05, 0.5, 0.3)]
    assert propose(inward, frame_with_subject(), "x").camera == "camera pulls back"
    parallel = [arrow(0.8, 0.2, 0.6, 0.2), arrow(0.8, 0.5, 0.6, 0.5), arrow(0.8, 0.9, 0.6, 0.9)]
    p = propose(parallel, frame_with_subject(), "x")
    assert p.camera == "camera pans right"  # everything slides left: the camera pans right
    cx, _ = red_centre(p.keyframes[-1].image)
    assert cx == pytest.approx(0.2 - 0.2, abs=0.05)


def test_arrows_turning_about_a_point_roll_the_camera():
    # content turning clockwise on screen (y down): the camera rolls counter-clockwise
    strokes = [arrow(0.7, 0.5, 0.7, 0.7), arrow(0.5, 0.8, 0.3, 0.8), arrow(0.3, 0.5, 0.3, 0.3),
               arrow(0.5, 0.2, 0.7, 0.2)]
    assert propose(strokes, frame_with_subject(), "x").camera == "camera rolls counter-clockwise"


def test_freehand_paths_curve_and_loop():
    curve = Stroke("freehand", ((0.1, 0.8), (0.3, 0.3), (0.5, 0.2), (0.7, 0.3), (0.9, 0.8)))
    p = propose([curve], frame_with_subject(0.1, 0.8), "x")
    assert p.directions[0].text == "the subject moves left to right across the frame along a curving path"
    # halfway along the path (by length) the subject is at the top of the arc
    cx, cy = red_centre(p.keyframes[1].image)
    assert cx == pytest.approx(0.5, abs=0.06) and cy < 0.35
    loop = Stroke("freehand", ((0.5, 0.5), (0.7, 0.3), (0.9, 0.5), (0.7, 0.7), (0.52, 0.52)))
    assert propose([loop], frame_with_subject(), "x").directions[0].text == \
        "the subject circles around and comes back"


def test_erase_removes_the_strokes_it_touches_and_undo_is_the_callers_list():
    strokes = [arrow(0.2, 0.5, 0.8, 0.5), arrow(0.5, 0.9, 0.5, 0.6),
               Stroke("erase", ((0.5, 0.5),), radius=0.02)]
    kept = in_force(strokes)
    assert [i for i, _ in kept] == [1]
    p = propose(strokes, frame_with_subject(), "x")
    assert [d.text for d in p.directions] == ["the subject rises"]
    assert len(p.strokes) == 1
    # an undo drops the eraser: both arrows are back
    assert len(propose(strokes[:-1], frame_with_subject(), "x").directions) == 2


def test_directions_are_editable_before_sending():
    p = propose([arrow(0.2, 0.5, 0.8, 0.5)], frame_with_subject(), "a red box.")
    p.directions[0] = p.directions[0].__class__("the box slides slowly to the right", (0,))
    assert p.prompt == "a red box. The box slides slowly to the right."
    from dataclasses import replace
    p.directions[0] = replace(p.directions[0], enabled=False)
    assert p.prompt == "a red box."


def test_strokes_round_trip_through_json_and_bad_ones_are_named():
    strokes = [arrow(0.1, 0.2, 0.3, 0.4), Stroke("pin", ((0.5, 0.5),), 0.1, "the dog"),
               Stroke("erase", ((0.9, 0.9),), 0.05)]
    data = json.loads(json.dumps(strokes_to_json(strokes)))
    assert strokes_from_json(data) == strokes
    # a drag off the canvas is clamped into the frame
    assert strokes_from_json([{"kind": "arrow", "points": [[-0.2, 0.5], [1.3, 0.5]]}])[0].points == \
        ((0.0, 0.5), (1.0, 0.5))
    with pytest.raises(AnnotationError, match="stroke 0: kind 'circle'"):
        strokes_from_json([{"kind": "circle", "points": [[0, 0]]}])
    with pytest.raises(AnnotationError, match="stroke 1: a arrow needs at least 2"):
        strokes_from_json([data[0], {"kind": "arrow", "points": [[0.1, 0.1]]}])
    with pytest.raises(AnnotationError, match="not a number"):
        strokes_from_json([{"kind": "pin", "points": [["nan", 0.1]]}])


def test_proposal_json_carries_no_pixels():
    p = propose([arrow(0.2, 0.5, 0.8, 0.5)], frame_with_subject(), "x", duration="10s", steps=3)
    assert [k.index for k in p.keyframes] == [0, 80, 160, 240]
    data = p.to_json(keyframe_paths=[f"/k/{k.index}.png" for k in p.keyframes])
    json.dumps(data)
    assert data["keyframes"][1] == {"index": 80, "note": "subjects 33% along their paths",
                                    "path": "/k/80.png"}
    assert data["strokes"] == strokes_to_json(p.strokes)
    assert keyframe_indexes(2) == [60, 120]


def test_float_frames_stay_float_and_taps_are_not_moves():
    frame = frame_with_subject().astype(np.float32) / 255.0
    p = propose([arrow(0.2, 0.5, 0.8, 0.5)], frame, "x")
    assert p.keyframes[-1].image.dtype == np.float32
    tap = propose([arrow(0.5, 0.5, 0.505, 0.5)], frame, "x")
    assert tap.directions == [] and [k.index for k in tap.keyframes] == [0]
    with pytest.raises(AnnotationError):
        propose([], np.zeros((10,), np.uint8), "x")


def test_the_annotate_command_writes_keyframes_and_prints_the_proposal(tmp_path, capsys):
    """What the panel calls: strokes file + grabbed frame in, keyframe PNGs and prompt out."""
    import OpenImageIO as oiio

    from genplate.core.cli import main as cli
    from genplate.core.review.contact_sheet import write_png

    frame = write_png(tmp_path / "grab.png", frame_with_subject())
    strokes = tmp_path / "strokes.json"
    strokes.write_text(json.dumps([{"kind": "pin", "points": [[0.2, 0.5]], "label": "the red ball"},
                                   {"kind": "arrow", "points": [[0.2, 0.5], [0.8, 0.5]]}]))
    code = cli.main(["annotate", str(frame), "--strokes", str(strokes), "--prompt", "a ball",
                     "--out", str(tmp_path / "kf"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["prompt"] == "a ball. The red ball moves left to right across the frame."
    assert [k["index"] for k in out["keyframes"]] == [0, 60, 120]
    assert out["keyframe_args"][2] == f"120={out['keyframes'][2]['path']}"
    end = oiio.ImageBuf(out["keyframes"][2]["path"]).get_pixels(oiio.UINT8)
    assert red_centre(end)[0] == pytest.approx(0.8, abs=0.03)
    assert out["strokes"][0]["label"] == "the red ball"
    # the strokes in force, saved for the take (what `submit --strokes` would carry)
    assert strokes_from_json(json.loads(Path(out["strokes_file"]).read_text())) == \
        strokes_from_json(out["strokes"])
    strokes.write_text(json.dumps([{"kind": "lasso", "points": [[0, 0]]}]))
    assert cli.main(["annotate", str(frame), "--strokes", str(strokes), "--out",
                     str(tmp_path / "kf"), "--json"]) == 2
    assert "kind 'lasso'" in json.loads(capsys.readouterr().out)["error"]


def test_a_burst_from_one_point_pushes_in_toward_it():
    strokes = [arrow(0.8, 0.25, 0.95, 0.25), arrow(0.8, 0.25, 0.8, 0.05), arrow(0.8, 0.25, 0.65, 0.3)]
    p = propose(strokes, frame_with_subject(), "x")
    assert p.camera == "camera pushes in toward the upper right"

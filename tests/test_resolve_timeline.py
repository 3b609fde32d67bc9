"""A new Resolve timeline from a set of takes, built through the scripting API and checked.

OTIO image-sequence references do not import into Resolve (ynput/ayon-core PR #44; the fake
refuses them), so the takes come in the way a single insert does: one ImportMedia sequence
clip each, then AppendToTimeline onto a new timeline, every placement read back.
"""
from __future__ import annotations

import json

import pytest

from fake_resolve import FakeResolve
from genplate.resolve import insert as I
from genplate.resolve import takes_timeline as T
from test_resolve_insert import make_take


@pytest.fixture
def resolve():
    r = FakeResolve()
    r.project.add_timeline("Edit 1")
    return r


def test_a_timeline_of_takes_end_to_end_with_every_frame(resolve, tmp_path):
    takes = [make_take(tmp_path, version=1, latest=False),
             make_take(tmp_path, version=2, last=1012),
             make_take(tmp_path, name="pier", version=1)]
    resolve.project.add_timeline("genplate sh010")  # the name is taken: the new one is (2)
    result = T.timeline_from_takes(resolve.project, takes, "genplate sh010",
                                   resolve_version=resolve.GetVersion())
    assert result["timeline"] == "genplate sh010 (2)"
    assert result["clips"] == 3 and result["takes"] == 3 and result["warnings"] == []
    timeline = resolve.project.timelines[-1]
    assert resolve.project.current is timeline  # AppendToTimeline works on the current one
    items = timeline.tracks[0]
    assert [i.duration for i in items] == [24, 12, 24]
    assert [i.start for i in items] == [86400, 86424, 86436]  # butt-joined from the start
    clips = [i.GetMediaPoolItem() for i in items]
    assert [I.read_provenance(c)["version"] for c in clips] == ["1", "2", "1"]
    assert [c.props["Input Color Space"] for c in clips] == ["ACEScg"] * 3
    assert [i.colour for i in items] == ["Orange", "Green", "Green"]
    assert not resolve.world.called("ImportTimelineFromFile")


def test_takes_already_in_the_media_pool_are_reused(resolve, tmp_path):
    take = make_take(tmp_path)
    I.insert_take(resolve.project, take, on_timeline=False)
    T.timeline_from_takes(resolve.project, [take], "genplate sh010")
    assert len(resolve.world.called("ImportMedia")) == 1


def test_bad_takes_are_refused_before_anything_is_made(resolve, tmp_path):
    good, missing = make_take(tmp_path), make_take(tmp_path, version=2, frames=False)
    with pytest.raises(I.InsertError, match="is missing"):
        T.timeline_from_takes(resolve.project, [good, missing], "t")
    with pytest.raises(I.InsertError, match="at least one take"):
        T.timeline_from_takes(resolve.project, [], "t")
    assert len(resolve.project.timelines) == 1 and not resolve.world.called("ImportMedia")


def test_a_placement_resolve_refuses_is_an_error(resolve, tmp_path):
    resolve.world.refuse_append = True
    with pytest.raises(I.PlacementError, match="did not place sh010/castle v001"):
        T.timeline_from_takes(resolve.project, [make_take(tmp_path)], "t")


def test_the_fake_refuses_otio_image_sequences_as_recorded(resolve, tmp_path):
    """The reason this module exists: a .otio of image-sequence references does not come in."""
    path = tmp_path / "t.otio"
    path.write_text(json.dumps({"OTIO_SCHEMA": "Timeline.1", "tracks": {"children": [{
        "children": [{"OTIO_SCHEMA": "Clip.2", "source_range": {"duration": {"value": 24}},
                      "media_references": {"DEFAULT_MEDIA": {
                          "OTIO_SCHEMA": "ImageSequenceReference.1",
                          "target_url_base": f"file://{tmp_path}/", "name_prefix": "a.",
                          "name_suffix": ".exr", "frame_zero_padding": 4}},
                      "active_media_reference_key": "DEFAULT_MEDIA"}]}]}}))
    pool = resolve.project.media_pool
    assert pool.ImportTimelineFromFile(str(path), {"timelineName": "x"}) is None
    resolve.world.otio_image_sequences = "offline"
    timeline = pool.ImportTimelineFromFile(str(path), {"timelineName": "x"})
    assert timeline.tracks[0][0].GetMediaPoolItem().GetClipProperty("File Path") == ""

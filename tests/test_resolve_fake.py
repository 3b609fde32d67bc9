"""The Resolve fake is held to fusionscript-stubs, so genplate's calls are the documented API."""
from __future__ import annotations

import inspect

import pytest

from fake_resolve import (FAKE_CLASSES, FakeResolve, StubMismatch, check_call, public_methods,
                          stub_literal, stub_signatures)


def _fake_arity(fn) -> tuple[int, float]:
    fn = inspect.unwrap(fn)
    params = list(inspect.signature(fn).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return sum(p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD for p in params), \
            float("inf")
    required = sum(p.default is p.empty for p in params)
    return required, float(len(params))


def test_stubs_are_found_and_hold_the_classes_genplate_uses():
    table = stub_signatures()
    for name in ("Resolve", "ProjectManager", "Project", "MediaStorage", "MediaPool", "Folder",
                 "MediaPoolItem", "Timeline", "TimelineItem"):
        assert table[name], name
    assert "ImportMedia" in table["MediaPool"] and "AddTake" in table["TimelineItem"]


@pytest.mark.parametrize("cls", FAKE_CLASSES, ids=lambda c: c.__name__)
def test_every_fake_method_exists_in_the_stubs_with_a_compatible_arity(cls):
    stub = stub_signatures()[cls.stub_class]
    for name in public_methods(cls):
        assert name in stub, f"{cls.stub_class}.{name} is not in fusionscript-stubs"
        lo, hi = _fake_arity(vars(cls)[name])
        assert any(lo <= s_hi and s_lo <= hi for s_lo, s_hi in stub[name]), \
            f"{cls.stub_class}.{name}: fake takes {lo}..{hi} arguments, stubs {stub[name]}"


def test_the_check_refuses_undocumented_calls():
    resolve = FakeResolve()
    timeline = resolve.project.add_timeline()
    with pytest.raises(StubMismatch, match="keyword"):
        timeline.GetItemListInTrack(kind="video", index=1)
    with pytest.raises(StubMismatch, match="argument"):
        timeline.GetItemListInTrack("video")
    with pytest.raises(StubMismatch, match="not in fusionscript-stubs"):
        check_call("MediaPool", "ImportSequence", ("x",), {})
    # Optional[...] trailing parameters may be left out, as Resolve's README says.
    check_call("TimelineItem", "AddTake", ("clip",), {})
    check_call("MediaPoolItem", "GetClipProperty", (), {})
    with pytest.raises(StubMismatch):
        check_call("TimelineItem", "AddTake", (), {})


def test_calls_are_recorded():
    resolve = FakeResolve()
    resolve.GetProjectManager().GetCurrentProject().GetMediaPool().GetRootFolder()
    assert [m for _c, m, _a in resolve.world.calls] == [
        "GetProjectManager", "GetCurrentProject", "GetMediaPool", "GetRootFolder"]


def test_clip_colours_come_from_the_stub_literal():
    colours = stub_literal("ColorSet1")
    assert "Green" in colours and "Orange" in colours and "Rose" not in colours

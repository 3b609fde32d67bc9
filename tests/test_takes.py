"""Takes and versions: names, reservations that never collide (threads and processes), resumed
reservations, atomic publishing, and finding takes again (core/takes/)."""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.takes import layout, take as T, versions as V
from genplate.core.takes.layout import TakeError


# -- fake takes (tiny EXR frames + take.json, written the way the job runner publishes) --------

def _write_image(path: Path, width: int, height: int, value: float, fmt: str = "half") -> None:
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    spec = oiio.ImageSpec(width, height, 3, fmt)
    assert out.open(str(path), spec), out.geterror()
    pixels = np.full((height, width, 3), value, dtype=np.float32)
    assert out.write_image(pixels if fmt != "uint8" else (pixels * 255).astype(np.uint8))
    out.close()


def fake_record(staging: V.Staging, *, first: int, count: int, width: int, height: int,
                prompt: str, colorspace: str = "ACEScg", kind: str = "draft",
                request_extra: dict | None = None, size_known: bool = True) -> dict:
    frames = {"first": first, "last": first + count - 1, "count": count, "fps": 24,
              "pattern": staging.pattern}
    if size_known:
        frames.update(width=width, height=height)
    return {
        "schema": "genplate.take/1", "shot": staging.shot, "name": staging.name,
        "version": staging.version, "kind": kind, "job_id": staging.job_id,
        "backend": "offline", "remote_id": f"off-{staging.job_id}",
        "request": {"prompt": prompt, "model": "ray-3.2", "type": "video", "resolution": "360p",
                    "aspect_ratio": "16:9", "duration": "5s", "hdr": False, "seed": 7,
                    **(request_extra or {})},
        "inputs": {}, "estimate_usd": 0.0,
        "times": {"queued": "2026-11-24T20:00:00+00:00", "published": "2026-11-24T20:01:00+00:00"},
        "engine": {"name": "genplate", "version": "0.1.0"},
        "frames": frames,
        "colour": {"config": "ocio://studio-config-latest", "working_space": colorspace,
                   "source_kind": "sdr-rec709", "sdr_mode": "display-match"},
        "sources": [{"path": "/data/jobs/x/delivery/video.mp4", "kind": "mp4", "bytes": 10,
                     "sha256": "0" * 64}],
        "exr": {"compression": "zip:1", "pixel_type": "half"},
        "thumbnail": "thumbnail.png", "parent": None, "strokes": None, "scores": None,
    }


_job_counter = iter(range(1, 10**6))


def publish_fake_take(root: Path, shot: str = "sh010", name: str = "desert_road", *,
                      job_id: str | None = None, first: int = 1001, count: int = 2,
                      width: int = 8, height: int = 4, prompt: str = "a desert road at dusk",
                      **record_kw) -> T.Take:
    """Reserve, write frames and a thumbnail into staging, and commit: a real published take."""
    job_id = job_id or f"j{next(_job_counter):015x}"
    staging = V.reserve(root, shot, name, job_id)
    for frame in range(first, first + count):
        _write_image(staging.frame_path(frame), width, height, 0.18 * (frame - first + 1))
    _write_image(staging.thumbnail_path, 4, 2, 0.5, "uint8")
    record = fake_record(staging, first=first, count=count, width=width, height=height,
                         prompt=prompt, **record_kw)
    return V.commit(staging, record)


# -- slug ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, expected", [
    ("sunset over a desert highway, heat haze, a truck passing", "sunset_desert_highway"),
    ("A RED Balloon", "red_balloon"),
    ("Ça fait très chaud à Noël", "ca_fait_tres"),
    ("supercalifragilisticexpialidocious is long", "supercalifragilisticexpi"),
    ("the of a", "the_of_a"),
    ("", "take"),
    ("!!! ??? 东京", "take"),
    ("shot 42: drone over neon city", "shot_42_drone"),
])
def test_slug_makes_short_ascii_take_names(prompt, expected):
    name = layout.slug(prompt)
    assert name == expected
    assert len(name) <= 24
    assert layout.validate_name("take", name) == name


# -- reserving ------------------------------------------------------------------------------------

def test_versions_increase_and_stay_hidden_until_published(tmp_path):
    first = V.reserve(tmp_path, "sh010", "road", "jA")
    assert first.version == 1
    assert first.dir == tmp_path / "sh010" / "road" / ".v001.jA.staging" and first.dir.is_dir()
    assert first.final_dir == tmp_path / "sh010" / "road" / "v001"
    assert first.basename == "road_v001"
    assert first.pattern == str(tmp_path / "sh010" / "road" / "v001" / "road_v001.%04d.exr")
    assert first.frame_path(1001) == first.dir / "road_v001.1001.exr"
    assert first.frame_path(7, ext="png") == first.dir / "road_v001.0007.png"
    assert first.thumbnail_path == first.dir / "thumbnail.png"

    # Another job while the first is still ingesting: the reservation counts.
    second = V.reserve(tmp_path, "sh010", "road", "jB")
    assert second.version == 2
    assert T.list_takes(tmp_path) == []
    V.commit(first, {"frames": {"first": 1001, "last": 1001}})
    third = V.reserve(tmp_path, "sh010", "road", "jC")
    assert third.version == 3
    # Other names and shots have their own numbering.
    assert V.reserve(tmp_path, "sh010", "other", "jD").version == 1
    assert V.reserve(tmp_path, "sh020", "road", "jE").version == 1


def test_a_stale_reservation_of_another_job_is_counted_and_left_alone(tmp_path):
    stale = V.reserve(tmp_path, "sh010", "road", "jdead")
    (stale.dir / "road_v001.1001.exr").write_bytes(b"half written")
    fresh = V.reserve(tmp_path, "sh010", "road", "jnew")
    assert fresh.version == 2
    assert (stale.dir / "road_v001.1001.exr").exists()  # only the ledger may delete it
    found = V.list_reservations(tmp_path)
    assert [(r.shot, r.name, r.version, r.job_id) for r in found] == [
        ("sh010", "road", 1, "jdead"), ("sh010", "road", 2, "jnew")]
    V.release(found[0])
    assert not stale.dir.exists() and fresh.dir.exists()


def test_a_resumed_job_gets_its_own_reservation_back_emptied(tmp_path):
    staging = V.reserve(tmp_path, "sh010", "road", "jA")
    other = V.reserve(tmp_path, "sh010", "road", "jB")
    staging.frame_path(1001).write_bytes(b"frame from the killed attempt")
    (staging.dir / "sub").mkdir()
    (staging.dir / "sub" / "x").write_text("x")
    again = V.reserve(tmp_path, "sh010", "road", "jA")
    assert again == staging and again.version == 1
    # The killed attempt's work is gone; only the fresh stamp of who holds it now remains.
    assert [p.name for p in again.dir.iterdir()] == [V.STAMP]
    assert again.dir.joinpath(V.STAMP).read_text().count('"jA"') == 1
    assert other.dir.is_dir() and V.reserve(tmp_path, "sh010", "road", "jB").version == 2


def _reserve_many(args):
    root, barrier, worker, per_worker = args
    versions = []
    barrier.wait(timeout=30)
    for i in range(per_worker):
        versions.append(V.reserve(root, "sh010", "race", f"j{worker}x{i}").version)
    return versions


def test_threads_reserving_at_once_never_share_a_version(tmp_path):
    workers, per_worker = 12, 4
    barrier = threading.Barrier(workers)
    results: list[list[int]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            results[worker] = _reserve_many((tmp_path, barrier, worker, per_worker))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    versions = [v for r in results for v in r]
    assert len(versions) == workers * per_worker
    assert len(set(versions)) == len(versions), sorted(versions)
    on_disk = sorted(p.name for p in (tmp_path / "sh010" / "race").iterdir())
    assert len(on_disk) == len(versions)  # no leftover from the jobs that stepped back


def _process_worker(root, barrier, worker, per_worker, queue):
    try:
        queue.put((worker, _reserve_many((root, barrier, worker, per_worker))))
    except BaseException as exc:
        queue.put((worker, repr(exc)))


def test_processes_reserving_at_once_never_share_a_version(tmp_path):
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                      else "spawn")
    workers, per_worker = 6, 4
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker,
                         args=(str(tmp_path), barrier, w, per_worker, queue))
             for w in range(workers)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    bad = {w: r for w, r in results.items() if not isinstance(r, list)}
    assert not bad, bad
    versions = [v for r in results.values() for v in r]
    assert len(versions) == workers * per_worker
    assert len(set(versions)) == len(versions), sorted(versions)


# -- publishing ---------------------------------------------------------------------------------

def test_commit_publishes_the_whole_folder_at_once(tmp_path):
    take = publish_fake_take(tmp_path, "sh010", "road", job_id="jA", count=3)
    take_dir = tmp_path / "sh010" / "road"
    assert sorted(p.name for p in take_dir.iterdir()) == ["v001"]  # staging renamed, not copied
    assert sorted(p.name for p in take.dir.iterdir()) == [
        "road_v001.1001.exr", "road_v001.1002.exr", "road_v001.1003.exr", "take.json",
        "thumbnail.png"]
    record = json.loads((take.dir / "take.json").read_text())
    assert record["job_id"] == "jA" and record["version"] == 1 and record["shot"] == "sh010"
    assert take.record == record
    assert take.dir == take_dir / "v001" and take.version == 1 and take.latest


def test_a_crash_before_the_rename_publishes_nothing(tmp_path, monkeypatch):
    staging = V.reserve(tmp_path, "sh010", "road", "jA")
    staging.frame_path(1001).write_bytes(b"frame")
    # Killed before commit: nothing is published, nothing is found.
    assert not staging.final_dir.exists()
    assert T.list_takes(tmp_path) == [] and T.find_for_job(tmp_path, "sh010", "road", "jA") is None
    with pytest.raises(TakeError):
        T.load_take("sh010/road", root=tmp_path)

    # Killed inside commit, at the rename: take.json is complete in staging, v001 still absent.
    def crash(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(T.os, "rename", crash)
    with pytest.raises(TakeError, match="cannot publish"):
        V.commit(staging, {"frames": {"first": 1001, "last": 1001}})
    monkeypatch.undo()
    assert not staging.final_dir.exists()
    assert json.loads((staging.dir / "take.json").read_text())["job_id"] == "jA"
    assert not [p for p in staging.dir.iterdir() if p.name.endswith(".tmp")]
    # The resumed job reuses the reservation and publishes v001.
    again = V.reserve(tmp_path, "sh010", "road", "jA")
    assert again.version == 1
    again.frame_path(1001).write_bytes(b"frame")
    assert V.commit(again, {"frames": {"first": 1001, "last": 1001}}).dir == staging.final_dir


def test_a_published_version_is_never_replaced(tmp_path):
    staging = V.reserve(tmp_path, "sh010", "road", "jA")
    staging.final_dir.mkdir()  # someone (or something) made v001 by hand
    (staging.final_dir / "precious.exr").write_bytes(b"keep me")
    with pytest.raises(TakeError, match=r"v001 is already published"):
        V.commit(staging, {})
    assert (staging.final_dir / "precious.exr").read_bytes() == b"keep me"
    assert staging.dir.is_dir()

    take = publish_fake_take(tmp_path, "sh020", "road", job_id="jB")
    with pytest.raises(TakeError, match="already published"):
        V.commit(V.Staging(take.dir.parent.parent.parent, "sh020", "road", 1, "jB"), {})


def test_commit_refuses_a_record_that_names_another_take(tmp_path):
    staging = V.reserve(tmp_path, "sh010", "road", "jA")
    with pytest.raises(TakeError, match=r"version=2"):
        V.commit(staging, {"version": 2})
    with pytest.raises(TakeError, match=r"shot='sh999'"):
        V.commit(staging, {"shot": "sh999"})
    assert not staging.final_dir.exists()


def test_commit_refuses_a_released_reservation(tmp_path):
    staging = V.reserve(tmp_path, "sh010", "road", "jA")
    V.release(staging)
    with pytest.raises(TakeError, match="not reserved"):
        V.commit(staging, {})


# -- finding takes ------------------------------------------------------------------------------

def test_find_for_job_finds_only_that_jobs_version(tmp_path):
    publish_fake_take(tmp_path, "sh010", "road", job_id="jA")
    b = publish_fake_take(tmp_path, "sh010", "road", job_id="jB")
    found = T.find_for_job(tmp_path, "sh010", "road", "jB")
    assert found is not None and found.version == 2 and found.dir == b.dir
    assert T.find_for_job(tmp_path, "sh010", "road", "jZ") is None
    assert T.find_for_job(tmp_path, "sh010", "nothing_here", "jA") is None


def test_list_takes_sorts_marks_latest_and_skips_dot_folders(tmp_path):
    publish_fake_take(tmp_path, "sh020", "road")
    publish_fake_take(tmp_path, "sh010", "road")
    publish_fake_take(tmp_path, "sh010", "road")
    publish_fake_take(tmp_path, "sh010", "alley")
    V.reserve(tmp_path, "sh010", "road", "jpending")  # a staging folder is not a take
    (tmp_path / ".trash" / "x" / "v001").mkdir(parents=True)
    (tmp_path / "sh010" / ".hidden" / "v001").mkdir(parents=True)
    (tmp_path / "sh010" / "road" / "v009").mkdir()  # no take.json: not a take
    listed = [(t.shot, t.name, t.version, t.latest) for t in T.list_takes(tmp_path)]
    assert listed == [("sh010", "alley", 1, True), ("sh010", "road", 1, False),
                      ("sh010", "road", 2, True), ("sh020", "road", 1, True)]
    assert [t.version for t in T.list_takes(tmp_path, shot="sh010", name="road")] == [1, 2]
    assert [t.shot for t in T.list_takes(tmp_path, name="road")] == ["sh010", "sh010", "sh020"]
    assert T.list_takes(tmp_path, shot="sh404") == []
    assert T.list_takes(tmp_path / "missing") == []
    assert T.latest(tmp_path, "sh010", "road").version == 2
    assert T.latest(tmp_path, "sh010", "nope") is None


def test_load_take_by_folder_take_json_and_reference(tmp_path):
    v1 = publish_fake_take(tmp_path, "sh010", "road")
    v2 = publish_fake_take(tmp_path, "sh010", "road")
    assert T.load_take(v1.dir).version == 1 and not T.load_take(v1.dir).latest
    assert T.load_take(str(v2.dir / "take.json")).version == 2
    assert T.load_take(v2.dir).latest
    assert T.load_take(tmp_path / "sh010" / "road").version == 2  # a take name folder: latest
    assert T.load_take("sh010/road", root=tmp_path).version == 2
    for ref in ("sh010/road/v001", "sh010/road/1", "sh010/road/V001"):
        assert T.load_take(ref, root=tmp_path).dir == v1.dir, ref
    assert T.load_take("sh010/road/latest", root=tmp_path).version == 2


def test_load_take_uses_the_root_from_the_environment(tmp_path, monkeypatch):
    publish_fake_take(tmp_path, "sh010", "road")
    monkeypatch.setenv("GENPLATE_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    assert T.load_take("sh010/road").version == 1


@pytest.mark.parametrize("ref, message", [
    ("sh010/road/v007", "has no v007"),
    ("sh010/road/vx", "'vx' is not allowed"),
    ("sh010/gone", "no published take sh010/gone"),
    ("just_one_word", "no take at 'just_one_word'"),
    ("sh010/../etc", "take name '..' is not allowed"),
])
def test_load_take_says_what_is_missing(tmp_path, ref, message):
    publish_fake_take(tmp_path, "sh010", "road")
    with pytest.raises(TakeError, match=message.replace("(", r"\(")):
        T.load_take(ref, root=tmp_path)


def test_load_take_refuses_a_folder_that_is_not_a_take(tmp_path):
    (tmp_path / "sh010" / "road" / "v001").mkdir(parents=True)
    with pytest.raises(TakeError, match="no take.json"):
        T.load_take(tmp_path / "sh010" / "road" / "v001")
    (tmp_path / "sh010" / "road" / "v001" / "take.json").write_text("{not json")
    with pytest.raises(TakeError, match="cannot be read"):
        T.load_take(tmp_path / "sh010" / "road" / "v001")


@pytest.mark.parametrize("shot, name, bad", [
    ("../sh010", "road", "../sh010"), ("sh010", "a/b", "a/b"), ("sh010", "..", ".."),
    ("sh010", ".hidden", ".hidden"), ("", "road", ""), ("sh 010", "road", "sh 010"),
    ("sh010", "back\\slash", "back\\slash"), ("sh010", "x" * 81, "x" * 81),
    ("sh010", "tab\tname", "tab\tname"),
])
def test_bad_names_are_refused_naming_the_value(tmp_path, shot, name, bad):
    for call in (lambda: V.reserve(tmp_path, shot, name, "jA"),
                 lambda: T.list_takes(tmp_path, shot=shot, name=name),
                 lambda: T.find_for_job(tmp_path, shot, name, "jA")):
        with pytest.raises(TakeError) as info:
            call()
        assert repr(bad) in str(info.value)
    assert not any(tmp_path.iterdir())  # refused before anything was created


def test_good_names_pass(tmp_path):
    for name in ("sh010", "SH_010-a", "road.v2", "2nd_try", "-dash"):
        assert V.reserve(tmp_path, "sh010", name, "jA").version == 1


def test_a_bad_job_id_is_refused(tmp_path):
    with pytest.raises(TakeError, match=r"'j\.1'"):
        V.reserve(tmp_path, "sh010", "road", "j.1")


def test_summary_has_what_the_hosts_insert(tmp_path):
    take = publish_fake_take(tmp_path, "sh010", "road", job_id="jA", first=1001, count=3,
                             prompt="a road", kind="master")
    s = take.summary()
    assert s == {
        "dir": str(take.dir), "pattern": str(take.dir / "road_v001.%04d.exr"),
        "first": 1001, "last": 1003, "colorspace": "ACEScg", "fps": 24, "version": 1,
        "shot": "sh010", "name": "road", "kind": "master", "latest": True,
        "thumbnail": str(take.dir / "thumbnail.png"), "take_json": str(take.dir / "take.json"),
        "job_id": "jA", "remote_id": "off-jA", "prompt": "a road", "width": 8, "height": 4,
        "scores": None,  # never judged
    }
    assert Path(s["pattern"] % 1001).is_file() and Path(s["thumbnail"]).is_file()
    json.dumps(s)  # the CLI prints it as JSON


def test_a_moved_root_still_points_at_the_frames(tmp_path):
    publish_fake_take(tmp_path / "old", "sh010", "road")
    os.rename(tmp_path / "old", tmp_path / "new")
    take = T.load_take("sh010/road", root=tmp_path / "new")
    assert take.pattern.startswith(str(tmp_path / "new"))
    assert Path(take.pattern % take.first).is_file()


def test_provenance_keeps_no_url_and_no_query_string(tmp_path):
    take = publish_fake_take(
        tmp_path, prompt="see https://example.com/ref.png?X-Amz-Signature=abc123 for the look",
        request_extra={"start_frame": {"url": "https://cdn.example/k.png?sig=SECRET"}})
    text = json.dumps(take.provenance())
    assert "SECRET" not in text and "abc123" not in text and "cdn.example" not in text
    assert take.provenance()["request"]["prompt"].startswith("see https://example.com/ref.png?")

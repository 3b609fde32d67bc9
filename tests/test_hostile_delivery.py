"""What the service sends is bounded and checked before it is trusted (issue #14).

Whole Luma jobs against the emulator, which serves one hostile answer at a time (luma_emulator.py
names them; hostile.py builds the bytes). For each: the job stops without publishing, stays
resumable (a paid generation is never failed for what its download did), says which limit and
why, and leaves nothing unbounded on disk; where the answer can be survived, resuming finishes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from genplate.core.backends.luma.backend import LumaBackend
from genplate.core.backends.luma.client import LumaClient
from genplate.core.backends.luma.settings import LumaSettings
from genplate.core.jobs import ledger as L
from genplate.core.jobs.runner import JobRunner, job_dir, submit
from genplate.core.request import ShotRequest
from genplate.core.takes.record import PublishSpec

from luma_emulator import LumaEmulator, make_mp4

FAST = dict(backoff=0.01, backoff_max=0.05, retry_after_max=3.0, read_timeout=2.0,
            connect_timeout=1.0, retries=3, create_retries=3, poll_interval=0.01,
            max_poll_interval=0.05)
FRAMES = 5
DRAFT = ShotRequest.draft("a lighthouse in a storm, waves over the rocks")
MASTER = ShotRequest.master("a neon alley at night, wet asphalt", resolution="720p")


@pytest.fixture
def emu():
    emulator = LumaEmulator(frames=FRAMES).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def world(tmp_path, emu):
    ledger = L.Ledger()  # conftest points GENPLATE_DATA_DIR into tmp_path
    backend = LumaBackend(ledger, client=LumaClient(emu.key, LumaSettings(base_url=emu.base_url,
                                                                          **FAST)))
    runner = JobRunner(ledger, backend_factory=lambda name: backend)
    return {"ledger": ledger, "runner": runner, "root": tmp_path / "takes"}


def start(world, request, **publish) -> L.Job:
    spec = PublishSpec(root=str(world["root"]), shot="sh030", name="hostile", **publish)
    job = submit(world["ledger"], request, spec, "luma")
    return world["runner"].run(job.id)


def downloads(emu) -> list[int]:
    return [s for m, r, s in emu.log if r == "download"]


def delivery(world, job) -> Path:
    return job_dir(world["ledger"], job.id) / "delivery"


def assert_stopped_resumable(job, state, *words):
    assert job.state == state, (job.state, job.error)
    assert job.take_dir is None
    for word in words:
        assert word in job.error, (word, job.error)
    assert "genplate resume" in job.error


def test_a_file_url_output_is_refused_and_nothing_local_is_read(world, emu):
    emu.plan(outputs=["file_url"])
    job = start(world, DRAFT)
    assert_stopped_resumable(job, L.DELIVERED, "refused to fetch file:///etc/passwd",
                             "a file URL", "https only", "nothing was read")
    assert not [p for p in delivery(world, job).rglob("*") if p.is_file()]
    assert not list(world["root"].rglob("take.json"))


def test_an_endless_body_stops_at_the_budget_then_resume_publishes(world, emu):
    emu.inject("download", "endless")
    job = start(world, DRAFT)
    assert_stopped_resumable(job, L.DELIVERED, "over the delivery budget",
                             "360p 5s SDR 16:9", "GENPLATE_DELIVERY_BUDGET_SCALE")
    assert not list(delivery(world, job).glob("output-0*"))  # the runaway body is not kept
    job = world["runner"].run(job.id)
    assert job.state == L.READY, job.error


def test_a_dripping_download_is_cut_off_kept_and_resumed(world, emu, monkeypatch):
    monkeypatch.setenv("GENPLATE_FETCH_RATE_WINDOW", "0.5")
    monkeypatch.setenv("GENPLATE_FETCH_MIN_RATE_KIB", "1")
    emu.inject("download", "drip", delay=0.05)
    job = start(world, DRAFT)
    assert_stopped_resumable(job, L.DELIVERED, "under the minimum of 1024 bytes/s",
                             "GENPLATE_FETCH_MIN_RATE_KIB")
    part = delivery(world, job) / "output-0.part"
    assert 0 < part.stat().st_size < 100
    job = world["runner"].run(job.id)
    assert job.state == L.READY, job.error
    assert downloads(emu)[-1] == 206  # what had arrived was kept and continued


def test_a_resume_from_a_changed_object_is_never_spliced(world, emu):
    emu.inject("download", "truncate")
    emu.inject("download", "splice")  # the resume: a 206 from a new version, If-Range ignored
    job = start(world, DRAFT)
    assert job.state == L.READY, job.error
    width, height = DRAFT.frame_size()
    new = make_mp4(width, height, FRAMES, 1)
    delivered = (delivery(world, job) / "output-0.mp4").read_bytes()
    assert hashlib.sha256(delivered).hexdigest() == hashlib.sha256(new).hexdigest()
    assert downloads(emu) == [200, 206, 200]  # the 206 was refused by its ETag, not appended


def test_a_zip_bomb_is_refused_before_anything_is_extracted(world, emu):
    emu.plan(outputs=["mp4", "zip_bomb"])
    job = start(world, MASTER)
    assert_stopped_resumable(job, L.DELIVERED, "refusing a ZIP bomb", "GENPLATE_UNPACK_MAX_RATIO",
                             "nothing was extracted")
    assert not (delivery(world, job) / "output-1").exists()
    assert (delivery(world, job) / "output-1.zip").is_file()  # paid for: kept


def test_an_exr_that_declares_30000_by_30000_is_refused_from_its_header(world, emu):
    emu.plan(outputs=["mp4", "huge_exr"])
    job = start(world, MASTER)
    assert_stopped_resumable(job, L.INGESTING, "30000x30000, the request asked for 1280x720",
                             "refused from its header")
    assert not list(world["root"].rglob("*.exr"))


def test_a_zero_byte_frame_is_fetched_again_once_then_refuses_the_take(world, emu):
    emu.plan(outputs=["mp4", "exr_zip_hole"])
    job = start(world, MASTER)
    assert_stopped_resumable(job, L.INGESTING, "1 missing, empty or unreadable frame",
                             "frame 2 (ray3_aces.0002.exr: an empty file)", "--allow-gaps")
    assert len(downloads(emu)) == 3  # mp4, zip, and the zip once more: nothing else
    notes = [e.detail for e in world["ledger"].events(job.id)]
    assert any("fetching the damaged output(s) again, once" in (n or "") for n in notes)
    assert not list(world["root"].rglob("take.json"))


def test_with_allow_gaps_the_gap_is_kept_in_the_numbering_and_recorded(world, emu):
    emu.plan(outputs=["mp4", "exr_zip_hole"])
    job = start(world, MASTER, allow_gaps=True)
    assert job.state == L.READY, job.error
    take = Path(job.take_dir)
    record = json.loads((take / "take.json").read_text())
    frames = record["frames"]
    assert (frames["first"], frames["last"], frames["count"]) == (1001, 1005, 5)
    assert frames["gaps"] == [{"frame": 1003, "file": "ray3_aces.0002.exr", "why": "an empty file"}]
    names = sorted(p.name for p in take.glob("*.exr"))
    assert [n.split(".")[-2] for n in names] == ["1001", "1002", "1004", "1005"]
    assert (take / "thumbnail.png").is_file()


def test_a_frame_that_does_not_decode_is_fetched_again_once(world, emu):
    emu.plan(outputs=["mp4", "exr_zip"])
    emu.inject("download", "damaged", name="frames.zip")  # the first zip: a frame cut short
    job = start(world, MASTER)
    assert job.state == L.READY, job.error
    assert len(downloads(emu)) == 3  # mp4, zip, zip again


def test_a_frame_that_never_decodes_stops_the_job_after_one_more_fetch(world, emu):
    emu.plan(outputs=["mp4", "exr_zip"])
    emu.inject("download", "damaged", name="frames.zip", times=5)
    job = start(world, MASTER)
    assert_stopped_resumable(job, L.INGESTING, "cannot be read", "ray3_aces.0001.exr")
    assert len(downloads(emu)) == 3


def test_a_limit_setting_that_is_no_number_keeps_the_job_resumable(world, emu, monkeypatch):
    monkeypatch.setenv("GENPLATE_DELIVERY_BUDGET_SCALE", "lots")
    job = start(world, DRAFT)
    assert_stopped_resumable(job, L.DELIVERED, "GENPLATE_DELIVERY_BUDGET_SCALE='lots' is not a number")
    monkeypatch.setenv("GENPLATE_DELIVERY_BUDGET_SCALE", "2")
    job = world["runner"].run(job.id)
    assert job.state == L.READY, job.error

"""Whole jobs on the Luma backend against the emulator, one injected fault at a time.

For each fault: the job ends in the right state with the right message, the take is published
when it should be, the emulator never acts on two creates for one job, and nothing secret (the
key, a presigned signature) is written to the data dir, the takes root or the logs.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.backends.luma.backend import LumaBackend
from genplate.core.jobs.runner import JobRunner, RetryPolicy, run_concurrently, submit
from genplate.core.takes.record import PublishSpec
from genplate.core.backends.luma.client import LumaClient
from genplate.core.backends.luma.settings import LumaSettings
from genplate.core.request import ShotRequest

from luma_emulator import FAILURE_CODES, serving

FAST = dict(backoff=0.01, backoff_max=0.05, retry_after_max=3.0, read_timeout=1.0,
            connect_timeout=1.0, retries=3, create_retries=3, poll_interval=0.01,
            max_poll_interval=0.05)


@pytest.fixture
def emu():
    yield from serving()


@pytest.fixture
def world(tmp_path, emu, caplog):
    caplog.set_level(logging.DEBUG)
    ledger = L.Ledger()  # conftest points GENPLATE_DATA_DIR into tmp_path
    return {"ledger": ledger, "root": tmp_path / "takes", "data": ledger.path.parent,
            "caplog": caplog}


def backend_for(emu, ledger, **kw):
    return LumaBackend(ledger, client=LumaClient(emu.key, LumaSettings(base_url=emu.base_url,
                                                                       **{**FAST, **kw})))


def run(world, emu, request=None, *, retry=RetryPolicy(), resend=False, job=None, **kw):
    ledger = world["ledger"]
    backend = backend_for(emu, ledger, **kw)
    if job is None:
        request = request or ShotRequest.draft("a lighthouse in a storm, waves over the rocks")
        job = submit(ledger, request, PublishSpec(root=str(world["root"]), shot="sh020",
                                                  name="lighthouse"), "luma")
    runner = JobRunner(ledger, backend_factory=lambda name: backend, retry=retry)
    return runner.run(job.id if hasattr(job, "id") else job, resend=resend)


def assert_no_secrets(world, emu):
    needles = [emu.key] + sorted(emu.signatures)
    for root in (world["data"], world["root"]):
        for path in Path(root).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for needle in needles:
                    assert needle.encode() not in data, f"a secret in {path}"
    logs = world["caplog"].text
    for needle in needles:
        assert needle not in logs, "a secret in the logs"
    assert emu.key_leaks == []


def assert_published(world, job, emu):
    assert job.state == L.READY, job.error
    take = Path(job.take_dir)
    record = json.loads((take / "take.json").read_text())
    assert record["backend"] == "luma" and record["remote_id"] == job.remote_id
    assert job.remote_id in emu.generations
    assert len(list(take.glob("*.exr"))) == record["frames"]["count"] == emu.frames
    return record


def assert_one_create_per_job(emu):
    assert emu.creates_made and max(emu.creates_made.values()) == 1
    assert max(emu.creates_received.values()) >= 1


def test_a_draft_is_published_as_a_take(world, emu):
    job = run(world, emu)
    record = assert_published(world, job, emu)
    assert record["colour"]["working_space"] and record["request"]["resolution"] == "360p"
    assert emu.creates_made == {job.id: 1}
    assert_no_secrets(world, emu)


@pytest.mark.parametrize("fault", [
    dict(kind="status", status=500, detail="internal", times=2),
    dict(kind="status", status=502, times=2),
    dict(kind="status", status=503, detail="unavailable"),
    dict(kind="status", status=504),
    dict(kind="status", status=429, retry_after="0", detail="slow down"),
    dict(kind="drop_before"),
    dict(kind="drop_after"),
    dict(kind="slow", delay=1.5),
], ids=lambda f: f"{f['kind']}-{f.get('status', '')}")
def test_faults_while_following_are_ridden_out(world, emu, fault):
    emu.inject("get", **fault)
    job = run(world, emu, read_timeout=0.5)
    assert_published(world, job, emu)
    assert_one_create_per_job(emu)
    assert_no_secrets(world, emu)


@pytest.mark.parametrize("fault", [
    dict(kind="status", status=429, retry_after="0"),
    dict(kind="status", status=503, detail="image ingestion unavailable"),
])
def test_refusals_on_create_are_waited_out_and_create_once(world, emu, fault):
    emu.inject("create", **fault)
    job = run(world, emu)
    assert_published(world, job, emu)
    assert emu.creates_made == {job.id: 1} and emu.creates_received[job.id] == 2
    assert_no_secrets(world, emu)


@pytest.mark.parametrize("fault,made", [
    (dict(kind="drop_before"), 0),
    (dict(kind="drop_after"), 1),
    (dict(kind="slow", delay=1.5), 1),
    (dict(kind="status", status=500, detail="internal"), 0),
    (dict(kind="status", status=502, body=b"<html>bad gateway</html>"), 0),
], ids=lambda f: f"{f['kind']}-{f.get('status', '')}" if isinstance(f, dict) else str(f))
def test_a_lost_create_parks_the_job_and_only_resend_sends_again(world, emu, fault, made):
    emu.inject("create", **fault)
    parked = run(world, emu, read_timeout=0.5)
    assert parked.state == L.QUEUED and parked.create_outcome_unknown
    assert f"genplate resume --resend {parked.id}" in parked.error
    assert emu.creates_received[parked.id] == 1 and emu.creates_made[parked.id] == made
    # Resuming without a decision sends nothing.
    again = run(world, emu, job=parked.id)
    assert again.state == L.QUEUED and emu.creates_received[parked.id] == 1
    # The person checked the account and chose to send it again.
    done = run(world, emu, job=parked.id, resend=True)
    assert_published(world, done, emu)
    assert emu.creates_made[parked.id] == made + 1
    assert_no_secrets(world, emu)


def test_a_job_that_died_before_sending_is_resumed_without_a_decision(world, emu):
    """The intent was recorded, then the process died (uploading, waiting for a slot): the
    ledger proves no create went out, so resuming sends it, once, with nobody asked."""
    ledger = world["ledger"]
    job = submit(ledger, ShotRequest.draft("a lighthouse"), PublishSpec(
        root=str(world["root"]), shot="sh020", name="lighthouse"), "luma")
    ledger.claim_create(job.id)
    assert ledger.get(job.id).create_outcome_unknown
    done = run(world, emu, job=job.id)
    assert_published(world, done, emu)
    assert emu.creates_received == {job.id: 1}
    assert any("never received" in (e.detail or "") for e in ledger.events(job.id))


@pytest.mark.parametrize("status,words", [
    (400, "invalid"), (402, "balance"), (403, "suspended"), (413, "too large"),
    (422, "combination"),
])
def test_a_refused_create_fails_the_job_with_a_plain_reason(world, emu, status, words):
    emu.inject("create", "status", status=status, detail=f"the service's words for {status}")
    job = run(world, emu)
    assert job.state == L.FAILED and job.remote_id is None and job.take_dir is None
    assert words in job.error and f"the service's words for {status}" in job.error
    assert emu.creates_made == {} and not list(world["root"].rglob("take.json"))
    assert_no_secrets(world, emu)


def test_a_refused_key_on_create_leaves_the_job_queued_until_the_key_is_fixed(world, emu):
    """401 is this machine's key, not the service's verdict on the shot: nothing was created,
    the job waits with what to fix, and a resume with a good key sends it (once)."""
    emu.inject("create", "status", status=401, detail="Invalid API key")
    parked = run(world, emu)
    assert parked.state == L.QUEUED and parked.remote_id is None
    assert "API key" in parked.error and f"genplate resume {parked.id}" in parked.error
    assert emu.creates_made == {}
    done = run(world, emu, job=parked.id)  # the key was fixed: the emulator accepts it now
    assert_published(world, done, emu)
    assert emu.creates_made == {parked.id: 1} and emu.creates_received[parked.id] == 2
    assert_no_secrets(world, emu)


@pytest.mark.parametrize("code", FAILURE_CODES)
def test_each_failure_code_ends_or_retries_as_the_contract_says(world, emu, code):
    reason = f"Luma's own words for {code}: «verbatim»"
    emu.plan(outcome="failed", failure_code=code, failure_reason=reason, polls=1)
    run(world, emu, retry=RetryPolicy(max_attempts=2))
    first = next(j for j in world["ledger"].jobs() if j.attempt == 1)
    assert first.state == L.FAILED and code in first.error and reason in first.error
    jobs = world["ledger"].jobs()
    if code in ("generation_failed", "output_not_found"):
        retry = next(j for j in jobs if j.parent_id == first.id)
        assert_published(world, retry, emu)
        assert emu.creates_made == {first.id: 1, retry.id: 1}
    else:
        assert [j.id for j in jobs] == [first.id] and emu.creates_made == {first.id: 1}
    assert_no_secrets(world, emu)


def test_an_expired_download_url_is_refreshed_by_a_new_get(world, emu):
    emu.inject("download", "expire")
    job = run(world, emu)
    assert_published(world, job, emu)
    assert [s for m, r, s in emu.log if r == "download"][:2] == [403, 200]
    assert_no_secrets(world, emu)


def test_urls_that_expired_before_the_download_are_minted_afresh(world, emu):
    emu.expire_next_urls(2)  # the poll that saw "completed" and the fetch's own first GET
    job = run(world, emu)
    assert_published(world, job, emu)
    downloads = [s for m, r, s in emu.log if r in ("download", "get")]
    assert downloads.count(403) >= 1 and downloads[-1] == 200
    assert_no_secrets(world, emu)


def test_a_truncated_download_is_resumed(world, emu):
    emu.inject("download", "truncate")
    job = run(world, emu)
    assert_published(world, job, emu)
    assert 206 in [s for m, r, s in emu.log if r == "download"]
    assert_no_secrets(world, emu)


@pytest.mark.parametrize("outputs", [
    ["mp4", "exr_zip"],
    pytest.param(["mp4", "exr_files"], marks=pytest.mark.slow),  # 121 downloads, one a frame
])
def test_a_master_with_exr_is_published_from_the_exr_delivery(world, emu, outputs):
    emu.plan(outputs=outputs)
    job = run(world, emu, ShotRequest.master("a neon alley at night, wet asphalt", resolution="720p"))
    record = assert_published(world, job, emu)
    assert "exr" in record["colour"]["source_kind"].lower() or \
        "aces" in record["colour"]["source_kind"].lower()
    assert_no_secrets(world, emu)


def test_a_zip_with_a_path_traversal_entry_is_refused_and_nothing_is_published(world, emu, tmp_path):
    emu.plan(outputs=["mp4", "evil_zip"])
    job = run(world, emu, ShotRequest.master("a neon alley", resolution="720p"))
    assert job.state == L.FAILED and job.take_dir is None
    assert "escaped.exr" in job.error or ".." in job.error or "unsafe" in job.error.lower()
    assert not list(tmp_path.rglob("escaped.exr"))
    assert not list(world["root"].rglob("take.json"))
    assert_no_secrets(world, emu)


def test_a_batch_of_four_drafts_runs_concurrently_under_the_limit(world, emu):
    ledger = world["ledger"]
    backend = backend_for(emu, ledger, max_in_flight=2)
    emu.default_plan.polls = 4
    jobs = [submit(ledger, ShotRequest.draft(f"a lighthouse, variation {i}"),
                   PublishSpec(root=str(world["root"]), shot="sh020", name=f"light{i}"), "luma",
                   batch_id="b1") for i in range(4)]
    runner = JobRunner(ledger, backend_factory=lambda name: backend)
    done = run_concurrently(runner, [j.id for j in jobs], limit=4, progress_for=lambda _: (lambda *a: None))
    for job in done:
        assert_published(world, job, emu)
    assert emu.total_creates() == 4 and max(emu.creates_made.values()) == 1
    assert 1 <= emu.max_active <= 2
    assert_no_secrets(world, emu)


def test_cancelling_while_following_stops_without_a_second_create(world, emu):
    import threading

    from genplate.core.progress import CancelToken

    emu.default_plan.polls = 10_000
    ledger = world["ledger"]
    job = submit(ledger, ShotRequest.draft("a lighthouse"), PublishSpec(
        root=str(world["root"]), shot="sh020", name="lighthouse"), "luma")
    token = CancelToken()
    threading.Timer(0.5, token.cancel).start()
    backend = backend_for(emu, ledger)
    done = JobRunner(ledger, backend_factory=lambda name: backend).run(job.id, cancel=token)
    assert done.state == L.CANCELLED and done.remote_id in emu.generations
    assert emu.creates_made == {job.id: 1} and done.take_dir is None

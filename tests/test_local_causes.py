"""Local causes never end a paid job: no key, a refused key, the poll deadline, a full disk, a bad
root, a broken config, a crash in ingest each leave the job where it stands, with a message
that says what to fix, and a resume finishes it with the one generation already paid for. Jobs
an earlier genplate failed for such causes come back too; the service's own failures do not.

Jobs are stopped at a step the way the resume tests do it, through the runner's pause points
(here raising KeyboardInterrupt in-process: the Ctrl-C path, which keeps the job's state).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import pytest

from genplate.core.cli.main import main
from genplate.core.jobs import ledger as L
from genplate.core.jobs import runner as J
from genplate.core.jobs.runner import JobRunner, submit
from genplate.core.request import ShotRequest
from genplate.core.takes.record import PublishSpec

from luma_emulator import serving

FAST = {"GENPLATE_LUMA_POLL_INTERVAL": "0.02", "GENPLATE_LUMA_MAX_POLL_INTERVAL": "0.05",
        "GENPLATE_LUMA_BACKOFF": "0.01", "GENPLATE_LUMA_BACKOFF_MAX": "0.05",
        "GENPLATE_LUMA_FOLLOW_PATIENCE": "0", "GENPLATE_LUMA_RETRIES": "1"}


@pytest.fixture
def emu(monkeypatch):
    yield from serving(monkeypatch, FAST)


def _no_key(monkeypatch):
    monkeypatch.delenv("LUMA_AGENTS_API_KEY", raising=False)


def _submit(tmp_path, backend="luma", **spec) -> L.Job:
    publish = PublishSpec(root=str(tmp_path / "takes"), shot="sh040", name="dunes", **spec)
    return submit(L.Ledger(), ShotRequest.draft("wind over the dunes at dawn", seed=2), publish,
                  backend)


def stop_at(monkeypatch, step: str):
    """Make the runner stop at ``step`` as a Ctrl-C would (the job keeps its state)."""
    def pause(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt(f"stopped at {step}")

    monkeypatch.setattr(J, "_pause_point", pause)


def run_until(monkeypatch, job: L.Job, step: str) -> L.Job:
    stop_at(monkeypatch, step)
    with pytest.raises(KeyboardInterrupt):
        JobRunner(L.Ledger()).run(job.id)
    monkeypatch.setattr(J, "_pause_point", lambda name: None)
    return L.Ledger().get(job.id)


def genplate(capsys, *argv) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"not one JSON object: {out!r}"
    return code, json.loads(lines[0])


def assert_done_once(job: L.Job, emu) -> None:
    assert job.state == L.READY, job.error
    assert emu.creates_made == {job.id: 1}
    assert (J.Path(job.take_dir) / "take.json").is_file()


# -- the key ------------------------------------------------------------------------------------

def test_a_job_that_only_needs_a_local_ingest_publishes_without_the_key(tmp_path, emu, monkeypatch, capsys):
    job = run_until(monkeypatch, _submit(tmp_path), "fetched")
    assert job.state == L.FETCHED
    _no_key(monkeypatch)
    code, answer = genplate(capsys, "resume")
    assert code == 0 and answer["version"] == 1
    assert_done_once(L.Ledger().get(job.id), emu)


def test_a_missing_key_while_following_leaves_the_paid_job_resumable(tmp_path, emu, monkeypatch, capsys):
    emu.default_plan.polls = 6
    job = run_until(monkeypatch, _submit(tmp_path), "running")
    _no_key(monkeypatch)
    code, answer = genplate(capsys, "resume", job.id)
    parked = L.Ledger().get(job.id)
    assert code == 1 and parked.state == L.RUNNING
    assert "LUMA_AGENTS_API_KEY" in parked.error and f"genplate resume {job.id}" in parked.error
    assert answer["error"] == parked.error
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", emu.key)
    code, answer = genplate(capsys, "resume")  # a plain resume finds it: it is unfinished
    assert code == 0 and answer["version"] == 1
    assert_done_once(L.Ledger().get(job.id), emu)


# -- time ---------------------------------------------------------------------------------------

def test_the_poll_deadline_stops_following_but_never_ends_the_generation(tmp_path, emu):
    emu.default_plan.polls = 10_000
    job = _submit(tmp_path)
    parked = JobRunner(L.Ledger(), poll_deadline=0.3).run(job.id)
    assert parked.state == L.RUNNING and parked.remote_id in emu.generations
    assert "still processing" in parked.error and "paid for" in parked.error
    assert f"genplate resume {job.id}" in parked.error
    emu.generations[parked.remote_id].plan.polls = 1  # the service finishes it at last
    assert_done_once(JobRunner(L.Ledger()).run(job.id), emu)


# -- the disk, the root, the config ---------------------------------------------------------------

def test_a_root_that_became_a_file_after_the_create_is_reported_and_then_published(tmp_path, emu, monkeypatch):
    job = run_until(monkeypatch, _submit(tmp_path), "fetched")
    shutil.rmtree(tmp_path / "takes", ignore_errors=True)
    (tmp_path / "takes").write_text("someone's notes")
    parked = JobRunner(L.Ledger()).run(job.id)
    assert parked.state in (L.FETCHED, L.INGESTING) and "takes" in parked.error
    assert "publishing failed" in parked.error and f"genplate resume {job.id}" in parked.error
    (tmp_path / "takes").unlink()
    assert_done_once(JobRunner(L.Ledger()).run(job.id), emu)


def test_a_config_removed_after_the_create_is_reported_and_then_published(tmp_path, emu, monkeypatch):
    from genplate.ocio.builtin import BUILTIN_CONFIG

    import PyOpenColorIO as ocio

    config = tmp_path / "studio.ocio"
    ocio.Config.CreateFromFile(BUILTIN_CONFIG).serialize(str(config))
    job = run_until(monkeypatch, _submit(tmp_path, config=str(config)), "delivered")
    config.rename(tmp_path / "studio.ocio.moved")
    parked = JobRunner(L.Ledger()).run(job.id)
    assert parked.state in (L.FETCHED, L.INGESTING) and "studio.ocio" in parked.error
    (tmp_path / "studio.ocio.moved").rename(config)
    assert_done_once(JobRunner(L.Ledger()).run(job.id), emu)


def test_a_full_disk_during_ingest_says_to_free_space_and_the_job_waits(tmp_path, emu, monkeypatch):
    job = run_until(monkeypatch, _submit(tmp_path), "fetched")
    real = J.JobRunner._ingest

    def full(self, job, reporter, token):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "takes"))

    monkeypatch.setattr(J.JobRunner, "_ingest", full)
    parked = JobRunner(L.Ledger()).run(job.id)
    assert parked.state == L.FETCHED and "No space left" in parked.error
    assert "free space" in parked.error and "genplate clean" in parked.error
    monkeypatch.setattr(J.JobRunner, "_ingest", real)
    assert_done_once(JobRunner(L.Ledger()).run(job.id), emu)


def _tiny_disk(path, size: str):
    """A real small file system (root with mount rights only), or None."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return path if done.returncode == 0 else None


def test_a_really_full_disk_during_ingest_leaves_the_job_resumable(tmp_path, emu, monkeypatch):
    disk = _tiny_disk(tmp_path / "small", "256m")
    if disk is None:
        pytest.skip("needs a tmpfs mount (root); the ENOSPC path is covered above by a raised error")
    try:
        publish = PublishSpec(root=str(disk / "takes"), shot="sh040", name="dunes")
        job = submit(L.Ledger(), ShotRequest.draft("wind over the dunes", seed=2), publish, "luma")
        job = run_until(monkeypatch, job, "fetched")  # the checks passed: 256 MB was enough
        filler = disk / "filler"
        with open(filler, "wb") as fh:  # someone else fills the disk meanwhile
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
            except OSError:
                pass
        parked = JobRunner(L.Ledger()).run(job.id)
        assert parked.state in (L.FETCHED, L.INGESTING), parked.state
        assert "free space" in parked.error and f"genplate resume {job.id}" in parked.error
        filler.unlink()
        assert_done_once(JobRunner(L.Ledger()).run(job.id), emu)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# -- jobs an earlier genplate failed for a local cause ------------------------------------------

def _old_failure(job_id: str, reason: str) -> None:
    """What genplate before #13 wrote when anything went wrong: _fail(ledger, job, exc)."""
    L.Ledger().advance(job_id, L.FAILED, reason, error=reason, message="failed")


OLD_KEY = ("no Luma API key: set LUMA_AGENTS_API_KEY, or run `genplate login` to store one in "
           "the OS keyring (keys start with 'luma-api-'; create one in your Luma account)")


def test_a_paid_job_failed_for_a_missing_key_by_an_earlier_version_is_resumed(tmp_path, emu, monkeypatch, capsys):
    job = run_until(monkeypatch, _submit(tmp_path), "fetched")
    _old_failure(job.id, OLD_KEY)
    code, answer = genplate(capsys, "resume")
    assert code == 0 and answer["version"] == 1
    done = L.Ledger().get(job.id)
    assert_done_once(done, emu)
    assert any((e.detail or "").startswith("revived: paid for") for e in L.Ledger().events(job.id))


def test_a_paid_job_failed_by_the_old_poll_deadline_is_followed_again(tmp_path, emu, monkeypatch, capsys):
    emu.default_plan.polls = 4
    job = run_until(monkeypatch, _submit(tmp_path), "running")
    _old_failure(job.id, f"{job.remote_id} still processing after 180 min; `genplate resume` "
                         "keeps following it")
    code, answer = genplate(capsys, "resume", job.id)
    assert code == 0 and answer["version"] == 1
    assert_done_once(L.Ledger().get(job.id), emu)


def test_the_services_own_failure_is_never_revived(tmp_path, emu, capsys):
    emu.plan(outcome="failed", failure_code="content_moderated", failure_reason="flagged", polls=1)
    job = JobRunner(L.Ledger()).run(_submit(tmp_path).id)
    assert job.state == L.FAILED
    code, answer = genplate(capsys, "resume")
    assert code == 0 and answer["jobs"] == [] and not answer.get("batches")
    code, answer = genplate(capsys, "resume", job.id)
    assert L.Ledger().get(job.id).state == L.FAILED and emu.total_creates() == 1
    # ... nor the old version's words for it.
    old = _submit(tmp_path)
    L.Ledger().claim_create(old.id)
    L.Ledger().advance(old.id, L.SUBMITTED, remote_id="gen-old")
    _old_failure(old.id, "the service failed the generation (content_moderated): flagged")
    code, answer = genplate(capsys, "resume", old.id)
    assert L.Ledger().get(old.id).state == L.FAILED


def test_an_unsent_job_failed_for_a_missing_key_comes_back_only_when_named(tmp_path, emu, capsys):
    job = _submit(tmp_path)
    _old_failure(job.id, OLD_KEY)
    code, answer = genplate(capsys, "resume")
    assert answer["jobs"] == [] and not answer.get("batches") and emu.total_creates() == 0  # nothing is sent unasked
    code, answer = genplate(capsys, "resume", job.id)
    assert code == 0 and answer["version"] == 1
    assert_done_once(L.Ledger().get(job.id), emu)


def test_a_job_failed_for_good_before_it_was_sent_stays_failed(tmp_path, emu, capsys):
    job = _submit(tmp_path)
    _old_failure(job.id, "creating the generation: Luma refused the request as invalid (400).")
    genplate(capsys, "resume", job.id)
    assert L.Ledger().get(job.id).state == L.FAILED and emu.total_creates() == 0

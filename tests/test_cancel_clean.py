"""`genplate cancel` ends any job that is not done (and says what that means for what was paid);
`genplate clean` reclaims staging folders that will never be published and the downloads of
published takes after a while, shows sizes, and keeps everything that may still be needed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from genplate.core.cli.main import main
from genplate.core.jobs import ledger as L
from genplate.core.jobs import runner as J
from genplate.core.jobs.runner import JobRunner, submit
from genplate.core.request import ShotRequest
from genplate.core.takes import versions
from genplate.core.takes.record import PublishSpec

from luma_emulator import serving

FAST = {"GENPLATE_LUMA_POLL_INTERVAL": "0.02", "GENPLATE_LUMA_MAX_POLL_INTERVAL": "0.05"}


@pytest.fixture
def emu(monkeypatch):
    yield from serving(monkeypatch, FAST)


def genplate(capsys, *argv) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def _submit(tmp_path, backend="luma", name="gulls") -> L.Job:
    return submit(L.Ledger(), ShotRequest.draft("gulls over a harbour wall", seed=4),
                  PublishSpec(root=str(tmp_path / "takes"), shot="sh050", name=name), backend)


def run_until(monkeypatch, job: L.Job, step: str) -> L.Job:
    def pause(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt(step)

    monkeypatch.setattr(J, "_pause_point", pause)
    with pytest.raises(KeyboardInterrupt):
        JobRunner(L.Ledger()).run(job.id)
    monkeypatch.setattr(J, "_pause_point", lambda name: None)
    return L.Ledger().get(job.id)


# -- cancel -------------------------------------------------------------------------------------

def test_a_job_stuck_after_its_download_is_cancelled_and_its_version_given_back(tmp_path, emu, monkeypatch, capsys):
    job = run_until(monkeypatch, _submit(tmp_path), "ingested")  # frames staged, not published
    assert job.state == L.INGESTING and versions.list_reservations(tmp_path / "takes")
    code, answer = genplate(capsys, "cancel", job.id)
    assert code == 0 and answer["job"]["state"] == L.CANCELLED
    assert "was paid for and will not be published" in answer["said"]
    assert "reserved version (.v001." in answer["said"]
    assert versions.list_reservations(tmp_path / "takes") == []
    assert not list((tmp_path / "takes").rglob("take.json"))


def test_cancelling_a_job_that_is_running_at_luma_says_it_is_still_billed(tmp_path, emu, monkeypatch, capsys):
    emu.default_plan.polls = 1000
    job = run_until(monkeypatch, _submit(tmp_path), "running")
    code, answer = genplate(capsys, "cancel", job.id)
    assert answer["job"]["state"] == L.CANCELLED
    assert f"Generation {job.remote_id} keeps running on luma and is billed" in answer["said"]


def test_cancelling_an_unsent_job_and_a_lost_create(tmp_path, emu, capsys):
    never = _submit(tmp_path)
    code, answer = genplate(capsys, "cancel", never.id)
    assert answer["job"]["state"] == L.CANCELLED and "Nothing had been sent" in answer["said"]
    lost = _submit(tmp_path)
    L.Ledger().claim_create(lost.id)
    code, answer = genplate(capsys, "cancel", lost.id)
    assert answer["job"]["state"] == L.CANCELLED and "answer was lost" in answer["said"]
    code, answer = genplate(capsys, "cancel", lost.id)
    assert code == 0 and "already cancelled" in answer["said"]
    assert emu.total_creates() == 0


def test_a_job_with_a_live_runner_is_stopped_by_that_runner(tmp_path, emu, capsys):
    emu.default_plan.polls = 100_000
    job = _submit(tmp_path)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(JobRunner(L.Ledger()).run(job.id)))
    thread.start()
    deadline = time.monotonic() + 60
    while L.Ledger().get(job.id).state != L.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    code, answer = genplate(capsys, "cancel", job.id)
    thread.join(timeout=60)
    assert answer["job"]["state"] == L.CANCELLED and "cancelled by its runner" in answer["said"]
    assert done[0].state == L.CANCELLED and emu.creates_made == {job.id: 1}


# -- clean --------------------------------------------------------------------------------------

def _age(path, days: float) -> None:
    when = time.time() - days * 86400
    for folder, dirs, files in os.walk(path):
        for name in [*files, *dirs]:
            os.utime(os.path.join(folder, name), (when, when))
    os.utime(path, (when, when))


def test_clean_reclaims_what_nothing_needs_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    ledger = L.Ledger()
    root = tmp_path / "takes"
    # A published take (offline backend: a real generation, fetch, ingest and publish).
    published = JobRunner(ledger).run(_submit(tmp_path, "offline", "harbour").id)
    assert published.state == L.READY
    delivery = ledger.path.parent / "jobs" / published.id / "delivery"
    assert delivery.is_dir() and any(delivery.iterdir())
    # A take whose folder was deleted by hand: its delivery is the only copy left.
    orphan = JobRunner(ledger).run(_submit(tmp_path, "offline", "orphan").id)
    import shutil

    shutil.rmtree(orphan.take_dir)
    # A version reserved by a job that ended (an earlier genplate left it behind).
    ended = _submit(tmp_path, "offline", "harbour")
    ended_staging = versions.reserve(root, "sh050", "harbour", ended.id)
    (ended_staging.dir / "frame.exr").write_bytes(b"x" * 50_000)
    ledger.advance(ended.id, L.CANCELLED)
    # A `genplate ingest` killed while writing: its process is gone.
    script = ("import sys; from genplate.core.takes import versions as V; "
              "s = V.reserve(sys.argv[1], 'sh050', 'plate', 'iKILLED0'); "
              "(s.dir / 'f.exr').write_bytes(b'y' * 70000)")
    subprocess.run([sys.executable, "-c", script, str(root)], check=True)
    # A job that can still be resumed, and another machine's fresh reservation.
    waiting = _submit(tmp_path, "offline", "tide")
    ledger.claim_create(waiting.id)
    ledger.advance(waiting.id, L.SUBMITTED, remote_id="offline-" + "0" * 32)
    ledger.advance(waiting.id, L.DELIVERED)
    ledger.advance(waiting.id, L.FETCHED)
    ledger.advance(waiting.id, L.INGESTING)
    kept_staging = versions.reserve(root, "sh050", "tide", waiting.id)
    foreign = versions.reserve(root, "sh050", "tide", "jELSEWHERE")
    (foreign.dir / versions.STAMP).write_text(json.dumps(
        {"job_id": "jELSEWHERE", "host": "render07", "pid": 1, "at": time.time()}))

    # Dry run: everything listed with its size, nothing touched.
    code, dry = genplate(capsys, "clean", "--dry-run")
    reasons = {item["path"]: item["reason"] for item in dry["reclaimed"]}
    assert code == 0 and dry["dry_run"] is True
    assert set(reasons) == {str(ended_staging.dir),
                            next(str(r.dir) for r in versions.list_reservations(root)
                                 if r.job_id == "iKILLED0")}
    assert "is cancelled" in reasons[str(ended_staging.dir)]
    assert any("is gone" in r for r in reasons.values())
    assert dry["bytes"] >= 120_000 and all(i["bytes"] > 0 for i in dry["reclaimed"])
    assert ended_staging.dir.is_dir()
    kept = {item["path"]: item["reason"] for item in dry["kept"]}
    assert "kept 14 days" in kept[str(delivery)]
    assert "only copy" in kept[str(ledger.path.parent / "jobs" / orphan.id / "delivery")]
    assert "can still be resumed" in kept[str(kept_staging.dir)]
    assert "another machine" in kept[str(foreign.dir)]

    # For real, with deliveries kept 0 days, and the foreign reservation quiet for two days.
    _age(foreign.dir, 2)
    code, done = genplate(capsys, "clean", "--keep-days", "0")
    gone = {item["path"] for item in done["reclaimed"]}
    assert gone == set(reasons) | {str(delivery), str(foreign.dir)}
    assert not delivery.exists() and not ended_staging.dir.exists() and not foreign.dir.exists()
    assert (ledger.path.parent / "jobs" / orphan.id / "delivery").is_dir()
    assert kept_staging.dir.is_dir() and (tmp_path / "takes" / "sh050" / "harbour" / "v001").is_dir()
    assert any("clean: removed the delivery" in (e.detail or "") for e in ledger.events(published.id))
    # The numbers those reservations held are free again.
    assert versions.reserve(root, "sh050", "plate", "jnext").version == 1
    # And the human form shows sizes.
    assert main(["clean", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "would reclaim 0.0 MB" in text and " MB  " in text


def test_clean_refuses_a_negative_keep(capsys):
    code, answer = genplate(capsys, "clean", "--keep-days", "-1")
    assert code == 2 and "--keep-days" in answer["error"]

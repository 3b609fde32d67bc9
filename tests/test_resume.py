"""Resume after a real crash: the `genplate` process is killed with SIGKILL at each step of the
main job, then `genplate resume` finishes it, publishing exactly one take from exactly one
generation."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.jobs.runner import PAUSE_ENV

# Each pause point sits after the ledger recorded everything before it (see jobs._pause_point).
STEPS = {
    "create": L.QUEUED,        # intent recorded, create not sent
    "created": L.QUEUED,       # create done on the backend, remote id not yet in the ledger
    "submitted": L.SUBMITTED,
    "running": L.RUNNING,
    "delivered": L.DELIVERED,
    "fetched": L.FETCHED,
    "ingesting": L.INGESTING,  # frames being written into the staging folder
    "ingested": L.INGESTING,   # all frames written, take not yet renamed into place
    "published": L.INGESTING,  # version folder renamed into place, ledger not yet told
}

PROMPT = "a red balloon drifting over a harbour at noon"


def _genplate(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "genplate.core.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("step", list(STEPS))
def test_killed_at_each_step_then_resumed_publishes_one_take_from_one_generation(tmp_path, step):
    data, root = tmp_path / "data", tmp_path / "takes"
    marker = tmp_path / "paused"
    env = {**os.environ, "GENPLATE_DATA_DIR": str(data), PAUSE_ENV: step,
           PAUSE_ENV + "_MARKER": str(marker)}
    proc = _genplate(["generate", PROMPT, "--draft", "--duration", "5s", "--seed", "3",
                      "--backend", "offline", "--root", str(root), "--shot", "sh020",
                      "--name", "balloon"], env)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"generate ended before pausing at {step}: {proc.returncode}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never reached {step}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    ledger = L.Ledger(data / "ledger.sqlite3")
    (job,) = ledger.jobs()
    assert job.state == STEPS[step]
    assert [j.id for j in L.iter_unfinished(ledger)] == [job.id]
    if step == "published":
        assert (root / "sh020" / "balloon" / "v001" / "take.json").exists()
    else:
        assert not (root / "sh020" / "balloon" / "v001").exists()

    env.pop(PAUSE_ENV)
    resumed = _genplate(["resume", "--json"], env)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["version"] == 1 and result["first"] == 1001 and result["last"] == 1121

    job = ledger.get(job.id)
    assert job.state == L.READY
    versions = sorted(p.name for p in (root / "sh020" / "balloon").iterdir())
    assert versions == ["v001"], versions  # no second version, no staging left behind
    frames = sorted((root / "sh020" / "balloon" / "v001").glob("balloon_v001.*.exr"))
    assert len(frames) == 121
    record = json.loads((root / "sh020" / "balloon" / "v001" / "take.json").read_text())
    assert record["job_id"] == job.id and record["remote_id"] == job.remote_id
    # One generation, ever: one remote id recorded, one generation in the offline store.
    creates = [e for e in ledger.events(job.id) if e.state == L.SUBMITTED
               and (e.detail or "").startswith(("created ", "reconciled: the lost create"))]
    assert len(creates) == 1, [e.detail for e in ledger.events(job.id)]
    store = data / "offline"
    assert [p.name for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")] == [job.remote_id]
    assert not list(L.iter_unfinished(ledger))


def test_resume_with_nothing_to_do_says_so(tmp_path):
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data")}
    proc = _genplate(["resume"], env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "nothing to resume" in out

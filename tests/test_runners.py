"""Two and four runners on one job: exactly one create, one take, never a failed job.

The runners are real: `genplate` processes (a `generate` paused at a step while it holds the
job, then N `genplate resume JOB` started beside it, then the first one killed), and threads in
one process. The Luma backend is the local emulator (its creates are counted per job from the
X-Request-Id genplate sends); the offline backend's store holds one folder per generation.
A third case plays two machines sharing one ledger: there a pid proves nothing, so the second
runner waits for the first one's lease to lapse.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from genplate.core.backends.luma.backend import LumaBackend
from genplate.core.backends.luma.client import LumaClient
from genplate.core.backends.luma.settings import LumaSettings
from genplate.core.jobs import ledger as L
from genplate.core.jobs.runner import PAUSE_ENV, JobRunner, submit
from genplate.core.request import ShotRequest
from genplate.core.takes.record import PublishSpec

from luma_emulator import serving

PROMPT = "a paper boat on a rain gutter, the water racing"
FAST_LUMA = {"GENPLATE_LUMA_POLL_INTERVAL": "0.05", "GENPLATE_LUMA_MAX_POLL_INTERVAL": "0.2",
             "GENPLATE_LUMA_BACKOFF": "0.01", "GENPLATE_LUMA_BACKOFF_MAX": "0.05"}


class Proc:
    """A `genplate` process whose stderr is read as it comes (to see when it follows a job)."""

    def __init__(self, args: list[str], env: dict) -> None:
        self.args = args
        self.popen = subprocess.Popen([sys.executable, "-m", "genplate.core.cli", *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            self.err.append(line)

    def said(self, words: str) -> bool:
        return any(words in line for line in self.err)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code, self.popen.stdout.read()

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)


def _wait(condition, what: str, timeout: float = 180, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            if p.popen.poll() is not None:
                code, out = p.finish()
                pytest.fail(f"{p.args[0]} ended ({code}) before {what}:\n{out}\n{''.join(p.err)}")
        if time.monotonic() > deadline:
            pytest.fail(f"never saw: {what}")
        time.sleep(0.05)


@pytest.fixture
def emu():
    yield from serving()


def _env(tmp_path, backend: str, emu=None, **extra) -> dict:
    env = {**os.environ, "GENPLATE_DATA_DIR": str(tmp_path / "data"), **extra}
    env.pop(PAUSE_ENV, None)
    if backend == "luma":
        env.update(emu.env(), **FAST_LUMA)
    return env


def _one_create_one_take(tmp_path, backend: str, job: L.Job, emu=None) -> None:
    """The whole promise, read from the ledger, the takes root and the service's side."""
    root = tmp_path / "takes" / "sh030" / "boat"
    assert job.state == L.READY, job.error
    assert sorted(p.name for p in root.iterdir()) == ["v001"]  # no second version, no staging
    record = json.loads((root / "v001" / "take.json").read_text())
    assert record["job_id"] == job.id and record["remote_id"] == job.remote_id
    # every frame delivered, once: the offline renderer's 121, the emulator's short clip
    delivered = 121 if backend == "offline" else emu.frames
    assert len(list((root / "v001").glob("*.exr"))) == delivered
    if backend == "luma":
        assert emu.creates_made == {job.id: 1}, emu.creates_made
    else:
        store = tmp_path / "data" / "offline"
        assert [p.name for p in store.iterdir() if not p.name.startswith(".")] == [job.remote_id]
    ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
    assert not any(e.state == L.FAILED for e in ledger.events(job.id))
    assert ledger.lease_holder(job.id) is None


def _generate_args(tmp_path, backend: str) -> list[str]:
    return ["generate", PROMPT, "--draft", "--seed", "5", "--backend", backend,
            "--root", str(tmp_path / "takes"), "--shot", "sh030", "--name", "boat", "--json"]


# The steps a job can be stopped at, each with the number of runners that meet there: every
# step sees both two and four runners across the two backends.
CASES = [("offline", "create", 2), ("offline", "running", 4), ("offline", "delivered", 2),
         ("offline", "fetched", 4), ("offline", "ingesting", 2),
         ("luma", "create", 4), ("luma", "slot", 2), ("luma", "running", 2),
         ("luma", "delivered", 4), ("luma", "fetched", 2), ("luma", "ingesting", 4)]


@pytest.mark.slow
@pytest.mark.parametrize("backend,step,n", CASES, ids=[f"{b}-{s}-{n}" for b, s, n in CASES])
def test_runners_meeting_on_a_job_make_one_create_and_one_take(tmp_path, request, backend, step, n):
    emu = request.getfixturevalue("emu") if backend == "luma" else None
    data = tmp_path / "data"
    marker = tmp_path / "paused"
    extra = {PAUSE_ENV: step, PAUSE_ENV + "_MARKER": str(marker)} if step != "slot" else \
        {"GENPLATE_LUMA_MAX_IN_FLIGHT": "1"}
    env = _env(tmp_path, backend, emu)
    ledger = L.Ledger(data / "ledger.sqlite3")
    if step == "slot":  # another job in flight holds the only create slot
        env["GENPLATE_LUMA_MAX_IN_FLIGHT"] = "1"
        blocker = ledger.add_job(backend="luma", request={"prompt": "x"}, publish={})
        ledger.claim_create(blocker.id)
        ledger.advance(blocker.id, L.SUBMITTED, remote_id="elsewhere")

    first = Proc(_generate_args(tmp_path, backend), {**env, **extra})

    def paused() -> bool:
        if step != "slot":
            return marker.exists()
        jobs = [j for j in ledger.jobs() if j.publish.get("name") == "boat"]
        return bool(jobs) and "waiting for a create slot" in (jobs[0].message or "")

    _wait(paused, f"the first runner at {step}", procs=[first])
    (job,) = [j for j in ledger.jobs() if j.publish.get("name") == "boat"]
    assert ledger.lease_holder(job.id).pid == first.popen.pid

    others = [Proc(["resume", job.id, "--json"], env) for _ in range(n)]
    try:
        # Every newcomer finds the job held, and follows it instead of running it.
        _wait(lambda: all(p.said("is being run by") for p in others),
              "every resume following the first runner", procs=others)
        assert ledger.get(job.id).state == job.state  # nobody moved it under the holder
        first.kill()  # the holder dies mid-step; one of the others takes over
        if step == "slot":
            ledger.advance(blocker.id, L.CANCELLED)
        results = [p.finish() for p in others]
    finally:
        for p in [first, *others]:
            p.kill()
    for code, out in results:
        assert code == 0, out
        answer = json.loads(out)
        assert answer["version"] == 1 and answer["job"]["id"] == job.id
    _one_create_one_take(tmp_path, backend, ledger.get(job.id), emu)
    takeovers = [e.detail for e in ledger.events(job.id) if "took over" in (e.detail or "")]
    assert len(takeovers) == 1 and "its process is gone" in takeovers[0]


@pytest.mark.slow
def test_a_runner_on_another_machine_waits_for_the_lease_to_lapse(tmp_path):
    """Two machines sharing one ledger: the second cannot check the first one's pid, so it
    neither takes over while the first beats, nor before its lease lapses once it is gone."""
    env = _env(tmp_path, "offline", GENPLATE_LEASE_SECONDS="3")
    marker = tmp_path / "paused"
    first = Proc(_generate_args(tmp_path, "offline"),
                 {**env, "GENPLATE_LEASE_HOST": "render01", PAUSE_ENV: "fetched",
                  PAUSE_ENV + "_MARKER": str(marker)})
    ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
    _wait(marker.exists, "the first machine at fetched", procs=[first])
    (job,) = ledger.jobs()
    second = Proc(["resume", job.id, "--json"], {**env, "GENPLATE_LEASE_HOST": "render02"})
    try:
        _wait(lambda: second.said("is being run by"), "the second machine following",
              procs=[second])
        time.sleep(7)  # over twice the lease: the first one's heartbeat keeps it
        holder = ledger.lease_holder(job.id)
        assert holder is not None and holder.host == "render01"
        assert ledger.get(job.id).state == L.FETCHED
        first.kill()
        time.sleep(0.5)  # the pid is gone, but render02 cannot know that
        holder = ledger.lease_holder(job.id)
        assert holder is not None and holder.host == "render01"
        code, out = second.finish()
    finally:
        first.kill()
        second.kill()
    assert code == 0, out
    _one_create_one_take(tmp_path, "offline", ledger.get(job.id))
    takeovers = [e.detail for e in ledger.events(job.id) if "took over" in (e.detail or "")]
    assert len(takeovers) == 1 and "its lease lapsed" in takeovers[0]


# -- threads in one process ----------------------------------------------------------------------

def _luma_runner(ledger, emu, **kw) -> JobRunner:
    backend = LumaBackend(ledger, client=LumaClient(emu.key, LumaSettings(
        base_url=emu.base_url, poll_interval=0.01, max_poll_interval=0.05, backoff=0.01,
        backoff_max=0.05)))
    return JobRunner(ledger, backend_factory=lambda name: backend, **kw)


@pytest.mark.parametrize("backend", ["offline", "luma"])
def test_four_threads_on_a_new_job_make_one_create_and_one_take(tmp_path, emu, backend):
    ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
    job = submit(ledger, ShotRequest.draft(PROMPT, seed=5),
                 PublishSpec(root=str(tmp_path / "takes"), shot="sh030", name="boat"), backend)
    results: list = [None] * 4
    start = threading.Barrier(4)

    def runner_thread(i: int) -> None:
        runner = _luma_runner(ledger, emu) if backend == "luma" else JobRunner(ledger)
        start.wait()
        results[i] = runner.run(job.id)

    threads = [threading.Thread(target=runner_thread, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [r.state for r in results] == [L.READY] * 4
    assert len({r.take_dir for r in results}) == 1
    _one_create_one_take(tmp_path, backend, ledger.get(job.id), emu)


def test_a_runner_whose_lease_was_taken_stops_and_the_job_still_finishes_once(tmp_path, emu):
    """A runner that stalled past its lease finds the job taken: it records nothing more,
    follows, and takes the job back when the other holder lets it lapse; one create, one take."""
    from genplate.core.owner import Owner

    ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
    emu.default_plan.polls = 40
    job = submit(ledger, ShotRequest.draft(PROMPT, seed=5),
                 PublishSpec(root=str(tmp_path / "takes"), shot="sh030", name="boat"), "luma")
    runner = _luma_runner(ledger, emu, lease_seconds=1.0)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(runner.run(job.id)))
    thread.start()
    _wait(lambda: ledger.get(job.id).state == L.RUNNING, "the job running")
    rival = Owner("render09", 1, "rival")
    ledger._db().execute("UPDATE leases SET expires_at = 0 WHERE job_id = ?", (job.id,))
    assert ledger.take_lease(job.id, rival, 2.0)[0]  # it decided the runner was gone
    thread.join(timeout=120)
    assert done and done[0].state == L.READY, done
    _one_create_one_take(tmp_path, "luma", ledger.get(job.id), emu)
    details = [e.detail or "" for e in ledger.events(job.id)]
    assert any("took over from process 1 on render09" in d and "lapsed" in d for d in details)


# -- a farm task run again --------------------------------------------------------------------

@pytest.mark.slow
def test_a_farm_task_run_twice_at_once_and_again_later_makes_one_generation(tmp_path):
    """A farm retries a task, or runs it on two workers: the task names its job (--job-id), so
    every run finds the job the first one recorded and follows it."""
    env = _env(tmp_path, "offline")
    args = _generate_args(tmp_path, "offline") + ["--job-id", "sh030-boat-t1"]
    both = [Proc(args, env), Proc(args, env)]
    results = [p.finish() for p in both]
    again = Proc(args, env).finish()  # the retried task, after the job is done
    for code, out in [*results, again]:
        assert code == 0, out
        answer = json.loads(out)
        assert answer["version"] == 1 and answer["job"]["id"] == "sh030-boat-t1"
    ledger = L.Ledger(tmp_path / "data" / "ledger.sqlite3")
    assert [j.id for j in ledger.jobs()] == ["sh030-boat-t1"]
    _one_create_one_take(tmp_path, "offline", ledger.get("sh030-boat-t1"))


def test_a_job_id_names_one_shot_only(tmp_path, capsys):
    from genplate.core.cli.main import main

    base = ["generate", PROMPT, "--backend", "offline", "--root", str(tmp_path / "takes"),
            "--detach", "--json"]
    main([*base, "--job-id", "../escape"])
    assert "--job-id" in json.loads(capsys.readouterr().out)["error"]
    ledger = L.Ledger()
    submit(ledger, ShotRequest.draft("another shot entirely"),
           PublishSpec(root=str(tmp_path / "takes"), shot="sh030", name="other"), "offline",
           job_id="sh030-t1")
    assert main([*base, "--job-id", "sh030-t1"]) == 2
    assert "already in the ledger for another shot" in json.loads(capsys.readouterr().out)["error"]
    assert [j.id for j in ledger.jobs()] == ["sh030-t1"]

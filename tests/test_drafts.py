"""Draft batches: N drafts run, judged, ranked, broken ones retried as recorded jobs, a sheet.

The batch logic is tested with a quick stand-in runner that publishes small synthetic takes
(clean, or broken for chosen seeds) through the real takes module; the last test runs the real
thing end to end on the offline backend.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import OpenImageIO as oiio
import pytest

from genplate.core.jobs import budget
from genplate.core.cli import main as cli
from genplate.core.takes import take as takes, versions as V
from genplate.core.jobs import ledger as L
from genplate.core.jobs.budget import BudgetExceeded
from genplate.core.review.drafts import DraftsError, draft_names, plan_requests, run_batch
from genplate.core.takes.record import PublishSpec
from genplate.core.review.scores import JudgeConfig
from genplate.core.request import ShotRequest

N_FRAMES, W, H = 121, 64, 36


def synthetic_frames(seed: int, broken: bool) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rng = np.random.default_rng(seed)
    tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    frames = []
    for i in range(N_FRAMES):
        cx = W * (0.1 + 0.8 * i / N_FRAMES)
        ball = np.exp(-((xx - cx) ** 2 + (yy - H / 2) ** 2) / 60.0)
        frames.append((0.05 + 0.2 * (xx / W)[..., None] * tint + 0.7 * ball[..., None] * tint)
                      .astype(np.float32))
    if broken:
        frames[20:60] = [frames[20]] * 40  # frozen
    return frames


class StubRunner:
    """Publishes a synthetic take per job; seeds in ``broken_seeds`` give a frozen clip."""

    def __init__(self, ledger: L.Ledger, broken_seeds=(), fail_slots=()):
        self.ledger = ledger
        self.broken_seeds = set(broken_seeds)
        self.fail_names = set(fail_slots)
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def run(self, job_id, *, progress=None, cancel=None, resend=False):
        ledger = self.ledger
        job = ledger.get(job_id)
        if job.terminal:
            return job
        with self._lock:
            self.sent.append(job_id)
        spec = PublishSpec.from_json(job.publish)
        job = ledger.advance(job.id, L.SUBMITTED, remote_id=f"stub-{job.id}",
                             spent_usd=job.estimate_usd)
        if spec.name in self.fail_names:
            return ledger.advance(job.id, L.FAILED, "content_moderated", spent_usd=0.0,
                                  error="the service failed the generation (content_moderated)")
        ledger.advance(job.id, L.DELIVERED)
        ledger.advance(job.id, L.FETCHED)
        ledger.advance(job.id, L.INGESTING)
        request = ShotRequest.from_json(job.request)
        staging = V.reserve(spec.root, spec.shot, spec.name, job.id)
        for i, frame in enumerate(synthetic_frames(request.seed, request.seed in self.broken_seeds)):
            out = oiio.ImageOutput.create(str(staging.frame_path(1001 + i)))
            out.open(str(staging.frame_path(1001 + i)), oiio.ImageSpec(W, H, 3, oiio.HALF))
            out.write_image(frame)
            out.close()
        record = {"schema": "genplate.take/1", "shot": spec.shot, "name": spec.name,
                  "version": staging.version, "kind": spec.kind, "job_id": job.id,
                  "remote_id": f"stub-{job.id}", "request": job.request,
                  # the stub's frames are small: ask the judge to expect what it gets
                  "frames": {"first": 1001, "last": 1000 + N_FRAMES, "fps": 24, "width": W,
                             "height": H, "pattern": staging.pattern},
                  "colour": {"working_space": "ACEScg"}}
        take = V.commit(staging, record)
        return ledger.advance(job.id, L.READY, take_dir=str(take.dir))


@pytest.fixture
def ledger():
    return L.Ledger()


def spec(tmp_path, name="kite") -> PublishSpec:
    return PublishSpec(root=str(tmp_path / "takes"), shot="sh030", name=name)


# The stub's takes are 64x36: judge size against that, not against the 360p request.
CONFIG = JudgeConfig(analysis_width=32, size_tolerance=100.0)


def test_names_and_seeds():
    assert draft_names("kite", 3) == ["kite_d01", "kite_d02", "kite_d03"]
    assert draft_names("kite", 100)[-1] == "kite_d100"
    requests = plan_requests(ShotRequest.draft("a kite"), 3, seed=10)
    assert [r.seed for r in requests] == [10, 11, 12]
    assert {r.prompt for r in requests} == {"a kite"}
    with pytest.raises(DraftsError, match="1 to 64"):
        plan_requests(ShotRequest.draft("a kite"), 0, seed=1)


def test_a_batch_is_judged_ranked_and_shown_on_a_sheet(tmp_path, ledger):
    runner = StubRunner(ledger, broken_seeds={2})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 3, seed=1,
                      runner=runner, retries=0, judge_config=CONFIG)
    assert len(runner.sent) == 3
    assert [d.name for d in batch.drafts][-1] == "kite_d02"  # the frozen one ranks last
    assert [d.rank for d in batch.drafts] == [1, 2, 3]
    broken = batch.drafts[-1]
    assert broken.scores.broken and broken.scores.reasons[0].startswith("frozen")
    for d in batch.drafts:
        assert (Path(d.take_dir) / "scores.json").is_file()
        assert (Path(d.take_dir) / "scores_plot.png").is_file()
    sheet = batch.contact_sheet
    assert sheet == tmp_path / "takes" / "sh030" / "contact_sheets" / f"kite_{batch.batch_id}.png"
    image = oiio.ImageBuf(str(sheet))
    assert image.spec().width > 3 * 300 and image.spec().format == oiio.UINT8
    saved = json.loads(sheet.with_suffix(".json").read_text())
    assert [d["name"] for d in saved["drafts"]] == [d.name for d in batch.drafts]
    assert saved["drafts"][2]["verdict"] == "broken"
    jobs = ledger.jobs(batch_id=batch.batch_id)
    assert len(jobs) == 3 and {j.publish["kind"] for j in jobs} == {"draft"}
    assert batch.spent_usd == pytest.approx(0.18)


def test_a_broken_draft_is_retried_as_a_new_recorded_job(tmp_path, ledger):
    runner = StubRunner(ledger, broken_seeds={2})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 3, seed=1,
                      runner=runner, retries=2, judge_config=CONFIG)
    assert len(runner.sent) == 4 and batch.retries_used == 1
    retried = next(d for d in batch.drafts if d.name == "kite_d02")
    assert not retried.scores.broken and retried.version == 2 and retried.judge_retries == 1
    first, second = (ledger.get(j) for j in retried.jobs)
    assert second.parent_id == first.id and second.attempt == 2
    assert second.batch_id == batch.batch_id and second.request["seed"] == 4  # a fresh seed
    assert any("judged broken" in (e.detail or "") and second.id in e.detail
               for e in ledger.events(first.id))
    # the broken version stays published (it was paid for); the retry is the next version
    assert [t.version for t in takes.list_takes(tmp_path / "takes", "sh030", "kite_d02")] == [1, 2]
    assert batch.spent_usd == pytest.approx(0.24)


def test_retries_stop_at_the_allowance_and_at_the_cap(tmp_path, ledger):
    runner = StubRunner(ledger, broken_seeds={1, 2, 3, 4, 5, 6, 7})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 2, seed=1,
                      runner=runner, retries=3, judge_config=CONFIG)
    assert batch.retries_used == 3 and len(runner.sent) == 5
    budget.set_cap("show", 0.18)
    runner = StubRunner(ledger, broken_seeds={1, 2, 3, 4})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path, "bird"), "luma", 2,
                      seed=1, project="show", runner=runner, retries=5, judge_config=CONFIG)
    assert len(runner.sent) == 3 and batch.retries_used == 1  # 0.12 + one 0.06 retry = the cap
    assert any("not retried" in n and "cap" in n for n in batch.notes)


def test_a_failed_generation_ranks_last_with_its_reason(tmp_path, ledger):
    runner = StubRunner(ledger, fail_slots={"kite_d01"})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 2, seed=1,
                      runner=runner, retries=2, judge_config=CONFIG)
    last = batch.drafts[-1]
    assert last.name == "kite_d01" and last.state == L.FAILED and last.scores is None
    assert "content_moderated" in last.error
    assert len(runner.sent) == 2  # a moderated draft is not retried
    assert batch.contact_sheet.is_file()


def test_a_batch_over_the_cap_is_refused_before_anything_is_recorded_or_sent(tmp_path, ledger):
    budget.set_cap("show", 0.20)
    runner = StubRunner(ledger)
    with pytest.raises(BudgetExceeded, match=r"batch of 4 generations \(est\. \$0\.24\)"):
        run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 4, seed=1,
                  project="show", runner=runner, judge_config=CONFIG)
    assert runner.sent == [] and ledger.jobs() == []
    # the offline renderer costs nothing, so the cap does not stand in its way
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "offline", 4, seed=1,
                      project="show", runner=runner, retries=0, judge_config=CONFIG)
    assert len(batch.drafts) == 4


def test_the_drafts_command_refuses_a_batch_over_the_cap(tmp_path, capsys):
    code = cli.main(["budget", "--project", "show", "--cap", "0.1", "--json"])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["projects"] == [{"project": "show", "cap_usd": 0.1, "spent_usd": 0.0,
                                  "committed_usd": 0.0, "remaining_usd": 0.1}]
    code = cli.main(["drafts", "a kite", "-n", "3", "--project", "show", "--backend", "luma",
                     "--root", str(tmp_path / "takes"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    assert "cap of $0.10" in out["error"] and "batch of 3" in out["error"]
    assert "-n 1" in out["error"]
    assert L.Ledger().jobs() == []
    assert not (tmp_path / "takes").exists()


@pytest.mark.slow
def test_drafts_end_to_end_on_the_offline_backend(tmp_path, capsys):
    """The real pipeline: offline render, fetch, ingest, publish, judge, rank, sheet."""
    code = cli.main(["drafts", "a lighthouse on a cliff at dusk", "-n", "2", "--backend",
                     "offline", "--root", str(tmp_path / "takes"), "--shot", "sh010", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert [d["name"] for d in sorted(out["drafts"], key=lambda d: d["slot"])] == [
        "lighthouse_cliff_dusk_d01", "lighthouse_cliff_dusk_d02"]
    assert sorted(d["rank"] for d in out["drafts"]) == [1, 2]
    for d in out["drafts"]:
        assert d["state"] == "ready" and d["verdict"] in ("ok", "broken")
        assert Path(d["scores_json"]).is_file() and Path(d["plot"]).is_file()
        record = json.loads((Path(d["take_dir"]) / "take.json").read_text())
        assert record["kind"] == "draft" and record["frames"]["count"] == 121
    assert Path(out["contact_sheet"]).is_file()


def test_a_detached_batch_records_its_jobs_now_and_its_worker_picks_them_up(tmp_path, capsys,
                                                                            monkeypatch):
    started = []
    monkeypatch.setattr("subprocess.Popen",
                        lambda argv, **kw: started.append(argv) or SimpleNamespace(pid=None))
    code = cli.main(["drafts", "a kite", "-n", "2", "--backend", "luma", "--detach",
                     "--root", str(tmp_path / "takes"), "--shot", "sh030", "--name", "kite",
                     "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    ledger = L.Ledger()
    jobs = ledger.jobs(batch_id=out["batch"])
    assert sorted(j.publish["name"] for j in jobs) == ["kite_d01", "kite_d02"]
    assert [j["id"] for j in out["jobs"]] == [j.id for j in sorted(jobs, key=lambda j: j.publish["name"])]
    (argv,) = started
    assert argv[-2] == "drafts-worker"
    spec_file = json.loads(Path(argv[-1]).read_text())
    assert spec_file["batch_id"] == out["batch"] and spec_file["count"] == 2
    # the worker runs the recorded jobs; it records none of its own
    runner = StubRunner(ledger)
    batch = run_batch(ledger, ShotRequest.from_json(spec_file["request"]),
                      PublishSpec.from_json(spec_file["publish"]), "luma", 2,
                      batch_id=out["batch"], runner=runner, retries=0, judge_config=CONFIG)
    assert sorted(runner.sent) == sorted(j.id for j in jobs)
    assert len(ledger.jobs()) == 2
    assert str(batch.contact_sheet) == out["contact_sheet"] and batch.contact_sheet.is_file()


def test_picking_a_batch_up_again_sends_nothing_twice(tmp_path, ledger):
    """A detached batch's worker restarted after a crash: the retries already paid for count."""
    runner = StubRunner(ledger, broken_seeds={2})
    first = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 3, seed=1,
                      runner=runner, retries=1, judge_config=CONFIG)
    assert len(runner.sent) == 4
    again = StubRunner(ledger, broken_seeds={1, 2, 3, 4, 5})  # would break everything now
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 3, seed=1,
                      batch_id=first.batch_id, runner=again, retries=1, judge_config=CONFIG)
    assert again.sent == [] and len(ledger.jobs()) == 4
    assert batch.retries_used == 1
    d02 = next(d for d in batch.drafts if d.name == "kite_d02")
    assert d02.version == 2 and len(d02.jobs) == 2 and d02.judge_retries == 1


def test_a_retry_that_fails_does_not_hide_the_published_draft(tmp_path, ledger):
    class FailingRetries(StubRunner):
        def run(self, job_id, **kw):
            job = self.ledger.get(job_id)
            if job.parent_id and not job.terminal:
                self.sent.append(job_id)
                self.ledger.advance(job_id, L.SUBMITTED, remote_id="x", spent_usd=0.06)
                return self.ledger.advance(job_id, L.FAILED, "content_moderated", spent_usd=0.0,
                                           error="the service failed the generation")
            return super().run(job_id, **kw)

    runner = FailingRetries(ledger, broken_seeds={1})
    batch = run_batch(ledger, ShotRequest.draft("a kite"), spec(tmp_path), "luma", 2, seed=1,
                      runner=runner, retries=1, judge_config=CONFIG)
    d01 = next(d for d in batch.drafts if d.name == "kite_d01")
    assert len(d01.jobs) == 2 and d01.judge_retries == 1
    assert d01.state == L.READY and d01.version == 1 and d01.scores.broken
    assert d01.job_id == d01.jobs[0] and d01.rank == 2


@pytest.mark.parametrize("builtin_font", [False, True])
def test_the_contact_sheet_writes_names_with_or_without_a_font(tmp_path, builtin_font):
    """OpenImageIO's fonts, or the built-in bitmap font where none is found."""
    from genplate.core.review.contact_sheet import SheetEntry, write_contact_sheet

    thumb = np.full((90, 160, 3), 128, np.uint8)
    entries = [SheetEntry("kite_d01 v001", 1, thumb, ["ok  score 99.1"], "ok"),
               SheetEntry("kite_d02", 2, None, ["failed: content_moderated"], "failed")]
    path = write_contact_sheet(tmp_path / "sheet.png", entries, title="kites", thumb_width=160,
                               builtin_font=builtin_font)
    pixels = oiio.ImageBuf(str(path)).get_pixels(oiio.UINT8)
    assert pixels.shape[1] == 2 * (160 + 20)
    caption = pixels[8 + 34 + 90 + 6:, :180]  # under the first thumbnail
    assert (caption.max(axis=2) > 180).sum() > 40  # light text on the dark ground

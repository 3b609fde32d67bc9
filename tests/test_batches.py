"""A draft batch outlives the process running it (issue #17): Ctrl-C keeps it, `genplate
batches` lists and shows it (--json for the panels), and `genplate resume` finishes its
judging, ranking and contact sheet without a second generation for any draft."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from genplate.core.cli import main as cli
from genplate.core.jobs import ledger as L
from genplate.core.review import batches, drafts as D

from test_drafts import CONFIG, StubRunner


class InterruptedRunner(StubRunner):
    """Publishes the first draft, then Ctrl-C arrives while the second is being run."""

    def run(self, job_id, **kw):
        job = self.ledger.get(job_id)
        if job.publish["name"].endswith("_d02") and not job.terminal:
            raise KeyboardInterrupt
        return super().run(job_id, **kw)


@pytest.fixture
def stub_judge(monkeypatch):
    # The stub's takes are 64x36: judge them as such (see test_drafts).
    monkeypatch.setattr(D, "load_config", lambda *a, **k: CONFIG)


def json_of(capsys) -> dict:
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def interrupt_a_batch(tmp_path, capsys, monkeypatch) -> str:
    monkeypatch.setattr(D, "JobRunner", InterruptedRunner)
    code = cli.main(["drafts", "a kite", "-n", "2", "--retries", "0", "--backend", "luma",
                     "--root", str(tmp_path / "takes"), "--shot", "sh030", "--name", "kite",
                     "--json"])
    payload = json_of(capsys)
    assert code == 130 and "genplate resume" in payload["error"]
    return payload["batch"]


def test_an_interrupted_batch_is_kept_listed_and_finished_by_resume(tmp_path, capsys,
                                                                    monkeypatch, stub_judge):
    batch_id = interrupt_a_batch(tmp_path, capsys, monkeypatch)
    assert cli.main(["batches", "--json"]) == 0
    (listed,) = json_of(capsys)["batches"]
    assert listed["batch"] == batch_id and listed["state"] == "interrupted"
    assert listed["shot"] == "sh030" and listed["name"] == "kite" and listed["count"] == 2
    assert listed["jobs"] == {"ready": 1, "queued": 1}
    assert not Path(listed["contact_sheet"]).exists()

    sent = []

    class Finishing(StubRunner):
        def run(self, job_id, **kw):
            if not self.ledger.get(job_id).terminal:
                sent.append(job_id)
            return super().run(job_id, **kw)

    monkeypatch.setattr(D, "JobRunner", Finishing)
    assert cli.main(["resume", "--json"]) == 0
    answer = json_of(capsys)
    (finished,) = answer["batches"]
    assert finished["batch"] == batch_id and finished["state"] == "done"
    ledger = L.Ledger()
    assert len(ledger.jobs()) == 2  # nothing recorded twice, nothing generated twice
    assert sent == [j.id for j in ledger.jobs() if j.publish["name"] == "kite_d02"]
    assert Path(finished["contact_sheet"]).is_file()
    assert sorted(d["rank"] for d in finished["drafts"]) == [1, 2]

    assert cli.main(["batches", batch_id, "--json"]) == 0
    shown = json_of(capsys)["batch"]
    assert shown["state"] == "done" and all(d["take_dir"] for d in shown["drafts"])
    assert cli.main(["resume"]) == 0  # and then there is nothing left to do
    assert "nothing to resume" in capsys.readouterr().out


def test_batches_are_listed_by_shot_and_shown_in_words(tmp_path, capsys, monkeypatch,
                                                       stub_judge):
    batch_id = interrupt_a_batch(tmp_path, capsys, monkeypatch)
    assert cli.main(["batches", "--shot", "sh999", "--json"]) == 0
    assert json_of(capsys) == {"batches": []}
    assert cli.main(["batches"]) == 0
    out = capsys.readouterr().out
    assert batch_id in out and "interrupted" in out and "genplate resume" in out
    assert cli.main(["batches", batch_id]) == 0
    out = capsys.readouterr().out
    assert "kite_d01" in out and "kite_d02" in out and "genplate resume" in out
    assert cli.main(["batches", "bnope", "--json"]) == 2
    assert "no batch 'bnope'" in json_of(capsys)["error"]


def test_a_batch_without_its_record_is_rebuilt_from_the_ledger_and_never_spends_more(
        tmp_path, capsys, monkeypatch, stub_judge):
    batch_id = interrupt_a_batch(tmp_path, capsys, monkeypatch)
    ledger = L.Ledger()
    batches.spec_path(ledger, batch_id).unlink()  # a batch from before records were kept
    spec = batches.read(ledger, batch_id)
    assert spec["count"] == 2 and spec["publish"]["name"] == "kite" and spec["retries"] == 0
    monkeypatch.setattr(D, "JobRunner", StubRunner)
    batch = batches.finish(ledger, spec, judge_config=CONFIG)
    assert batch.contact_sheet.is_file() and len(ledger.jobs()) == 2


def test_a_batch_another_process_runs_is_left_to_it(tmp_path, capsys, monkeypatch, stub_judge):
    import os

    batch_id = interrupt_a_batch(tmp_path, capsys, monkeypatch)
    ledger = L.Ledger()
    spec = batches.claim(ledger, batches.read(ledger, batch_id), pid=os.getppid())
    assert batches.status(ledger, spec)["state"] == "running"
    assert batches.unfinished(ledger) == []
    with pytest.raises(D.DraftsError, match="being run"):
        batches.finish(ledger, spec)


def test_the_estimates_said_for_a_batch_agree(tmp_path, capsys, monkeypatch, stub_judge):
    monkeypatch.setattr(D, "JobRunner", StubRunner)
    code = cli.main(["drafts", "a kite", "-n", "3", "--retries", "0", "--backend", "offline",
                     "--root", str(tmp_path / "takes")])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    said = [line for line in err.splitlines() if "$" in line or "free" in line]
    assert said and all("free on the offline renderer" in line for line in said), said
    assert "$0.00" not in err  # never "$0.18 in all" and then "$0.00 in all"
    code = cli.main(["drafts", "a kite", "-n", "3", "--retries", "0", "--backend", "luma",
                     "--root", str(tmp_path / "takes")])
    err = capsys.readouterr().err
    totals = {word for line in err.splitlines() for word in line.split() if word.startswith("$")}
    assert totals == {"$0.18"}, err

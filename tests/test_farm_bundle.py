"""The farm's job bundle: a valid OpenJD 2023-09 template (checked by openjd-model, the
specification's own library), parameter values in Deadline Cloud's and `openjd run`'s forms,
paths only as PATH parameters; and the shared root's ledger, where tasks starting together
record a shot's jobs once."""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
import yaml
from openjd.model import (StepParameterSpaceIterator, create_job, decode_job_template,
                          preprocess_job_parameters)

from genplate.core.cli import main as cli
from genplate.core.farm import tasks
from genplate.core.farm.bundle import read_plan
from genplate.core.farm.plan import PlanError, read_folders
from genplate.core.jobs import ledger as L
from keyframes import write_png

PROMPT = 'a lighthouse {{Param.TakesRoot}} at dusk }} "quoted" \\ back\\slash {{ not a ref }}'


def make_bundle(tmp_path: Path, capsys, *extra: str, rows: str | None = None) -> tuple[int, dict]:
    write_png(tmp_path / "refs" / "kf_000.png")
    write_png(tmp_path / "plates" / "kf_060.png", 2)
    shots = tmp_path / "seq010.csv"
    shots.write_text(rows or (
        "shot,prompt,keyframes,drafts\n"
        f'sh010,"{PROMPT.replace(chr(34), chr(34) * 2)}","0=refs/kf_000.png;60=plates/kf_060.png",\n'
        "sh020,a red kite over a green hill,,3\n"))
    code = cli.main(["farm", "bundle", str(shots), "--out", str(tmp_path / "bundle"),
                     "--root", str(tmp_path / "takes"), "--backend", "offline", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_the_template_is_valid_openjd_and_every_step_is_a_genplate_command(tmp_path, capsys):
    code, answer = make_bundle(tmp_path, capsys)
    assert code == 0, answer
    bundle = tmp_path / "bundle"
    assert sorted(p.name for p in bundle.iterdir()) == [
        "job_params.json", "parameter_values.yaml", "template.yaml"]
    text = (bundle / "template.yaml").read_text()
    document = yaml.safe_load(text)
    template = decode_job_template(template=document)  # raises on anything the spec refuses
    assert document["specificationVersion"] == "jobtemplate-2023-09"

    params = {p.name: p for p in template.parameterDefinitions}
    assert sorted(params) == ["GenplateCommand", "InputFolder1", "InputFolder2", "TakesRoot"]
    root = params["TakesRoot"]
    assert (root.type.value, root.objectType.value, root.dataFlow.value) == \
        ("PATH", "DIRECTORY", "INOUT")
    for name in ("InputFolder1", "InputFolder2"):
        assert (params[name].type.value, params[name].objectType.value,
                params[name].dataFlow.value) == ("PATH", "DIRECTORY", "IN")
    # No local path is written into the template: each reaches a worker as a PATH parameter.
    assert str(tmp_path) not in text

    values = json.loads((bundle / "job_params.json").read_text())
    assert values == {"TakesRoot": str(tmp_path / "takes"), "GenplateCommand": "genplate",
                      "InputFolder1": str(tmp_path / "refs"),
                      "InputFolder2": str(tmp_path / "plates")}
    deadline = yaml.safe_load((bundle / "parameter_values.yaml").read_text())
    assert deadline == {"parameterValues": [{"name": k, "value": v} for k, v in values.items()]}

    job = create_job(job_template=template, job_parameter_values=preprocess_job_parameters(
        job_template=template, job_parameter_values={k: str(v) for k, v in values.items()},
        job_template_dir=bundle, current_working_dir=tmp_path))
    steps = {s.name: s for s in job.steps}
    assert list(steps) == ["Generate", "JudgeDrafts", "Publish"]
    tasks_of = {name: [{k: v.value for k, v in t.items()}
                       for t in StepParameterSpaceIterator(space=s.parameterSpace)]
                for name, s in steps.items()}
    assert tasks_of["Generate"] == [
        {"Shot": "sh010/lighthouse_param", "Draft": "1"},
        {"Shot": "sh020/red_kite_green", "Draft": "1"},
        {"Shot": "sh020/red_kite_green", "Draft": "2"},
        {"Shot": "sh020/red_kite_green", "Draft": "3"}]
    assert tasks_of["JudgeDrafts"] == [{"Shot": "sh020/red_kite_green"}]
    assert tasks_of["Publish"] == [{}]
    assert [d.dependsOn for d in steps["JudgeDrafts"].dependencies] == ["Generate"]
    assert [d.dependsOn for d in steps["Publish"].dependencies] == ["Generate", "JudgeDrafts"]
    for name, verb in (("Generate", "generate"), ("JudgeDrafts", "judge"), ("Publish", "publish")):
        action = document["steps"][list(steps).index(name)]["script"]["actions"]["onRun"]
        assert action["command"] == "{{Param.GenplateCommand}}"
        assert action["args"][:2] == ["farm", verb]
        assert action["args"][action["args"].index("--root") + 1] == "{{Param.TakesRoot}}"
    assert answer["run"].endswith("--step Publish --run-dependencies")
    assert answer["submit"] == f"deadline bundle submit {bundle}"


def test_the_embedded_plan_keeps_braces_quotes_and_backslashes_of_a_prompt(tmp_path, capsys):
    code, answer = make_bundle(tmp_path, capsys)
    assert code == 0, answer
    plan = read_plan(tmp_path / "bundle")
    assert plan.shots[0].request["prompt"] == PROMPT
    # Unescaped, "{{ not a ref }}" would be an expression openjd-model refuses (see above).
    assert "{{ not a ref }}" not in (tmp_path / "bundle" / "template.yaml").read_text()


def test_a_folder_that_holds_something_is_not_replaced_without_force(tmp_path, capsys):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "template.yaml").write_text("the bundle already submitted\n")
    code, answer = make_bundle(tmp_path, capsys)
    assert code == 2 and "is not empty" in answer["error"]
    assert (tmp_path / "bundle" / "template.yaml").read_text() == "the bundle already submitted\n"
    code, answer = make_bundle(tmp_path, capsys, "--force")
    assert code == 0, answer
    assert read_plan(tmp_path / "bundle").bundle == answer["bundle"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []


def test_a_bundle_over_the_projects_cap_on_the_root_is_refused_before_it_is_written(tmp_path,
                                                                                   capsys):
    rows = "shot,prompt,drafts\nsh010,a kite,3\n"  # three 360p drafts: est. $0.18 on Luma
    code, answer = make_bundle(tmp_path, capsys, "--backend", "luma", "--project", "seq",
                               "--cap", "0.10", rows=rows)
    assert code == 2
    assert "project 'seq' has a cap of $0.10" in answer["error"] and "Nothing was sent" in answer["error"]
    assert not (tmp_path / "bundle").exists()
    caps = json.loads((tmp_path / "takes" / ".genplate" / "budget.json").read_text())
    assert caps["caps"]["seq"]["cap_usd"] == 0.10
    code, answer = make_bundle(tmp_path, capsys, "--backend", "luma", "--project", "seq",
                               "--cap", "1", rows=rows)
    assert code == 0 and answer["estimate_usd"] == pytest.approx(0.18)


def _journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()


def test_the_shared_roots_ledger_keeps_its_rollback_journal_whoever_opens_it(tmp_path):
    # WAL's index is shared memory, which hosts sharing the root over a network never share.
    farm = tasks.open_ledger(tmp_path / "root")
    farm.add_job(backend="offline", request={"prompt": "x"}, publish={})
    farm.close()
    path = tmp_path / "root" / ".genplate" / "ledger.sqlite3"
    assert _journal_mode(path) == "delete"
    plain = L.Ledger(path)  # e.g. `genplate jobs` pointed at the root's data dir
    assert len(plain.jobs()) == 1
    plain.close()
    assert _journal_mode(path) == "delete"
    own = L.Ledger(tmp_path / "home" / "ledger.sqlite3")  # a user's own ledger: WAL as before
    own.jobs()
    own.close()
    assert _journal_mode(tmp_path / "home" / "ledger.sqlite3") == "wal"


def _worker_view(tmp_path: Path):
    """What a task sees: the plan, the root and its input folders."""
    plan = read_plan(tmp_path / "bundle")
    values = json.loads((tmp_path / "bundle" / "job_params.json").read_text())
    folders = read_folders("".join(f"{p}\t{values[p]}\n" for p in plan.folders))
    return plan, values["TakesRoot"], folders


def test_tasks_starting_together_record_a_shots_jobs_once(tmp_path, capsys):
    code, answer = make_bundle(tmp_path, capsys)
    assert code == 0, answer
    plan, root, folders = _worker_view(tmp_path)
    got: list[tuple[str, int, L.Job]] = []
    errors: list[BaseException] = []

    def task(name: str, draft: int) -> None:
        try:
            ledger = tasks.open_ledger(root)
            planned = plan.shot(name)
            request, publish = plan.resolve(planned, root, folders)
            got.append((name, draft, tasks.record(ledger, plan, planned, request, publish, draft)))
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    # Every draft of the batch twice (a farm retry racing the first run), the single take 3x.
    work = [("sh020/red_kite_green", d) for d in (1, 2, 3, 1, 2, 3)]
    work += [("sh010/lighthouse_param", 1)] * 3
    threads = [threading.Thread(target=task, args=w) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ledger = tasks.open_ledger(root)
    batch = ledger.jobs(batch_id=plan.shot("sh020/red_kite_green").key)
    assert sorted(j.publish["name"] for j in batch) == [
        "red_kite_green_d01", "red_kite_green_d02", "red_kite_green_d03"]
    single = ledger.jobs(batch_id=plan.shot("sh010/lighthouse_param").key)
    assert len(single) == 1 and single[0].publish["name"] == "lighthouse_param"
    for name, draft, job in got:
        expected = (f"red_kite_green_d{draft:02d}" if name.startswith("sh020")
                    else "lighthouse_param")
        assert job.publish["name"] == expected
    assert all(j.state == L.QUEUED and j.create_intent_at is None for j in batch + single)


def test_an_input_changed_since_the_bundle_is_refused_before_a_job_is_recorded(tmp_path, capsys):
    code, answer = make_bundle(tmp_path, capsys)
    assert code == 0, answer
    write_png(tmp_path / "plates" / "kf_060.png", seed=9)  # someone repainted the keyframe
    plan, root, folders = _worker_view(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_json()))
    (tmp_path / "inputs.txt").write_text("".join(f"{p}\t{f}\n" for p, f in folders.items()))
    code = cli.main(["farm", "generate", "--plan", str(tmp_path / "plan.json"), "--root", root,
                     "--inputs", str(tmp_path / "inputs.txt"), "--shot",
                     "sh010/lighthouse_param", "--json"])
    captured = capsys.readouterr()
    assert code == 2
    error = json.loads(captured.out)["error"]
    assert "kf_060.png is not the file the bundle was made from" in error
    assert "openjd_fail: " in captured.err  # what the farm shows as the task's reason
    assert tasks.open_ledger(root).jobs() == []
    with pytest.raises(PlanError, match="no folder for InputFolder2 on this worker"):
        plan.resolve(plan.shot("sh010/lighthouse_param"), root,
                     {"InputFolder1": folders["InputFolder1"]})


def test_publish_puts_the_shots_that_have_takes_on_the_timeline_and_names_the_rest(tmp_path,
                                                                                    capsys):
    import opentimelineio as otio

    from test_takes import publish_fake_take

    code, answer = make_bundle(tmp_path, capsys, rows="shot,prompt,drafts\nsh010,a kite,\n"
                                                     "sh020,a hill,\nsh030,a road,2\n")
    assert code == 0, answer
    plan, root, folders = _worker_view(tmp_path)
    ledger = tasks.open_ledger(root)
    jobs = {}
    for task in ("sh010/kite", "sh020/hill"):
        planned = plan.shot(task)
        request, publish = plan.resolve(planned, root, folders)
        jobs[task] = tasks.record(ledger, plan, planned, request, publish, 1)
    take = publish_fake_take(Path(root), "sh010", "kite", job_id=jobs["sh010/kite"].id)
    kite = jobs["sh010/kite"].id
    ledger.advance(kite, L.SUBMITTED, remote_id="offline-x")
    for state in (L.DELIVERED, L.FETCHED, L.INGESTING):
        ledger.advance(kite, state)
    ledger.advance(kite, L.READY, take_dir=str(take.dir))
    ledger.advance(jobs["sh020/hill"].id, L.FAILED, error="the service failed the generation "
                                                          "(moderated): not allowed")
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_json()))
    code = cli.main(["farm", "publish", "--plan", str(tmp_path / "plan.json"), "--root", root,
                     "--json"])
    captured = capsys.readouterr()
    manifest = json.loads(captured.out)
    assert code == 1
    assert manifest["missing"] == ["sh020/hill", "sh030/road"]
    errors = {e["task"]: e.get("error") for e in manifest["shots"]}
    assert errors["sh020/hill"].endswith("(moderated): not allowed")
    assert errors["sh030/road"] == "its drafts have not been judged (the JudgeDrafts step)"
    assert "openjd_fail: 2 shot(s) have no take: sh020/hill, sh030/road" in captured.err
    timeline = otio.adapters.read_from_file(str(Path(root) / "seq010.otio"))
    assert [c.name for c in timeline.video_tracks()[0]] == ["sh010_kite_v001"]
    assert json.loads((Path(root) / "seq010.json").read_text())["missing"] == manifest["missing"]

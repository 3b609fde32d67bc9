"""The farm for real, on the offline backend: a bundle run end to end by `openjd run` (the takes
the same as `genplate generate`'s, a second run sending nothing), by the OpenJD session library
a Deadline Cloud worker runs (a Windows artist's paths mapped to this Linux worker), and a task
killed mid-job whose rerun follows the job instead of creating another."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import opentimelineio as otio
import pytest
import yaml

from genplate.core.cli import main as cli
from genplate.core.farm import tasks
from genplate.core.farm.bundle import read_plan
from genplate.core.jobs import ledger as L
from genplate.core.jobs.runner import PAUSE_ENV
import keyframes

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PROMPT = "a lighthouse on a cliff {{at}} dusk, waves breaking"


def write_png(path: Path, seed: int = 1) -> Path:
    return keyframes.write_png(path, seed, (640, 360))  # a keyframe the size of the take


def make_bundle(tmp_path: Path, capsys, rows: str, *extra: str) -> dict:
    write_png(tmp_path / "refs" / "kf_000.png")
    (tmp_path / "seq010.csv").write_text(rows)
    code = cli.main(["farm", "bundle", str(tmp_path / "seq010.csv"), "--out",
                     str(tmp_path / "bundle"), "--root", str(tmp_path / "takes"), "--backend",
                     "offline", "--json", *extra])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0, answer
    return answer


def worker_env() -> dict:
    """A worker with genplate installed: on PATH, as the README asks."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def openjd_run(bundle: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "openjd"), "run", str(bundle / "template.yaml"), "--job-param",
         f"file://{bundle / 'job_params.json'}", "--step", "Publish", "--run-dependencies"],
        cwd=cwd, env=worker_env(), capture_output=True, text=True, timeout=1800)


def generations(root: Path) -> list[str]:
    store = root / ".genplate" / "offline"
    return sorted(p.name for p in store.iterdir() if p.name.startswith("offline-"))


def essentials(take_dir: Path) -> dict:
    """What must match between two takes of the same request: everything but where and when."""
    record = json.loads((take_dir / "take.json").read_text())
    frames = {k: v for k, v in record["frames"].items() if k != "pattern"}
    return {"shot": record["shot"], "name": record["name"], "version": record["version"],
            "kind": record["kind"], "backend": record["backend"], "request": record["request"],
            "inputs": record["inputs"], "frames": frames, "colour": record["colour"],
            "exr": record["exr"], "sources": [s["sha256"] for s in record["sources"]],
            "verdict": (record.get("scores") or {}).get("verdict")}


def pixels(take_dir: Path, frame: int) -> np.ndarray:
    path = next(take_dir.glob(f"*.{frame}.exr"))
    image = oiio.ImageInput.open(str(path))
    try:
        return image.read_image("float")
    finally:
        image.close()


def test_openjd_runs_a_shot_list_to_the_same_takes_as_genplate_generate(tmp_path, capsys):
    answer = make_bundle(tmp_path, capsys,
                         "shot,prompt,keyframes,drafts\n"
                         f'sh010,"{PROMPT}",0=refs/kf_000.png,\n'
                         "sh020,a red kite over a green hill,,2\n")
    root, bundle = tmp_path / "takes", tmp_path / "bundle"
    run = openjd_run(bundle, tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "openjd_progress: 100" in run.stdout + run.stderr  # the farm saw the progress

    manifest = json.loads((root / "seq010.json").read_text())
    assert manifest["missing"] == []
    by_task = {e["task"]: e for e in manifest["shots"]}
    single = Path(by_task["sh010/lighthouse_cliff_dusk"]["take_dir"])
    chosen = Path(by_task["sh020/red_kite_green"]["take_dir"])
    assert single == root / "sh010" / "lighthouse_cliff_dusk" / "v001"
    assert chosen.parent.name in ("red_kite_green_d01", "red_kite_green_d02")
    assert (root / "sh020" / "red_kite_green_d01" / "v001" / "take.json").is_file()
    assert (root / "sh020" / "red_kite_green_d02" / "v001" / "take.json").is_file()
    assert Path(by_task["sh020/red_kite_green"]["contact_sheet"]).is_file()
    timeline = otio.adapters.read_from_file(str(root / "seq010.otio"))
    assert [c.name for c in timeline.video_tracks()[0]] == [
        "sh010_lighthouse_cliff_dusk_v001", f"sh020_{chosen.parent.name}_v001"]
    # Nothing landed in this machine's own data dir: the job state is on the shared root.
    assert not (Path(os.environ[L.DATA_DIR_ENV]) / "ledger.sqlite3").exists()
    assert len(generations(root)) == 3
    assert cli.main(["farm", "status", str(bundle), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["generations"]
    assert [(g["task"], g["draft"], g["state"]) for g in status] == [
        ("sh010/lighthouse_cliff_dusk", 1, "ready"), ("sh020/red_kite_green", 1, "ready"),
        ("sh020/red_kite_green", 2, "ready")]

    # The same request through `genplate generate`, elsewhere: the same take.
    code = cli.main(["generate", PROMPT, "--shot", "sh010", "--keyframe",
                     f"0={tmp_path / 'refs' / 'kf_000.png'}", "--root", str(tmp_path / "alone"),
                     "--backend", "offline", "--json"])
    alone = Path(json.loads(capsys.readouterr().out)["dir"])
    assert code == 0
    assert essentials(single) == essentials(alone)
    assert essentials(single)["request"]["prompt"] == PROMPT  # braces survived the template
    for frame in (1001, 1061, 1121):
        assert np.array_equal(pixels(single, frame), pixels(alone, frame))

    # The farm runs the whole job again: every task follows its job; nothing is sent or redone.
    again = openjd_run(bundle, tmp_path)
    assert again.returncode == 0, again.stdout[-4000:]
    assert (again.stdout + again.stderr).count("is already ready") == 3
    assert len(generations(root)) == 3
    assert sorted(p.name for p in (root / "sh010" / "lighthouse_cliff_dusk").iterdir()) == ["v001"]


def test_a_windows_artists_bundle_runs_on_a_linux_worker_through_path_mapping(tmp_path, capsys):
    from openjd.model import (ParameterValue, ParameterValueType, StepParameterSpaceIterator,
                              create_job, decode_job_template)
    from openjd.sessions import ActionState, PathMappingRule, Session, SessionState

    make_bundle(tmp_path, capsys, "shot,prompt,keyframes\nsh010,a kite,0=refs/kf_000.png\n")
    bundle = tmp_path / "bundle"
    template = decode_job_template(template=yaml.safe_load((bundle / "template.yaml").read_text()))
    # As the artist's Windows machine submitted it: P:\show is this worker's <tmp>.
    windows = {"TakesRoot": "P:\\show\\takes", "InputFolder1": "P:\\show\\refs",
               "GenplateCommand": str(BIN / "genplate")}
    values = {k: ParameterValue(type=ParameterValueType.STRING if k == "GenplateCommand"
                                else ParameterValueType.PATH, value=v) for k, v in windows.items()}
    job = create_job(job_template=template, job_parameter_values=values)
    rule = PathMappingRule.from_dict({"source_path_format": "WINDOWS", "source_path": "P:\\show",
                                      "destination_path": str(tmp_path)})
    seen: list = []

    def run(session: Session, step) -> object:
        for params in StepParameterSpaceIterator(space=step.parameterSpace):
            session.run_task(step_script=step.script, task_parameter_values=params)
            while session.state == SessionState.RUNNING:
                time.sleep(0.1)
        return session.action_status

    with Session(session_id="artist-on-windows", job_parameter_values=values,
                 path_mapping_rules=[rule], callback=lambda _id, status: seen.append(status),
                 os_env_vars={"PATH": worker_env()["PATH"]}) as session:
        generate = run(session, job.steps[0])
        assert generate.state == ActionState.SUCCESS, generate
        publish = run(session, job.steps[-1])
        assert publish.state == ActionState.SUCCESS, publish
    assert (tmp_path / "takes" / "sh010" / "kite" / "v001" / "take.json").is_file()
    assert (tmp_path / "takes" / "seq010.otio").is_file()
    progress = [s.progress for s in seen if s.progress is not None]
    assert progress and max(progress) == 100.0
    assert any((s.status_message or "").startswith("sh010/kite: ingesting") for s in seen)

    # A folder the farm maps wrong fails the task with a reason the farm shows, nothing sent.
    wrong = dict(values, InputFolder1=ParameterValue(type=ParameterValueType.PATH,
                                                     value="Q:\\elsewhere"))
    job = create_job(job_template=template, job_parameter_values=wrong)
    with Session(session_id="mis-mapped", job_parameter_values=wrong, path_mapping_rules=[rule],
                 os_env_vars={"PATH": worker_env()["PATH"]}) as session:
        failed = run(session, job.steps[0])
    assert failed.state == ActionState.FAILED
    assert "check the path mapping of the job's InputFolder1 parameter" in failed.fail_message
    assert len(generations(tmp_path / "takes")) == 1


def test_a_task_killed_after_its_create_is_rerun_and_follows_the_same_generation(tmp_path,
                                                                                 capsys):
    make_bundle(tmp_path, capsys, "shot,prompt\nsh010,a red kite over a green hill\n")
    root = tmp_path / "takes"
    plan = read_plan(tmp_path / "bundle")
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_json()))
    command = [str(BIN / "genplate"), "farm", "generate", "--plan", str(tmp_path / "plan.json"),
               "--root", str(root), "--shot", "sh010/red_kite_green", "--draft", "1"]
    marker = tmp_path / "paused"
    # Killed the moment the create went out, before its answer reached the ledger: the worker
    # died (or the farm gave up on it) and the farm runs the task again.
    first = subprocess.Popen(command, env={**worker_env(), PAUSE_ENV: "created",
                                           PAUSE_ENV + "_MARKER": str(marker)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    assert len(generations(root)) == 1

    rerun = subprocess.run(command + ["--json"], env=worker_env(), capture_output=True,
                           text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    answer = json.loads(rerun.stdout)
    assert answer["job"]["state"] == "ready"
    assert "following job" in rerun.stderr
    assert len(generations(root)) == 1  # one create, ever
    ledger = tasks.open_ledger(root)
    (job,) = ledger.jobs()
    assert job.remote_id == generations(root)[0]
    details = [e.detail or "" for e in ledger.events(job.id)]
    assert details.count("create: intent recorded") == 1
    assert any(d.startswith("reconciled: the lost create exists as") for d in details)
    assert (root / "sh010" / "red_kite_green" / "v001" / "take.json").is_file()


def test_a_farm_cancel_ends_the_task_and_leaves_its_job_resumable(tmp_path, capsys):
    make_bundle(tmp_path, capsys, "shot,prompt\nsh010,a red kite over a green hill\n")
    root = tmp_path / "takes"
    (tmp_path / "plan.json").write_text(json.dumps(read_plan(tmp_path / "bundle").to_json()))
    marker = tmp_path / "paused"
    task = subprocess.Popen(
        [str(BIN / "genplate"), "farm", "generate", "--plan", str(tmp_path / "plan.json"),
         "--root", str(root), "--shot", "sh010/red_kite_green"],
        env={**worker_env(), PAUSE_ENV: "submitted", PAUSE_ENV + "_MARKER": str(marker)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert task.poll() is None, task.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    task.send_signal(signal.SIGTERM)  # what OpenJD's NOTIFY_THEN_TERMINATE sends first
    _, err = task.communicate(timeout=60)
    assert task.returncode == 130, err
    assert "the job stays resumable" in err
    (job,) = tasks.open_ledger(root).jobs()
    assert job.state == L.SUBMITTED and job.remote_id  # paid for, kept, followed by a rerun
    assert any("interrupted" in (e.detail or "") for e in tasks.open_ledger(root).events(job.id))

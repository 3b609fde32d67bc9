"""An OpenJD job bundle for a farm plan: the template and its parameter values.

``DIR/template.yaml`` is an Open Job Description 2023-09 job template with three steps, each a
``genplate farm`` command:

1. **Generate**: one task per generation (a shot, or one draft of a shot; task parameters
   ``Shot`` and ``Draft``), each recording its job on the shared root, or finding it there,
   and following it to a published take.
2. **JudgeDrafts** (when a shot asks for two drafts or more): one task per such shot; its drafts
   judged and ranked, broken ones replaced while the allowance lasts, a contact sheet written.
3. **Publish**: the sequence: each shot's chosen take on one OTIO timeline, with a manifest.

``DIR/parameter_values.yaml`` holds the values in AWS Deadline Cloud's job bundle form
(``parameterValues: [{name, value}]``, read by ``deadline bundle submit DIR``), and
``DIR/job_params.json`` the same values as one ``{"Name": value}`` object for
``openjd run DIR/template.yaml --job-param file://DIR/job_params.json``.

The plan travels inside the template (an embedded file), so the bundle needs nothing else;
paths are PATH parameters only (see plan.py), so the farm maps them for each worker.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml

from .plan import FarmPlan, PlanError

SPEC = "jobtemplate-2023-09"
STEP_GENERATE = "Generate"
STEP_JUDGE = "JudgeDrafts"
STEP_PUBLISH = "Publish"
ROOT_PARAM = "TakesRoot"
COMMAND_PARAM = "GenplateCommand"
TEMPLATE = "template.yaml"
PARAMETER_VALUES = "parameter_values.yaml"
JOB_PARAMS = "job_params.json"
PLAN_FILE = "plan.json"
INPUTS_FILE = "inputs.txt"
MAX_TASKS = 1024  # an OpenJD step's task parameter holds at most 1024 values
# A farm's cancel (NOTIFY_THEN_TERMINATE) sends SIGTERM first: the task leaves its job resumable
# in the ledger and exits; the grace period only has to cover that.
CANCEL_GRACE_SECONDS = 30


def template(plan: FarmPlan) -> dict[str, Any]:
    """The job template (a dict, as YAML would load it)."""
    generate = plan.generate_tasks()
    if len(generate) > MAX_TASKS:
        raise PlanError(f"{len(generate)} generations in one bundle; an OpenJD step runs at most "
                        f"{MAX_TASKS} tasks (split the shot list, or ask for fewer drafts)")
    common = ["--plan", "{{Task.File.Plan}}", "--root", "{{Param.%s}}" % ROOT_PARAM,
              "--inputs", "{{Task.File.Inputs}}"]
    steps = [{
        "name": STEP_GENERATE,
        "description": "One generation per task (a shot, or one draft of it), followed on the "
                       "shared root to a published take; run again, a task follows its job.",
        "parameterSpace": {
            "taskParameterDefinitions": [
                {"name": "Shot", "type": "STRING", "range": [task for task, _ in generate]},
                {"name": "Draft", "type": "INT", "range": [slot for _, slot in generate]},
            ],
            "combination": "(Shot, Draft)",
        },
        "script": _script(plan, ["farm", "generate", *common, "--shot", "{{Task.Param.Shot}}",
                                 "--draft", "{{Task.Param.Draft}}"]),
    }]
    batches = plan.batch_tasks()
    if batches:
        steps.append({
            "name": STEP_JUDGE,
            "description": "Each shot's drafts judged and ranked, broken ones replaced while "
                           "the allowance lasts, a contact sheet beside the takes.",
            "parameterSpace": {"taskParameterDefinitions": [
                {"name": "Shot", "type": "STRING", "range": batches}]},
            "script": _script(plan, ["farm", "judge", *common, "--shot", "{{Task.Param.Shot}}"]),
            "dependencies": [{"dependsOn": STEP_GENERATE}],
        })
    steps.append({
        "name": STEP_PUBLISH,
        "description": "The sequence: every shot's chosen take on one OTIO timeline, with a "
                       "manifest, at the takes root.",
        "script": _script(plan, ["farm", "publish", *common]),
        "dependencies": [{"dependsOn": s["name"]} for s in steps],
    })
    shots = len(plan.shots)
    return {
        "specificationVersion": SPEC,
        "name": f"genplate {plan.sequence}",
        "description": (f"{shots} shot(s), {len(generate)} generation(s) on {plan.backend}, "
                        f"est. ${plan.estimate_usd():.2f} (genplate farm bundle {plan.bundle})"),
        "parameterDefinitions": _parameters(plan),
        "steps": steps,
    }


def parameter_values(root: str, folders: dict[str, str], command: str = "genplate"
                     ) -> dict[str, Any]:
    """The job's parameter values as one {"Name": value} map: the paths as this machine sees
    them (the farm maps them for each worker), and the workers' genplate command."""
    return {ROOT_PARAM: root, COMMAND_PARAM: command, **folders}


def write_bundle(out: os.PathLike | str, plan: FarmPlan, values: dict[str, Any], *,
                 force: bool = False) -> dict[str, Path]:
    """Write the three files into ``out``: all of them, or (on any failure) none."""
    out = Path(os.path.abspath(os.fspath(out)))
    if out.exists() and not out.is_dir():
        raise PlanError(f"--out {out}: a file is in the way; name a folder for the bundle")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise PlanError(f"--out {out} is not empty; choose a new folder, or pass --force to "
                        f"replace it (a new bundle is new work: its shots are generated again)")
    needed = {ROOT_PARAM, COMMAND_PARAM, *plan.folders}
    if set(values) != needed:
        raise PlanError(f"parameter values for {sorted(values)}; the template has {sorted(needed)}")
    texts = {
        TEMPLATE: _yaml(template(plan)),
        PARAMETER_VALUES: _yaml({"parameterValues": [{"name": k, "value": v}
                                                     for k, v in values.items()]}),
        JOB_PARAMS: json.dumps(values, indent=2, ensure_ascii=False) + "\n",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target, then renamed into place: a crash leaves no half bundle to submit.
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        for name, text in texts.items():
            with open(staging / name, "x", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        if out.exists():
            old = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {name: out / name for name in texts}


def read_plan(bundle_dir: os.PathLike | str) -> FarmPlan:
    """The plan a bundle carries (its Generate step's embedded file)."""
    path = Path(bundle_dir) / TEMPLATE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        step = next(s for s in data["steps"] if s["name"] == STEP_GENERATE)
        embedded = next(f for f in step["script"]["embeddedFiles"] if f["name"] == "Plan")
        return FarmPlan.from_json(json.loads(embedded["data"]))
    except (OSError, ValueError, KeyError, TypeError, StopIteration, yaml.YAMLError) as exc:
        raise PlanError(f"{path}: not a genplate farm bundle ({type(exc).__name__}: {exc})") from None


def read_job_params(bundle_dir: os.PathLike | str) -> dict[str, Any]:
    path = Path(bundle_dir) / JOB_PARAMS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: cannot be read ({exc})") from None


# -- pieces --------------------------------------------------------------------------------------

def _parameters(plan: FarmPlan) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [{
        "name": ROOT_PARAM, "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "INOUT",
        "description": "Where the takes are published: shared storage every worker sees. The "
                       "shots' job state lives beside them, in its .genplate folder.",
        "userInterface": {"control": "CHOOSE_DIRECTORY", "label": "Takes root"},
    }, {
        "name": COMMAND_PARAM, "type": "STRING", "minLength": 1, "default": "genplate",
        "description": "The genplate command on the workers (on PATH, or a full path).",
        "userInterface": {"control": "LINE_EDIT", "label": "genplate command"},
    }]
    for param in plan.folders:
        names = sorted(f.name for f in plan.files if f.param == param)
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        params.append({
            "name": param, "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
            "description": f"A folder of the shot list's input images ({shown})."[:2048],
            "userInterface": {"control": "CHOOSE_DIRECTORY", "label": param,
                              "groupLabel": "Input images"},
        })
    return params


def _script(plan: FarmPlan, args: list[str]) -> dict[str, Any]:
    inputs = "".join(f"{param}\t{{{{Param.{param}}}}}\n" for param in plan.folders)
    return {
        "actions": {"onRun": {
            "command": "{{Param.%s}}" % COMMAND_PARAM, "args": args,
            "cancelation": {"mode": "NOTIFY_THEN_TERMINATE",
                            "notifyPeriodInSeconds": CANCEL_GRACE_SECONDS},
        }},
        "embeddedFiles": [
            {"name": "Plan", "type": "TEXT", "filename": PLAN_FILE,
             "data": embedded_json(plan.to_json())},
            {"name": "Inputs", "type": "TEXT", "filename": INPUTS_FILE,
             "data": "# the shot list's input folders on this worker (path-mapped)\n" + inputs},
        ],
    }


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def embedded_json(data: Any) -> str:
    """JSON safe inside an OpenJD format string: ``{{`` starts an expression there, so every
    brace inside a string is written as a \\u escape, and indentation keeps the structure's own
    braces apart (``{`` ends its line, ``}`` starts one)."""
    text = json.dumps(data, indent=1, ensure_ascii=True)
    return _JSON_STRING.sub(
        lambda m: m.group(0).replace("{", "\\u007b").replace("}", "\\u007d"), text) + "\n"


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["template", "parameter_values", "write_bundle", "read_plan", "read_job_params",
           "embedded_json", "STEP_GENERATE", "STEP_JUDGE", "STEP_PUBLISH", "ROOT_PARAM",
           "COMMAND_PARAM", "TEMPLATE", "PARAMETER_VALUES", "JOB_PARAMS"]

"""The farm plan: every shot of a bundle, its request and where it is published, as the workers
will read it (embedded in the job template, so a bundle carries everything it needs).

No path travels inside the plan. The takes root is the job's ``TakesRoot`` PATH parameter;
each folder that holds an input image (a keyframe, a start or end frame, a plate, an OCIO
config) is a PATH parameter of its own (``InputFolder1`` ...), and the plan names a file as
``genplate-input:InputFolder1/kf_048.png``. The farm maps those parameters to where the worker
sees them (OpenJD path mapping: a Windows artist's ``P:\\show`` is a Linux worker's
``/mnt/show``), and the worker checks each file against the size and sha256 the bundle recorded
before anything is sent: a keyframe changed since the bundle was made is refused, not paid for.

A shot's **key** is derived from the bundle's id, the shot and the take name. Every task of the
shot finds its jobs in the ledger by it (the batch of the shot's drafts, one job per draft
slot), so a task the farm runs again, on any worker, follows the job its first run recorded
instead of recording, or sending, another.
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .. import __version__
from ..request import ShotRequest
from ..takes.record import PublishSpec

SCHEMA = "genplate.farm/1"
TOKEN = "genplate-input:"
INPUT_PARAM = "InputFolder"
# OpenJD 2023-09 allows 50 job parameters; TakesRoot and GenplateCommand take two.
MAX_INPUT_FOLDERS = 48
_PARAM_RE = re.compile(rf"{INPUT_PARAM}[0-9]{{1,2}}")


class PlanError(ValueError):
    """A plan that cannot be made, or run on this worker; the message says what to change."""


@dataclass(frozen=True)
class PlanInput:
    """An input file: the folder parameter that holds it, its name there, what it must be."""

    param: str
    name: str
    bytes: int
    sha256: str

    @property
    def token(self) -> str:
        return f"{TOKEN}{self.param}/{self.name}"


@dataclass
class PlannedShot:
    task: str                  # the task's name on the farm: "sh010/lighthouse"
    shot: str
    name: str
    key: str                   # the stable key its jobs are found by (a batch id)
    drafts: int
    seed: Optional[int]        # with drafts: the first draft's seed
    request: dict              # ShotRequest JSON, input files as tokens
    publish: dict              # PublishSpec JSON without its root, a config file as a token
    estimate_usd: float        # one generation's estimate on the plan's backend
    where: str = ""            # the shot list row it came from

    @property
    def is_batch(self) -> bool:
        return self.drafts > 1


@dataclass
class FarmPlan:
    bundle: str
    backend: str
    sequence: str
    project: str = ""
    retries: int = 2           # judged-broken drafts a batch may replace (each is paid)
    shots: list[PlannedShot] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)   # the input folders' parameters
    files: list[PlanInput] = field(default_factory=list)
    engine: str = f"genplate {__version__}"

    # -- what the template needs --------------------------------------------------------------

    def shot(self, task: str) -> PlannedShot:
        for planned in self.shots:
            if planned.task == task:
                return planned
        raise PlanError(f"the bundle has no shot {task!r} (its shots: "
                        f"{', '.join(s.task for s in self.shots[:8])}...)")

    def generate_tasks(self) -> list[tuple[str, int]]:
        """(shot task, draft slot from 1) for every generation, in shot list order."""
        return [(s.task, slot) for s in self.shots for slot in range(1, s.drafts + 1)]

    def batch_tasks(self) -> list[str]:
        return [s.task for s in self.shots if s.is_batch]

    def estimate_usd(self) -> float:
        return round(sum(s.estimate_usd * s.drafts for s in self.shots), 4)

    # -- on the worker ------------------------------------------------------------------------

    def resolve(self, planned: PlannedShot, root: str, folders: dict[str, str]
                ) -> tuple[ShotRequest, PublishSpec]:
        """The shot's request and publish spec with this worker's paths, inputs checked."""
        files = {f.token: f for f in self.files}

        def local(token: str) -> str:
            entry = files.get(token)
            if entry is None:
                raise PlanError(f"{planned.task}: the plan names {token!r} but does not list it")
            folder = folders.get(entry.param)
            if not folder:
                raise PlanError(f"{planned.task}: no folder for {entry.param} on this worker "
                                f"(the job's {entry.param} parameter, holding {entry.name})")
            path = os.path.join(folder, entry.name)
            _check_input(path, entry)
            return path

        request = ShotRequest.from_json(_map_tokens(planned.request, local))
        publish = dict(planned.publish)
        if isinstance(publish.get("config"), str) and publish["config"].startswith(TOKEN):
            publish["config"] = local(publish["config"])
        publish["root"] = root
        return request, PublishSpec.from_json(publish)

    # -- serialisation ------------------------------------------------------------------------

    def to_json(self) -> dict:
        data = asdict(self)
        data["schema"] = SCHEMA
        return data

    @classmethod
    def from_json(cls, data: Any) -> "FarmPlan":
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise PlanError(f"not a genplate farm plan ({found!r}; expected {SCHEMA}): the bundle "
                            f"was written by another genplate, or by hand")
        data = dict(data)
        data.pop("schema")
        data["shots"] = [PlannedShot(**s) for s in data.get("shots", [])]
        data["files"] = [PlanInput(**f) for f in data.get("files", [])]
        return cls(**data)


# -- making a plan --------------------------------------------------------------------------------

def new_bundle_id() -> str:
    return "f" + uuid.uuid4().hex[:11]


def shot_key(bundle: str, shot: str, name: str) -> str:
    """The key every task of one shot finds its jobs by, the same on every worker and rerun."""
    digest = hashlib.sha256(f"genplate-farm/1\0{bundle}\0{shot}\0{name}".encode()).hexdigest()
    return "farm-" + digest[:12]


def task_name(shot: str, name: str) -> str:
    return f"{shot}/{name}"


class InputCollector:
    """Gives every local input file its folder parameter and token, and records what it is."""

    def __init__(self) -> None:
        self.folders: dict[str, str] = {}            # folder -> param
        self.files: dict[str, PlanInput] = {}        # absolute path -> entry

    def token(self, path: str) -> str:
        from ..digest import file_sha256

        path = os.path.abspath(path)
        entry = self.files.get(path)
        if entry is None:
            folder, name = os.path.split(path)
            param = self.folders.get(folder)
            if param is None:
                if len(self.folders) >= MAX_INPUT_FOLDERS:
                    raise PlanError(f"input images come from more than {MAX_INPUT_FOLDERS} "
                                    f"folders; an OpenJD job takes at most {MAX_INPUT_FOLDERS} "
                                    f"(gather the keyframes into fewer folders)")
                param = f"{INPUT_PARAM}{len(self.folders) + 1}"
                self.folders[folder] = param
            entry = PlanInput(param, name, os.path.getsize(path), file_sha256(path))
            self.files[path] = entry
        return entry.token

    def request_json(self, request: ShotRequest) -> dict:
        return _map_paths(request.to_json(), self.token)

    def publish_json(self, spec: PublishSpec) -> dict:
        data = spec.to_json()
        data.pop("root", None)
        config = data.get("config")
        if isinstance(config, str) and not config.startswith("ocio://") and os.path.isfile(config):
            data["config"] = self.token(config)
        return data


def _map_paths(value: Any, token) -> Any:
    """Every media reference's local ``path`` replaced by its token (nothing else has one)."""
    if isinstance(value, dict):
        return {k: (token(v) if k == "path" and isinstance(v, str) else _map_paths(v, token))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # asdict keeps a request's tuples
        return [_map_paths(v, token) for v in value]
    return value


def _map_tokens(value: Any, local) -> Any:
    if isinstance(value, dict):
        return {k: (local(v) if k == "path" and isinstance(v, str) and v.startswith(TOKEN)
                    else _map_tokens(v, local)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_tokens(v, local) for v in value]
    return value


def _check_input(path: str, entry: PlanInput) -> None:
    from ..digest import file_sha256

    if not os.path.isfile(path):
        raise PlanError(f"{entry.param}: {path} is not on this worker; check the path mapping "
                        f"of the job's {entry.param} parameter")
    size = os.path.getsize(path)
    if size != entry.bytes or file_sha256(path) != entry.sha256:
        raise PlanError(f"{path} is not the file the bundle was made from ({entry.bytes} bytes, "
                        f"sha256 {entry.sha256[:12]}...): it changed since; make the bundle "
                        f"again rather than pay for a generation from another image")


def valid_param(name: str) -> bool:
    return bool(_PARAM_RE.fullmatch(name))


def read_folders(text: str) -> dict[str, str]:
    """The worker's input folders, as the template's Inputs file lists them (path-mapped):
    one ``InputFolderN<TAB>path`` per line."""
    folders = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        param, sep, folder = line.partition("\t")
        if sep and valid_param(param):
            folders[param] = folder
    return folders


__all__ = ["FarmPlan", "PlannedShot", "PlanInput", "PlanError", "InputCollector", "SCHEMA",
           "new_bundle_id", "shot_key", "task_name", "read_folders", "MAX_INPUT_FOLDERS"]

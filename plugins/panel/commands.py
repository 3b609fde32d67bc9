"""The engine's command lines and their JSON answers, shared by the panel and headless Nuke.

Standard library only (no Qt): ``genplate.nuke.generate`` runs under ``nuke -t`` where there is
no event loop, and builds the same command lines as the panel. Every function here is pure
except ``run_json``, the blocking call for headless use.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from .engine_config import engine_command, engine_environment

QUALITIES = ("draft", "master", "custom")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
MASTER_RESOLUTIONS = ("720p", "1080p")
DURATIONS = ("5s", "10s")
ASPECT_RATIOS = ("16:9", "21:9", "4:3", "1:1", "3:4", "9:16")
FRAME_GRID = 24  # the request's frame index grid (fps) for keyframes


class CommandFailed(RuntimeError):
    """The engine answered with an error (its one-line message) or not at all."""


@dataclass
class RequestFields:
    """What the artist filled in: one field per panel widget / node knob."""

    prompt: str = ""
    quality: str = "draft"          # draft (360p SDR), master (HDR + EXR), custom
    resolution: str = "1080p"       # master/custom only
    duration: str = "5s"
    aspect: str = "16:9"
    hdr: bool = False               # custom only (720p/1080p)
    exr: bool = False               # custom only, needs hdr
    loop: bool = False
    start_frame: str = ""           # 8-bit PNG paths (from the host or chosen files)
    end_frame: str = ""
    keyframes: dict = field(default_factory=dict)  # {grid index: png path}
    shot: str = "sh010"
    name: str = ""                  # take name; empty = from the prompt
    root: str = ""                  # where takes are published; empty = the engine's default
    first_frame: int = 1001
    project: str = ""
    seed: Optional[int] = None
    backend: str = ""               # empty = the engine decides (luma with a key, else offline)
    strokes: str = ""               # the canvas's strokes file (`genplate annotate`), kept with the take

    def problems(self) -> list[str]:
        """What to change before anything is sent (the engine checks again; this is early)."""
        out = []
        if not self.prompt.strip():
            out.append("write a prompt")
        if self.quality not in QUALITIES:
            out.append(f"quality must be one of {', '.join(QUALITIES)}")
        if self.quality == "master" and self.resolution not in MASTER_RESOLUTIONS:
            out.append("a master is 720p or 1080p")
        if self.quality == "custom" and (self.hdr or self.exr) and \
                self.resolution not in MASTER_RESOLUTIONS:
            out.append("HDR/EXR need 720p or 1080p")
        if self.quality == "custom" and self.exr and not self.hdr:
            out.append("EXR needs HDR")
        if self.resolution not in RESOLUTIONS:
            out.append(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        if self.duration not in DURATIONS:
            out.append(f"duration must be one of {', '.join(DURATIONS)}")
        if self.aspect not in ASPECT_RATIOS:
            out.append(f"aspect must be one of {', '.join(ASPECT_RATIOS)}")
        if not self.shot.strip() or any(c in self.shot for c in "/\\") or ".." in self.shot:
            out.append("the shot name must be a plain name (no slashes)")
        # The engine resolves a relative or missing root against its own working directory,
        # which for a panel is the host's: takes would land wherever Nuke was started.
        if not self.root.strip():
            out.append("choose the takes root (where takes are published), or set $GENPLATE_ROOT")
        elif not os.path.isabs(os.path.expanduser(self.root.strip())):
            out.append(f"the takes root {self.root.strip()!r} must be an absolute path")
        return out


def submit_args(fields: RequestFields) -> list[str]:
    """`genplate submit ...` arguments for the fields (the prompt last, after `--`)."""
    args = ["submit", "--json", "--shot", fields.shot.strip(), "--aspect", fields.aspect,
            "--duration", fields.duration, "--first-frame", str(int(fields.first_frame))]
    if fields.quality == "draft":
        args.append("--draft")
    elif fields.quality == "master":
        args += ["--master", "--resolution", fields.resolution]
    else:
        args += ["--resolution", fields.resolution]
        if fields.hdr:
            args.append("--hdr")
        if fields.exr:
            args.append("--exr")
    if fields.loop:
        args.append("--loop")
    if fields.root.strip():
        args += ["--root", os.path.expanduser(fields.root.strip())]
    if fields.name.strip():
        args += ["--name", fields.name.strip()]
    if fields.project.strip():
        args += ["--project", fields.project.strip()]
    if fields.backend:
        args += ["--backend", fields.backend]
    if fields.seed is not None:
        args += ["--seed", str(int(fields.seed))]
    if fields.start_frame:
        args += ["--start-frame", fields.start_frame]
    if fields.end_frame:
        args += ["--end-frame", fields.end_frame]
    for index, path in sorted(fields.keyframes.items(), key=lambda kv: int(kv[0])):
        args += ["--keyframe", f"{int(index)}={path}"]
    if fields.strokes:
        args += ["--strokes", fields.strokes]
    # `--` so that a prompt beginning with "-" is never read as an option.
    return args + ["--", fields.prompt]


def drafts_args(fields: RequestFields, count: int) -> list[str]:
    """`genplate drafts ... -n N --detach`: one batch of draft takes, judged and ranked by a
    detached engine process (the same request options as a submit, the prompt last)."""
    args = submit_args(fields)
    options, prompt = args[2:-2], args[-1]
    return ["drafts", "--json", "-n", str(int(count)), "--detach"] + options + ["--", prompt]


def annotate_args(frame: str, strokes_file: str, prompt: str, out_dir: str, *,
                  duration: str = "5s") -> list[str]:
    """`genplate annotate`: the canvas's strokes -> proposed keyframes and prompt directions."""
    # `--prompt=` joined: a prompt beginning with "-" stays the option's value.
    return ["annotate", frame, "--strokes", strokes_file, f"--prompt={prompt}", "--out", out_dir,
            "--duration", duration, "--json"]


def jobs_args(*, active: bool = False, shot: str = "", limit: int = 50) -> list[str]:
    args = ["jobs", "--json", "-n", str(limit)]
    if active:
        args.append("--active")
    if shot:
        args += ["--shot", shot]
    return args


def job_args(job_id: str) -> list[str]:
    return ["jobs", job_id, "--json"]


def cancel_args(job_id: str) -> list[str]:
    return ["cancel", job_id, "--json"]


def takes_args(root: str, shot: str = "") -> list[str]:
    args = ["takes", "--json"]
    if root:
        args += ["--root", root]
    if shot:
        args += ["--shot", shot]
    return args


def show_args(take: str, root: str = "") -> list[str]:
    args = ["show", take, "--json"]
    if root:
        args += ["--root", root]
    return args


def batches_args(root: str = "", shot: str = "", limit: int = 20) -> list[str]:
    """`genplate batches --json`: a shot's draft batches, newest first, finished or not."""
    args = ["batches", "--json", "-n", str(int(limit))]
    if root:
        args += ["--root", root]
    if shot:
        args += ["--shot", shot]
    return args


def promote_args(take: str, root: str = "") -> list[str]:
    args = ["promote", take, "--json", "--detach"]
    if root:
        args += ["--root", root]
    return args


def parse_answer(stdout: str, stderr: str, exit_code: Optional[int]) -> dict:
    """The one JSON object the engine printed, or CommandFailed with its message."""
    payload = None
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                payload = json.loads(line)
                break
            except ValueError:
                continue
    if isinstance(payload, dict) and payload.get("error") and exit_code not in (0, None):
        raise CommandFailed(str(payload["error"]))
    if exit_code != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise CommandFailed(" / ".join(tail) or f"the engine exited with code {exit_code}")
    if not isinstance(payload, dict):
        raise CommandFailed("the engine printed no JSON answer")
    return payload


def run_json(args: list[str], *, timeout: float = 120.0) -> dict:
    """Run one engine command and wait for its answer (headless use only: this blocks)."""
    prefix, source = engine_command()
    try:
        done = subprocess.run(prefix + list(args), capture_output=True, text=True,
                              timeout=timeout, env=engine_environment(source=source),
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"`genplate {args[0]}` gave no answer in {timeout:.0f} s") from None
    except OSError as exc:
        raise CommandFailed(f"cannot start the engine ({prefix[0]}): {exc}") from None
    return parse_answer(done.stdout, done.stderr, done.returncode)


__all__ = ["RequestFields", "CommandFailed", "submit_args", "drafts_args", "annotate_args", "jobs_args", "job_args",
           "cancel_args", "takes_args", "show_args", "promote_args", "batches_args", "parse_answer", "run_json",
           "QUALITIES", "RESOLUTIONS", "MASTER_RESOLUTIONS", "DURATIONS", "ASPECT_RATIOS"]

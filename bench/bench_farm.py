"""A shot list on the farm: 8 shots on the offline backend, one OpenJD session against two.

    .venv/bin/python bench/bench_farm.py [--shots 8] [--keep DIR]

Cases, each on a fresh takes root with a fresh bundle of the same shot list (8 single 360p 5 s
takes, distinct prompts), run by `openjd run` exactly as a TD would on one machine:
  one worker    `openjd run template.yaml --step Publish --run-dependencies`: every task in
                one session, one after the other.
  two workers   two `openjd run --step Generate --tasks file://half.json` sessions at once,
                each given half the shots (what two farm workers pulling from one queue do),
                then `openjd run --step Publish`.
  rerun         the one-worker bundle run again on its own root: every task finds its job
                ready and follows it to nothing. It is the farm's own cost per task (the
                session, starting genplate, the ledger look-ups), the floor under the others.
The ratio "one / two" is the figure that holds on a machine shared with others; CPU seconds of
the child processes, and how much of the machine's cores they kept busy, say what limits it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

BIN = Path(sys.executable).parent
PROMPTS = [
    "a lighthouse on a cliff at dusk, waves breaking", "a red kite over a green hill",
    "rain on a tin roof at night, neon reflections", "a desert road at noon, heat haze",
    "snow falling on a pine forest, slow push in", "a harbour at dawn, fishing boats leaving",
    "a city skyline at night, traffic trails", "a field of sunflowers under a storm sky",
    "a waterfall in a jungle, mist rising", "an empty train platform, fluorescent light",
]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Clock:
    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), children_cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = children_cpu() - self.cpu0


def env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(cmd: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(cmd, env=env(), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def make_bundle(work: Path, name: str, shots: int) -> tuple[Path, Path]:
    rows = "shot,prompt\n" + "".join(f'sh{10 * (i + 1):03d},"{PROMPTS[i % len(PROMPTS)]}"\n'
                                     for i in range(shots))
    (work / "shots.csv").write_text(rows)
    root, bundle = work / f"{name}-takes", work / f"{name}-bundle"
    run([str(BIN / "genplate"), "farm", "bundle", str(work / "shots.csv"), "--out", str(bundle),
         "--root", str(root), "--backend", "offline", "--sequence", name], work / f"{name}.log")
    return bundle, root


def openjd(bundle: Path, *args: str) -> list[str]:
    return [str(BIN / "openjd"), "run", str(bundle / "template.yaml"), "--job-param",
            f"file://{bundle / 'job_params.json'}", *args]


def one_worker(work: Path, shots: int) -> tuple[Clock, Path, Path]:
    bundle, root = make_bundle(work, "one", shots)
    with Clock() as clock:
        run(openjd(bundle, "--step", "Publish", "--run-dependencies"), work / "one.log")
    return clock, bundle, root


def two_workers(work: Path, shots: int) -> Clock:
    bundle, _ = make_bundle(work, "two", shots)
    import yaml

    template = yaml.safe_load((bundle / "template.yaml").read_text())
    space = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"]
    tasks = [{"Shot": s, "Draft": d} for s, d in zip(space[0]["range"], space[1]["range"])]
    halves = [tasks[0::2], tasks[1::2]]
    for i, half in enumerate(halves):
        (work / f"half{i}.json").write_text(json.dumps(half))
    with Clock() as clock:
        logs = [open(work / f"two-{i}.log", "ab") for i in range(2)]
        procs = [subprocess.Popen(openjd(bundle, "--step", "Generate", "--tasks",
                                         f"file://{work / f'half{i}.json'}"),
                                  env=env(), stdout=logs[i], stderr=subprocess.STDOUT)
                 for i in range(2)]
        codes = [p.wait() for p in procs]
        for log in logs:
            log.close()
        if any(codes):
            sys.exit(f"a Generate session failed ({codes}); see {work}/two-*.log")
        run(openjd(bundle, "--step", "Publish"), work / "two.log")
    return clock


def rerun(work: Path, bundle: Path) -> Clock:
    with Clock() as clock:
        run(openjd(bundle, "--step", "Publish", "--run-dependencies"), work / "rerun.log")
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-farm-"))
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    load0 = os.getloadavg()[0]
    try:
        one, bundle, _ = one_worker(work, args.shots)
        two = two_workers(work, args.shots)
        floor = rerun(work, bundle)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()[0]
    tasks = args.shots + 1  # the generations and the publish
    print(f"machine: {cpu_model()}, {cores} cores; load average {load0:.1f} -> {load1:.1f}")
    print(f"{args.shots} shots, offline backend, 360p 5 s single takes; {tasks} tasks")
    print(f"{'case':12} {'wall':>8} {'CPU':>8} {'busy cores':>11} {'per shot':>9}")
    for name, clock in (("one worker", one), ("two workers", two), ("rerun", floor)):
        print(f"{name:12} {clock.wall:7.1f}s {clock.cpu:7.1f}s {clock.cpu / clock.wall:10.2f} "
              f"{clock.wall / args.shots:8.1f}s")
    print(f"one / two: {one.wall / two.wall:.2f}x faster with two sessions "
          f"(the most {cores} cores allow: {min(2.0, cores * one.wall / one.cpu):.2f}x)")
    print(f"farm overhead per task (rerun / tasks): {floor.wall / tasks:.1f}s wall, "
          f"{floor.cpu / tasks:.1f}s CPU; that is {floor.wall / one.wall:.0%} of the one-worker run")


if __name__ == "__main__":
    main()

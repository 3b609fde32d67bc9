"""What genplate adds to Nuke's start: the same fake-Nuke start with and without genplate.

    .venv/bin/python bench/bench_nuke_start.py [--runs 40] [--terminal] [--out FILE]

Each run is a fresh Python process (this one's interpreter, with its site-packages, so Qt is
importable as it is inside Nuke) that installs the recording fake of ``nuke`` from tests/ and
then, in the ``genplate`` arm only, runs plugins/nuke/init.py and menu.py the way Nuke does (in
a fresh namespace, no ``__file__``; menu.py in a GUI session). The two arms alternate, so a
change in the machine's load falls on both.

Per arm: the process's wall time and CPU (user + system, from the kernel's accounting of the
child) as median, quartiles and minimum; the difference of the medians is what genplate adds.
The ``genplate`` arm also reports, from inside the process, the time spent in init.py + menu.py
alone and what they imported, the figure ``python -X importtime`` breaks down.

Baseline: the ``bare`` arm, same interpreter, same fake, same run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "plugins" / "nuke"
TESTS = REPO / "tests"

# The child: the fake Nuke's start, then genplate's two files if asked. It prints one JSON line.
CHILD = r"""
import json, sys, time
sys.path.insert(0, {tests!r})
import fake_nuke
nuke = fake_nuke.install(gui={gui!r})
before = set(sys.modules)
t0, c0 = time.perf_counter(), time.process_time()
if {with_genplate!r}:
    for name in ({files!r}):
        path = {plugin!r} + "/" + name
        exec(compile(open(path).read(), path, "exec"), {{"__name__": "__main__"}})
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({{"genplate_ms": (t1 - t0) * 1000.0, "genplate_cpu_ms": (c1 - c0) * 1000.0,
                  "imported": sorted(set(sys.modules) - before)}}))
"""


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_start(with_genplate: bool, gui: bool) -> dict:
    files = ("init.py", "menu.py") if gui else ("init.py",)
    code = CHILD.format(tests=str(TESTS), gui=gui, with_genplate=with_genplate, files=files,
                        plugin=str(PLUGIN))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cpu0, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if done.returncode != 0 or "Traceback" in done.stderr:
        raise SystemExit(f"the start failed ({'with' if with_genplate else 'without'} "
                         f"genplate):\n{done.stderr}")
    inside = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_ms": wall * 1000.0, "cpu_ms": cpu * 1000.0, **inside}


def describe(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4)
    return {"median": round(statistics.median(values), 1), "q1": round(q[0], 1),
            "q3": round(q[2], 1), "min": round(min(values), 1)}


def run(runs: int, gui: bool) -> dict:
    arms: dict[str, list[dict]] = {"bare": [], "genplate": []}
    one_start(True, gui)  # warm the page cache and the .pyc files for both arms
    one_start(False, gui)
    for i in range(runs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for with_genplate in order:
            arms["genplate" if with_genplate else "bare"].append(one_start(with_genplate, gui))
    out: dict = {"session": "gui (init.py + menu.py)" if gui else "terminal (init.py)",
                 "runs": runs}
    for name, samples in arms.items():
        out[name] = {"wall_ms": describe([s["wall_ms"] for s in samples]),
                     "cpu_ms": describe([s["cpu_ms"] for s in samples])}
    added = arms["genplate"]
    out["genplate"]["inside_ms"] = describe([s["genplate_ms"] for s in added])
    out["genplate"]["inside_cpu_ms"] = describe([s["genplate_cpu_ms"] for s in added])
    out["genplate"]["imported"] = added[-1]["imported"]
    out["added_wall_ms"] = round(out["genplate"]["wall_ms"]["median"]
                                 - out["bare"]["wall_ms"]["median"], 1)
    out["added_cpu_ms"] = round(out["genplate"]["cpu_ms"]["median"]
                                - out["bare"]["cpu_ms"]["median"], 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="starts per arm (default 40)")
    parser.add_argument("--terminal", action="store_true",
                        help="also measure a terminal session (init.py only, as `nuke -t`)")
    parser.add_argument("--budget-ms", type=float, default=50.0,
                        help="what genplate may add to the start (default 50)")
    parser.add_argument("--out", help="also write the result as JSON here")
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    results = {"machine": cpu_model(), "cores": os.cpu_count(),
               "python": platform.python_version(), "cases": [run(args.runs, True)]}
    if args.terminal:
        results["cases"].append(run(args.runs, False))
    load.append(os.getloadavg()[0])
    results["load_average"] = load
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    ok = True
    for case in results["cases"]:
        bare, ours = case["bare"], case["genplate"]
        within = case["added_wall_ms"] < args.budget_ms
        ok = ok and within
        print(f"\n{case['session']}: {ours['wall_ms']['median']:.0f} ms with genplate "
              f"(q1-q3 {ours['wall_ms']['q1']:.0f}-{ours['wall_ms']['q3']:.0f}) vs "
              f"{bare['wall_ms']['median']:.0f} ms without "
              f"({bare['wall_ms']['q1']:.0f}-{bare['wall_ms']['q3']:.0f}): "
              f"{case['added_wall_ms']:+.0f} ms wall, {case['added_cpu_ms']:+.0f} ms CPU; "
              f"init/menu themselves {ours['inside_ms']['median']:.1f} ms; "
              f"{'within' if within else 'OVER'} the {args.budget_ms:.0f} ms budget",
              file=sys.stderr)
    print(f"machine: {results['machine']}, {results['cores']} cores, Python "
          f"{results['python']}, load average {load[0]:.1f} -> {load[1]:.1f}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

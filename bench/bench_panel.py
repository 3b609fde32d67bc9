"""How the panel weighs on its host while the engine works: event-loop stalls, CPU to watch jobs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_panel.py [--drafts 2] [--poll-ms 2000]
        [--only stalls|watching] [--watch-seconds 60]

Stalls.

The panel (the same widget Nuke docks) submits drafts to the real engine on the offline
backend, follows them to published takes, lists their thumbnails, and meanwhile a 5 ms QTimer
heartbeat measures (plugins/panel/diagnostics.py):
  worst_ms        the longest wall-clock gap beyond one interval: what an artist would feel
  worst_cpu_ms    the most CPU the GUI thread burned within one gap (ours on any machine),
                  Python's garbage collector left out (worst_gc_ms, counted apart)
  worst_own_ms    worst_ms less the time the kernel kept the thread waiting for a core
                  (Linux; None elsewhere): the wall-clock stall that is ours
  worst_start_ms  the longest process start (fork/exec), done in a worker thread, shown
                  because QProcess.start would have spent it on the GUI thread
Baselines, same run, same machine:
  idle            the heartbeat alone with no engine work: the machine's own noise
  engine_load     the same drafts submitted from a terminal while the heartbeat runs in a bare
                  event loop: what the engine's rendering costs every process on these cores
The panel's worst_ms is to be read against engine_load; worst_cpu_ms < 50 is the budget the
panel itself controls. The load average is printed because on a loaded machine worst_ms
measures the neighbours too.

Watching (what a panel left open costs its host while jobs run; issue #18). Two long jobs
(1080p masters, 10 s) are submitted from a terminal; while both run, panels in processes of
their own, started together so they share the same minute of the same machine, each follow
them for --watch-seconds at the hosts' poll (2 s):
  ledger    the panel as it ships: after the first answer it reads the ledger file itself
            (and, after the window, the CPU of one read alone)
  command   baseline: the same panel keeping every poll on `genplate jobs --json --active`
            (monitor.reads_ledger = False), as panels did before
  bare      baseline: a Qt event loop with no panel, the floor of any Qt process
  follow    the alternative not taken, sketched: one long-lived engine process doing what a
            `genplate jobs --follow --json` would (the engine's own ledger read every poll, a
            JSON line when something changed) and a host thread reading its lines; its CPU
            over the window (from /proc), what starting it cost, and its memory
Each reports its CPU over the window, its own threads plus every engine process it started
and waited for (the kernel's accounting: user + system), as CPU-seconds per minute and as a
share of one core, and how many polls each side answered. The budget: under 2% of a core.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

WATCH_BUDGET = 0.02  # share of one core a panel may spend watching jobs


def run(drafts: int, poll_ms: int, timeout: float) -> dict:
    work = _setup_environment()

    from genplate.panel.diagnostics import StallMeter
    from genplate.panel.host import HostAdapter
    from genplate.panel.panel import GenplatePanel
    from genplate.panel.qt import QtCore, app_instance

    app = app_instance()

    class Host(HostAdapter):
        def context(self) -> dict:
            return {"shot": "sh010", "root": str(work / "takes"), "first_frame": 1001}

    def spin(seconds: float, until=lambda: False) -> float:
        loop = QtCore.QEventLoop()
        t0 = time.monotonic()
        check = QtCore.QTimer()
        check.timeout.connect(lambda: (until() or time.monotonic() - t0 > seconds) and loop.quit())
        check.start(50)
        loop.exec()
        check.stop()
        return time.monotonic() - t0

    # Baseline 1: an event loop and no engine work at all.
    idle = QtCore.QObject()
    meter = StallMeter(5, idle)
    meter.start()
    spin(3.0)
    baseline = meter.report()
    meter.stop()

    # Baseline 2: the same engine work, started from a terminal; a bare loop beside it.
    import subprocess
    import threading

    engine = os.environ["GENPLATE_ENGINE"].split()
    for i in range(drafts):
        subprocess.run(engine + ["submit", "--json", "--root", str(work / "baseline"), "--draft",
                                 "--", f"harbour at dawn, take {i + 1}, slow dolly in"],
                       capture_output=True, check=True)
    done = threading.Event()

    def follow() -> None:  # off the GUI thread, like the panel's own engine calls
        while True:
            out = subprocess.run(engine + ["jobs", "--json", "--active"], capture_output=True,
                                 text=True).stdout
            if not json.loads(out or "{}").get("jobs"):
                done.set()
                return
            time.sleep(1.0)

    threading.Thread(target=follow, daemon=True).start()
    meter = StallMeter(5, idle)
    meter.start()
    spin(timeout, until=done.is_set)
    engine_load = meter.report()
    meter.stop()

    panel = GenplatePanel(Host(), poll_ms=poll_ms, idle_poll_ms=max(poll_ms, 2000))
    panel.resize(640, 860)
    panel.show()
    spin(0.5)
    meter = StallMeter(5, panel)
    meter.start()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for i in range(drafts):
        panel.prompt.setPlainText(f"harbour at dawn, take {i + 1}, slow dolly in")
        panel.submit()
        spin(10.0, until=lambda n=i + 1: panel.queue.topLevelItemCount() >= n)
    elapsed = spin(timeout, until=lambda: panel.takes_list.count() >= drafts)
    spin(1.0)
    result = meter.report()
    meter.stop()
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    states = [panel.queue.topLevelItem(i).text(1) for i in range(panel.queue.topLevelItemCount())]
    out = {
        "drafts": drafts, "poll_ms": poll_ms, "seconds_to_takes": round(elapsed, 1),
        "takes": panel.takes_list.count(), "job_states": states,
        "panel": {**result, "worst_start_ms": round(panel.client.worst_start_ms, 1)},
        "baseline_idle": baseline, "baseline_engine_load": engine_load,
        "load_average": [load_before, load_after], "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    panel.client.shutdown()
    panel.close()
    return out


# -- watching: CPU per minute while jobs run ---------------------------------------------------

def _cpu_seconds() -> tuple[float, float]:
    """(this process's CPU, all threads; CPU of the children it waited for), in seconds."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


# What `genplate jobs --follow --json` would run in the engine (the alternative to the host's
# own read, measured beside it; not a genplate command).
FOLLOW_SKETCH = """
import json, sys, time
from genplate.core.cli.generate import job_json, open_ledger
from genplate.core.jobs import ledger as L
ledger, poll, last = open_ledger(), float(sys.argv[1]), None
active = [s for s in L.STATES if s not in L.TERMINAL]
while True:
    line = json.dumps({"jobs": [job_json(j) for j in ledger.jobs(states=active, limit=50)]},
                      default=str)
    if line != last:
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()
        last = line
    time.sleep(poll)
"""


def _proc_cpu(pid: int) -> float:
    """A live process's CPU seconds (user + system), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _follow(poll_ms: int):
    """Start the --follow sketch and a thread reading its lines, as a host would."""
    import subprocess
    import threading

    engine = os.environ["GENPLATE_ENGINE"].split()
    proc = subprocess.Popen([engine[0], "-c", FOLLOW_SKETCH, str(poll_ms / 1000.0)],
                            stdout=subprocess.PIPE, text=True)
    lines = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def watcher(arm: str, seconds: float, poll_ms: int, settle: float) -> dict:
    """One arm of the watching measure, in this process (started by ``watch``)."""
    from genplate.panel.host import HostAdapter
    from genplate.panel.qt import QtCore, app_instance

    app_instance()
    root = os.environ["BENCH_TAKES_ROOT"]

    class Host(HostAdapter):
        def context(self) -> dict:
            return {"shot": "sh010", "root": root, "first_frame": 1001}

    def wait(for_seconds: float) -> None:
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(for_seconds * 1000), loop.quit)
        loop.exec()

    panel = follower = None
    if arm == "follow":
        follower, lines = _follow(poll_ms)
        while not lines:
            wait(0.2)
    elif arm != "bare":
        from genplate.panel.panel import GenplatePanel

        panel = GenplatePanel(Host(), poll_ms=poll_ms, idle_poll_ms=max(poll_ms, 2000))
        panel.monitor.reads_ledger = arm == "ledger"
        panel.resize(640, 860)
        panel.show()
    # A panel's opening (the first poll, the takes listed, the promote probe) is not watching:
    # the window starts once it is over and nothing is in flight.
    wait(settle)
    while panel is not None and (panel.client.in_flight or not any(panel.monitor.answers.values())):
        wait(0.2)
    answers0 = dict(panel.monitor.answers) if panel else {}
    follower0 = _proc_cpu(follower.pid) if follower else 0.0
    self0, children0 = _cpu_seconds()
    t0 = time.monotonic()
    wait(seconds)
    wall = time.monotonic() - t0
    self1, children1 = _cpu_seconds()
    if follower is not None:
        children0, children1 = follower0, _proc_cpu(follower.pid)
    out = {"arm": arm, "wall_s": round(wall, 2), "cpu_self_s": round(self1 - self0, 3),
           "cpu_engine_processes_s": round(children1 - children0, 3)}
    cpu = (self1 - self0) + (children1 - children0)
    out["cpu_s_per_minute"] = round(cpu / wall * 60.0, 3)
    out["core_share"] = round(cpu / wall, 4)
    if follower is not None:
        out["follower_start_cpu_s"] = round(follower0, 3)
        out["follower_peak_rss_mb"] = round(_proc_peak_rss_mb(follower.pid), 1)
        out["lines"] = len(lines)
        follower.kill()
        follower.wait()
    if panel is not None:
        monitor = panel.monitor
        out["polls"] = {k: monitor.answers[k] - answers0.get(k, 0) for k in monitor.answers}
        out["active_jobs_seen"] = len(monitor.active)
        out["last_miss"] = monitor.last_miss
        if arm == "ledger" and monitor.ledger_path:
            # The read alone, to set beside the follower's cost per poll.
            from genplate.panel import ledger as ledger_file

            c0 = time.process_time()
            for _ in range(50):
                ledger_file.active_jobs(monitor.ledger_path)
            out["one_read_cpu_ms"] = round((time.process_time() - c0) / 50 * 1000.0, 2)
        panel.client.shutdown()
        panel.close()
    return out


def watch(work: Path, jobs: int, seconds: float, poll_ms: int) -> dict:
    """Submit ``jobs`` long jobs, then run every arm at once while they run (see the docstring)."""
    import subprocess

    engine = os.environ["GENPLATE_ENGINE"].split()
    root = work / "watch_takes"
    ids = []
    for i in range(jobs):
        done = subprocess.run(engine + ["submit", "--json", "--root", str(root), "--master",
                                        "--duration", "10s", "--name", f"watch{i + 1}", "--",
                                        f"a harbour at dawn, take {i + 1}, slow dolly in"],
                              capture_output=True, text=True, check=True)
        ids.append(json.loads(done.stdout)["job"]["id"])
    settle = 3.0
    env = dict(os.environ, BENCH_TAKES_ROOT=str(root))
    arms = ("ledger", "command", "bare", "follow")
    procs = {arm: subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--watcher",
                                    arm, "--watch-seconds", str(seconds), "--poll-ms",
                                    str(poll_ms), "--settle", str(settle)],
                                   stdout=subprocess.PIPE, text=True, env=env)
             for arm in arms}
    load_before = os.getloadavg()[0]
    time.sleep(settle)
    states_start = _states(engine, ids)
    results = {}
    for arm, proc in procs.items():
        out, _ = proc.communicate(timeout=seconds + settle + 120)
        if proc.returncode != 0:
            raise SystemExit(f"the {arm} watcher failed")
        results[arm] = json.loads(out.strip().splitlines()[-1])
    states_end = _states(engine, ids)
    for job_id in ids:  # the jobs were only the load: end them
        subprocess.run(engine + ["cancel", job_id, "--json"], capture_output=True)
    return {"jobs": ids, "job_states_at_start": states_start, "job_states_at_end": states_end,
            "poll_ms": poll_ms, "seconds": seconds, "arms": results,
            "load_average": [load_before, os.getloadavg()[0]]}


def _states(engine: list[str], ids: list[str]) -> list[str]:
    import subprocess

    states = []
    for job_id in ids:
        done = subprocess.run(engine + ["jobs", job_id, "--json"], capture_output=True, text=True)
        states.append(json.loads(done.stdout or "{}").get("job", {}).get("state", "?"))
    return states


def _setup_environment() -> Path:
    work = Path(tempfile.mkdtemp(prefix="genplate_bench_panel_"))
    os.environ["GENPLATE_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("GENPLATE_ENGINE", f"{sys.executable} -m genplate.core.cli")
    os.environ["GENPLATE_CONFIG_DIR"] = str(work / "config")
    os.environ.pop("LUMA_AGENTS_API_KEY", None)
    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=2)
    parser.add_argument("--poll-ms", type=int, default=2000, help="the panel's job poll (default 2000, as in hosts)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--only", choices=("stalls", "watching"))
    parser.add_argument("--watch-seconds", type=float, default=60.0)
    parser.add_argument("--watcher", help=argparse.SUPPRESS)  # one arm, run by `watch`
    parser.add_argument("--settle", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the result as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.watcher:
        print(json.dumps(watcher(args.watcher, args.watch_seconds, args.poll_ms, args.settle)))
        return 0
    result: dict = {"machine": cpu_model(), "cores": os.cpu_count(),
                    "python": sys.version.split()[0]}
    ok = True
    if args.only in (None, "stalls"):
        result["stalls"] = run(args.drafts, args.poll_ms, args.timeout)
    if args.only in (None, "watching"):
        result["watching"] = watch(_setup_environment(), 2, args.watch_seconds, args.poll_ms)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if "stalls" in result:
        stalls = result["stalls"]
        panel = stalls["panel"]
        within = panel["worst_cpu_ms"] < 50
        ok = ok and within
        print(f"\nworst stall {panel['worst_ms']:.0f} ms wall (baselines: idle "
              f"{stalls['baseline_idle']['worst_ms']:.0f} ms, same engine work without the "
              f"panel {stalls['baseline_engine_load']['worst_ms']:.0f} ms); GUI-thread CPU "
              f"{panel['worst_cpu_ms']:.0f} ms: {'within' if within else 'OVER'} the 50 ms "
              f"budget", file=sys.stderr)
    if "watching" in result:
        watching = result["watching"]
        arms = watching["arms"]
        within = arms["ledger"]["core_share"] < WATCH_BUDGET
        ok = ok and within
        print(f"\nwatching 2 jobs ({', '.join(watching['job_states_at_start'])} -> "
              f"{', '.join(watching['job_states_at_end'])}) for {watching['seconds']:.0f} s at "
              f"one poll every {watching['poll_ms'] / 1000:g} s:", file=sys.stderr)
        for arm in ("ledger", "command", "bare", "follow"):
            a = arms[arm]
            polls = a.get("polls")
            print(f"  {arm:8} {a['cpu_s_per_minute']:6.2f} CPU-s per minute = "
                  f"{a['core_share'] * 100:5.1f}% of a core"
                  + (f" (polls answered here {polls['here']}, by the engine {polls['engine']})"
                     if polls else "")
                  + (f"; one read alone {a['one_read_cpu_ms']:.2f} ms CPU"
                     if "one_read_cpu_ms" in a else "")
                  + (f" (after a start of {a['follower_start_cpu_s']:.2f} CPU-s; the process "
                     f"holds {a['follower_peak_rss_mb']:.0f} MB)" if arm == "follow" else ""),
                  file=sys.stderr)
        print(f"  the panel as it ships: {'within' if within else 'OVER'} the "
              f"{WATCH_BUDGET * 100:.0f}% budget; load average "
              f"{watching['load_average'][0]:.1f} -> {watching['load_average'][1]:.1f}",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

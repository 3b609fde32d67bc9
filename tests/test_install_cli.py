"""`genplate install nuke|resolve` through the command, as an artist runs it once per machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def genplate(*args, env):
    return subprocess.run([sys.executable, "-m", "genplate.core.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_install_nuke_adds_one_guarded_block_and_records_the_engine(tmp_path):
    env = dict(os.environ)
    nuke_dir = tmp_path / ".nuke"
    first = genplate("install", "nuke", "--dest", str(nuke_dir), "--json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["changed"] is True and result["python"] == sys.executable
    init_py = (nuke_dir / "init.py").read_text()
    assert result["plugin_path"] in init_py and "pluginAddPath" in init_py
    engine = json.loads((tmp_path / "genplate-config" / "engine.json").read_text())
    assert sys.executable in json.dumps(engine)
    again = json.loads(genplate("install", "nuke", "--dest", str(nuke_dir), "--json", env=env).stdout)
    assert again["changed"] is False
    assert (nuke_dir / "init.py").read_text() == init_py  # idempotent: one block, not two


def test_install_resolve_writes_the_launcher_where_asked(tmp_path):
    env = dict(os.environ)
    proc = genplate("install", "resolve", "--dest", str(tmp_path / "Utility"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    launcher = tmp_path / "Utility" / os.path.basename(result["launcher"])
    assert launcher.is_file() and sys.executable in launcher.read_text()


def test_nuke_only_options_are_refused_for_resolve(tmp_path):
    proc = genplate("install", "resolve", "--mode", "env", "--dest", str(tmp_path), "--json",
                    env=dict(os.environ))
    assert proc.returncode == 2 and "--mode" in json.loads(proc.stdout)["error"]

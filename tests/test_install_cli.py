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
    env = dict(os.environ, HOME=str(tmp_path))  # the default ~/.nuke, in this test's home
    nuke_dir = tmp_path / ".nuke"
    first = genplate("install", "nuke", "--json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["changed"] is True and result["python"] == sys.executable
    init_py = (nuke_dir / "init.py").read_text()
    assert result["plugin_path"] in init_py and "pluginAddPath" in init_py
    engine = json.loads((tmp_path / "genplate-config" / "engine.json").read_text())
    assert sys.executable in json.dumps(engine)
    again = json.loads(genplate("install", "nuke", "--json", env=env).stdout)
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


# -- dry runs and --dest (issue #17) ----------------------------------------------------------

def _no_engine_record(tmp_path) -> bool:
    return not (tmp_path / "genplate-config" / "engine.json").exists()


def test_a_dry_run_says_what_it_would_do_and_does_nothing(tmp_path):
    env = dict(os.environ)
    nuke_dir = tmp_path / ".nuke"
    proc = genplate("install", "nuke", "--dest", str(nuke_dir), "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "would" in proc.stdout and "installed" not in proc.stdout
    assert "nothing was changed" in proc.stdout
    assert not nuke_dir.exists() and _no_engine_record(tmp_path)
    result = json.loads(genplate("install", "nuke", "--dest", str(nuke_dir), "--dry-run",
                                 "--json", env=env).stdout)
    assert result["dry_run"] is True and result["changed"] is True
    assert not nuke_dir.exists() and _no_engine_record(tmp_path)
    # Resolve too: a dry run names the launcher it would write, and writes nothing.
    proc = genplate("install", "resolve", "--dest", str(tmp_path / "Utility"), "--dry-run",
                    env=env)
    assert proc.returncode == 0, proc.stderr
    assert "would" in proc.stdout and "installed" not in proc.stdout
    assert not (tmp_path / "Utility").exists() and _no_engine_record(tmp_path)


def test_dest_keeps_everything_there_and_the_host_still_finds_the_engine(tmp_path, monkeypatch):
    env = dict(os.environ)
    nuke_dir = tmp_path / ".nuke"
    proc = genplate("install", "nuke", "--dest", str(nuke_dir), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert _no_engine_record(tmp_path)  # the global record is not touched
    result = json.loads(proc.stdout)
    assert result["engine_config"] is None and result["engine"] == str(nuke_dir / "init.py")
    # Nuke runs init.py: the block names the engine for the panel and the node.
    import fake_nuke
    from genplate.panel import engine_config

    monkeypatch.delenv("GENPLATE_ENGINE", raising=False)
    fake_nuke.install()
    try:
        exec(compile((nuke_dir / "init.py").read_text(), "init.py", "exec"), {"__name__": "__main__"})
        assert engine_config.engine_command() == ([sys.executable, "-m", "genplate.core.cli"],
                                                  "$GENPLATE_ENGINE")
    finally:
        fake_nuke.uninstall()
        os.environ.pop("GENPLATE_ENGINE", None)

    proc = genplate("install", "resolve", "--dest", str(tmp_path / "Utility"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert _no_engine_record(tmp_path)
    launcher = (tmp_path / "Utility" / "genplate.py").read_text()
    assert "GENPLATE_ENGINE" in launcher  # the panel Resolve starts is told its engine

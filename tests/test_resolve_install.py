"""`genplate install resolve`: the Scripts-menu launcher, written atomically and idempotently."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fake_resolve import FakeResolve
from genplate.core.install import resolve as R
from genplate.resolve import launcher


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("GENPLATE_ENGINE", raising=False)


def test_scripts_folder_per_os(tmp_path):
    home = tmp_path / "home"
    assert R.scripts_dir("darwin", {}, home) == home / "Library/Application Support/Blackmagic " \
        "Design/DaVinci Resolve/Fusion/Scripts/Utility"
    assert R.scripts_dir("win32", {"APPDATA": r"C:\Users\a\AppData\Roaming"}, home) == \
        Path(r"C:\Users\a\AppData\Roaming") / "Blackmagic Design/DaVinci Resolve/Support/Fusion" \
        "/Scripts/Utility"
    assert R.scripts_dir("linux", {}, home) == home / ".local/share/DaVinciResolve/Fusion/" \
        "Scripts/Utility"


def test_install_writes_the_launcher_with_the_engine_python(tmp_path):
    dest = tmp_path / "Utility"
    env = {"GENPLATE_DATA_DIR": "/studio/genplate", "LUMA_AGENTS_API_KEY": "luma-api-secret",
           "PYTHONPATH": "/x"}
    result = R.install(str(dest), env=env)
    path = dest / "genplate.py"
    assert result["launcher"] == str(path) and result["changed"] is True
    assert result["engine_python"] == sys.executable
    text = path.read_text()
    assert f"ENGINE_PYTHON = {sys.executable!r}" in text
    assert "ENGINE_ENV = {'GENPLATE_DATA_DIR': '/studio/genplate'}" in text
    assert "luma-api" not in text
    compile(text, str(path), "exec")
    assert not [p for p in dest.iterdir() if p.name != "genplate.py"]  # no temp file left
    config = json.loads(Path(result["engine_config"]).read_text())
    assert config["command"] == [sys.executable, "-m", "genplate.core.cli"]


def test_second_install_changes_nothing(tmp_path):
    first = R.install(str(tmp_path), env={})
    mtime = Path(first["launcher"]).stat().st_mtime_ns
    second = R.install(str(tmp_path), env={})
    assert second["changed"] is False
    assert Path(second["launcher"]).stat().st_mtime_ns == mtime


def test_install_default_is_the_users_utility_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "scripts_dir", lambda env=None: tmp_path / "Scripts" / "Utility")
    result = R.install(env={})
    assert result["launcher"] == str(tmp_path / "Scripts" / "Utility" / "genplate.py")


def test_unwritable_destination_is_an_install_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(R.InstallError, match="cannot write the Resolve launcher"):
        R.install(str(blocker / "Utility"), env={}, record_engine=False)
    with pytest.raises(R.InstallError, match="does not exist"):
        R.install(str(tmp_path), python=str(tmp_path / "nopython"), env={})


def test_the_installed_launcher_starts_the_panel_in_the_engine_python(tmp_path, monkeypatch):
    path = Path(R.install(str(tmp_path), env={"OCIO": "/cfg/aces.ocio"})["launcher"])
    started = []

    class Popen:
        def __init__(self, argv, **kw):
            started.append((argv, kw))

    monkeypatch.setattr(subprocess, "Popen", Popen)
    monkeypatch.setenv("PYTHONPATH", "/resolve/own/python")
    # As Resolve runs a Scripts-menu file: as a script, with `resolve` injected.
    exec(compile(path.read_text(), str(path), "exec"),
         {"__name__": "__main__", "resolve": FakeResolve(version="21.0.1.3")})
    ((argv, kw),) = started
    assert argv == [sys.executable, "-m", "genplate.resolve.panel_main",
                    "--product", "DaVinci Resolve Studio", "--version", "21.0.1.3"]
    assert "PYTHONPATH" not in kw["env"] and kw["env"]["OCIO"] == "/cfg/aces.ocio"
    assert kw["stdin"] is subprocess.DEVNULL


def test_the_template_does_nothing_on_import_and_refuses_without_an_engine(capsys):
    assert launcher.ENGINE_PYTHON == ""
    assert launcher.main() == 1
    assert "genplate install resolve" in capsys.readouterr().out
    assert launcher.panel_command("/py", "", "") == ["/py", "-m", "genplate.resolve.panel_main"]

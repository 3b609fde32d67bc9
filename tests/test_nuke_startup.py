"""Installing into Nuke and Nuke's start: init.py (every session), menu.py (GUI only)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fake_nuke
from genplate.core.install import nuke as I
from genplate.panel import engine_config

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "nuke"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _own_config(tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("GENPLATE_ENGINE", raising=False)


@pytest.fixture
def fake():
    saved = {k: v for k, v in sys.modules.items() if k.startswith("genplate")}

    def install(gui=True):
        return fake_nuke.install(gui=gui)

    yield install
    fake_nuke.uninstall()
    for k in [k for k in sys.modules if k.startswith("genplate") and k not in saved]:
        del sys.modules[k]
    sys.modules.update(saved)


def run_like_nuke(path: Path) -> dict:
    """Execute a startup file the way Nuke does: in a fresh namespace, no __file__."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


# -- install ---------------------------------------------------------------------------------

def test_install_adds_one_guarded_block_and_is_idempotent(tmp_path):
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_text("import nuke\nnuke.knobDefault('Read.on_error', '3')")
    first = I.install(nuke_dir=nuke_dir, python="/venv/bin/python")
    text = (nuke_dir / "init.py").read_text()
    assert first["changed"] and first["plugin_path"] == str(PLUGIN)
    assert text.startswith("import nuke\nnuke.knobDefault('Read.on_error', '3')\n")
    assert text.count(I.BEGIN) == 1 and text.count(I.END) == 1
    assert f"nuke.pluginAddPath({str(PLUGIN)!r}, addToSysPath=False)" in text
    compile(text, "init.py", "exec")
    again = I.install(nuke_dir=nuke_dir, python="/venv/bin/python")
    assert not again["changed"] and (nuke_dir / "init.py").read_text() == text


def test_install_replaces_a_stale_block_in_place(tmp_path):
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    stale = I.init_block(Path("/old/place/nuke"))
    (nuke_dir / "init.py").write_text(f"# mine\n{stale}# also mine\n")
    I.install(nuke_dir=nuke_dir)
    text = (nuke_dir / "init.py").read_text()
    assert "/old/place" not in text and text.count(I.BEGIN) == 1
    assert text.startswith("# mine\n") and text.endswith("# also mine\n")


def test_install_creates_init_py_and_records_the_engine(tmp_path):
    result = I.install(nuke_dir=tmp_path / "fresh", python="/venv/bin/python")
    assert (tmp_path / "fresh" / "init.py").exists() and result["changed"]
    config = json.loads(Path(result["engine_config"]).read_text())
    assert config["command"] == ["/venv/bin/python", "-m", "genplate.core.cli"]
    assert config["written_by"] == "genplate install nuke"


def test_the_panel_starts_the_recorded_engine(tmp_path, monkeypatch):
    I.install(nuke_dir=tmp_path / "n", python=sys.executable)
    command, source = engine_config.engine_command()
    assert command == [sys.executable, "-m", "genplate.core.cli"]
    assert source == str(engine_config.config_path())
    monkeypatch.setenv("GENPLATE_ENGINE", "/opt/genplate/bin/genplate --quiet")
    assert engine_config.engine_command() == (["/opt/genplate/bin/genplate", "--quiet"],
                                             "$GENPLATE_ENGINE")


def test_an_engine_python_that_vanished_is_not_used(tmp_path, monkeypatch):
    engine_config.write_engine("/nonexistent/python", written_by="test")
    monkeypatch.setenv("PATH", str(tmp_path))  # no genplate on PATH either
    command, source = engine_config.engine_command()
    assert source == "this Python" and command[0] == sys.executable


@pytest.mark.parametrize("text, windows, words", [
    ('/opt/gp/bin/python -m genplate.core.cli', False, ["/opt/gp/bin/python", "-m", "genplate.core.cli"]),
    ('"/opt/my tools/genplate"', False, ["/opt/my tools/genplate"]),
    ('"C:\\Program Files\\gp\\python.exe" -m genplate.core.cli', True,
     ["C:\\Program Files\\gp\\python.exe", "-m", "genplate.core.cli"]),
    ('C:\\gp\\genplate.exe', True, ["C:\\gp\\genplate.exe"]),
])
def test_engine_command_lines_split_on_each_os(text, windows, words):
    assert engine_config.split_command(text, windows=windows) == words


def test_engine_environment_drops_the_hosts_python_settings():
    env = engine_config.engine_environment({"PYTHONHOME": "/nuke/py", "PYTHONPATH": "/nuke/lib",
                                            "GENPLATE_DATA_DIR": "/d"})
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env and env["GENPLATE_DATA_DIR"] == "/d"


def test_env_mode_edits_nothing_and_names_the_nuke_path(tmp_path, monkeypatch):
    monkeypatch.setenv("NUKE_PATH", "/studio/nuke")
    result = I.install(mode="env", nuke_dir=tmp_path / ".nuke")
    assert not (tmp_path / ".nuke").exists()
    assert result["nuke_path"].split(":") == [str(PLUGIN), "/studio/nuke"]


@pytest.mark.parametrize("text, match", [
    (f"{I.BEGIN}\nnuke.pluginAddPath('x')\n", "without"),
])
def test_a_broken_block_is_refused_not_guessed(tmp_path, text, match):
    (tmp_path / "init.py").write_text(text)
    with pytest.raises(I.InstallError, match=match):
        I.install(nuke_dir=tmp_path)
    assert (tmp_path / "init.py").read_text() == text


def test_a_bad_mode_is_refused():
    with pytest.raises(I.InstallError, match="use 'init'"):
        I.install(mode="menu")


def test_the_installed_block_adds_the_plugin_path_in_nuke(tmp_path, fake):
    nuke = fake(gui=False)
    I.install(nuke_dir=tmp_path)
    before = list(sys.path)
    run_like_nuke(tmp_path / "init.py")
    assert ("pluginAddPath", str(PLUGIN), False) in nuke.recorder.calls
    assert sys.path == before  # read, node, menus... never become top-level modules


# -- Nuke's start -----------------------------------------------------------------------------

def test_terminal_session_creates_no_ui(fake):
    nuke = fake(gui=False)
    sys.modules.pop("genplate.panel.qt", None)
    run_like_nuke(PLUGIN / "init.py")
    run_like_nuke(PLUGIN / "menu.py")  # Nuke would not run it; if it does, it does nothing
    assert not [c for c in nuke.recorder.calls if c[0] in ("menu", "registerWidgetAsPanel",
                                                           "addCommand")]
    assert "genplate.panel.qt" not in sys.modules  # no Qt in a render session
    import genplate.nuke.node as N

    group = N.create({"shot": "sh010"})  # the node still works headless
    assert N.is_generate_node(group)


def test_gui_session_installs_menus_toolbar_and_dock(fake):
    nuke = fake(gui=True)
    run_like_nuke(PLUGIN / "init.py")
    run_like_nuke(PLUGIN / "menu.py")
    genplate_menu = nuke.menus["Nuke"].findItem("genplate")
    assert genplate_menu.findItem("Generate node") and genplate_menu.findItem("Show panel")
    assert "create()" in nuke.menus["Nodes"].findItem("genplate/genplate generate").script()
    registered = [c for c in nuke.recorder.calls if c[0] == "registerWidgetAsPanel"]
    assert [c[2:] for c in registered] == [("genplate", "com.genplate.panel", False)]
    assert nuke.menus["Pane"].findItem("genplate") is not None
    assert nuke.on_script_load  # jobs are picked up again when a script opens


def test_the_panel_string_names_its_class_where_no_name_is_bound(fake):
    """nukescripts/panels.py pastes the string into
    `__import__('nukescripts').panels.WidgetKnob(<string>)` and evaluates it where `genplate`
    is not bound; the string must import its own module (tk-nuke's panels.py does so)."""
    nuke = fake(gui=True)
    run_like_nuke(PLUGIN / "init.py")
    run_like_nuke(PLUGIN / "menu.py")
    (widget,) = [c[1] for c in nuke.recorder.calls if c[0] == "registerWidgetAsPanel"]
    knob = eval("__import__('nukescripts').panels.WidgetKnob(" + widget + ")",
                {"__builtins__": __builtins__})
    assert knob.widgetClass is sys.modules["genplate.nuke.dock"].DockPanel


def test_a_failing_init_prints_and_never_breaks_the_start(tmp_path, fake, capsys):
    fake(gui=False)
    broken = tmp_path / "plugins" / "nuke"
    broken.mkdir(parents=True)
    for name in ("init.py", "read.py", "node.py", "__init__.py"):
        (broken / name).write_text((PLUGIN / name).read_text())
    before = {k: v for k, v in sys.modules.items() if k.startswith("genplate")}
    run_like_nuke(broken / "init.py")  # no sibling panel folder: it must fail, quietly
    err = capsys.readouterr().err
    assert "Traceback" in err and "genplate: not loaded in this session" in err
    assert {k: v for k, v in sys.modules.items() if k.startswith("genplate")} == before


def test_a_failing_menu_prints_and_never_breaks_the_start(fake, capsys, monkeypatch):
    fake(gui=True)
    run_like_nuke(PLUGIN / "init.py")
    monkeypatch.setitem(sys.modules, "genplate.nuke.menus", None)  # import fails
    run_like_nuke(PLUGIN / "menu.py")
    assert "genplate: menus not installed" in capsys.readouterr().err


def test_init_in_a_bare_python_needs_only_the_standard_library(tmp_path):
    """Nuke's Python has none of the engine's packages: run init.py in `python -S`."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import fake_nuke
        nuke = fake_nuke.install(gui=False)
        ns = {{"__name__": "__main__"}}
        path = {str(PLUGIN / "init.py")!r}
        exec(compile(open(path).read(), path, "exec"), ns)
        import genplate.nuke.node as N
        import genplate.nuke.read as R
        group = N.create({{"shot": "sh010"}})
        heavy = sorted(m for m in ("numpy", "PySide6", "PySide2", "av", "OpenImageIO",
                                   "PyOpenColorIO", "requests", "genplate.core") if m in sys.modules)
        print(N.is_generate_node(group), heavy, R.__file__)
    """)
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["True", "[]"]
    assert done.stdout.strip().endswith(str(PLUGIN / "read.py"))


def test_a_gui_start_imports_no_qt_panel_node_or_engine_until_a_menu_is_clicked():
    """Nuke's start pays for menu strings only: Qt, the panel, the node and the engine's command
    are imported (or started) when the artist clicks, never while Nuke starts. In a fresh
    process, as Nuke's start is, so nothing an earlier test imported hides an import."""
    script = textwrap.dedent(f"""
        import json, subprocess, sys
        sys.path.insert(0, {str(TESTS)!r})
        import fake_nuke
        nuke = fake_nuke.install(gui=True)
        started = []
        real_popen_init = subprocess.Popen.__init__
        def recording_init(self, args, *a, **k):
            started.append(args if isinstance(args, str) else list(map(str, args)))
            return real_popen_init(self, args, *a, **k)
        subprocess.Popen.__init__ = recording_init
        before = set(sys.modules)
        for name in ("init.py", "menu.py"):
            path = {str(PLUGIN)!r} + "/" + name
            exec(compile(open(path).read(), path, "exec"), {{"__name__": "__main__"}})
        at_start = sorted(set(sys.modules) - before)
        spawned_at_start = list(started)
        menu = nuke.menus["Nuke"].findItem("genplate")
        commands = sorted(item.name() for item in menu.items())
        menu.findItem("Generate node").invoke()
        made = [n for n in nuke.allNodes("Group")]
        from genplate.panel.qt import app_instance
        app = app_instance()  # Nuke's own, in a real session
        menu.findItem("Show panel").invoke()
        print(json.dumps({{"at_start": at_start, "spawned_at_start": spawned_at_start,
                          "commands": commands, "nodes": len(made),
                          "after_clicks": sorted(set(sys.modules) - before)}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    ours = [m for m in seen["at_start"] if m.startswith("genplate")]
    assert ours == ["genplate", "genplate.nuke", "genplate.nuke.menus", "genplate.panel"]
    heavy = [m for m in seen["at_start"] if m.split(".")[0] in
             ("PySide6", "PySide2", "shiboken6", "shiboken2", "subprocess", "inspect")]
    assert heavy == [] and seen["spawned_at_start"] == []
    # Every command is still there and works once clicked: the imports only moved.
    assert seen["commands"] == ["Colour take versions", "Generate node", "Resume following jobs",
                                "Show panel"]
    assert seen["nodes"] == 1
    assert {"genplate.nuke.node", "genplate.nuke.dock", "genplate.panel.qt"} <= set(
        seen["after_clicks"])

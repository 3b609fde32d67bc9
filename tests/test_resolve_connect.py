"""Attaching to Resolve: where the API lives, and a clear message for each way it fails."""
from __future__ import annotations

import os
import sys

import pytest

from fake_resolve import FakeResolve, FakeScriptModule
from genplate.resolve import connect as K
from genplate.resolve import timecode as T


def test_script_paths_per_os_and_env_override():
    mac = K.script_paths("darwin", {})
    assert mac["libs"][0].endswith("Contents/Libraries/Fusion/fusionscript.so")
    assert mac["modules"].endswith("Developer/Scripting/Modules")
    win = K.script_paths("win32", {"PROGRAMDATA": r"D:\PD"})
    assert win["libs"] == [r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll"]
    assert win["modules"] == r"D:\PD\Blackmagic Design\DaVinci Resolve\Support\Developer\Scripting\Modules"
    linux = K.script_paths("linux", {})
    assert linux["libs"] == ["/opt/resolve/libs/Fusion/fusionscript.so",
                             "/home/resolve/libs/Fusion/fusionscript.so"]
    env = K.script_paths("linux", {"RESOLVE_SCRIPT_LIB": "/x/fusionscript.so",
                                   "RESOLVE_SCRIPT_API": "/x/Scripting"})
    assert env["libs"][0] == "/x/fusionscript.so" and env["modules"] == "/x/Scripting/Modules"


def test_library_loaded_from_the_first_existing_path(tmp_path):
    lib = tmp_path / "fusionscript.so"
    lib.write_bytes(b"\x7fELF")
    loaded, probed = [], []
    module = K.load_script_module({"libs": [str(tmp_path / "missing.so"), str(lib)],
                                   "modules": str(tmp_path / "Modules")},
                                  load_extension=lambda p: loaded.append(p) or "module",
                                  probe=lambda code, arg, env: probed.append(arg))
    assert module == "module" and loaded == [str(lib)]
    assert probed == [str(lib)]  # checked in a child process before this one loads it


def test_on_windows_fusionscript_is_pointed_at_this_python_before_it_loads(tmp_path):
    """fusionscript.dll takes its Python from FUSION_PYTHON3_HOME, else the registry, and
    crashes with a foreign one (Tooflex/davinci-resolve-mcp PR #4; WheheoHu/pybmd #11)."""
    lib = tmp_path / "fusionscript.dll"
    lib.write_bytes(b"MZ")
    env = {"FUSION_PYTHON3_HOME": r"C:\Anaconda3"}
    seen = {}

    def load(path):
        seen["load"] = env.get("FUSION_PYTHON3_HOME")
        return "module"

    def probe(code, arg, child_env):
        seen["probe"] = child_env.get("FUSION_PYTHON3_HOME")

    K.load_script_module({"libs": [str(lib)], "modules": str(tmp_path / "M")},
                         load_extension=load, probe=probe, platform="win32", env=env)
    assert seen == {"probe": sys.base_prefix, "load": sys.base_prefix}
    other = {}
    K.load_script_module({"libs": [str(lib)], "modules": str(tmp_path / "M")},
                         load_extension=load, probe=probe, platform="linux", env=other)
    assert "FUSION_PYTHON3_HOME" not in other


def test_a_library_that_crashes_the_child_is_never_loaded_here(tmp_path):
    lib = tmp_path / "fusionscript.dll"
    lib.write_bytes(b"MZ")
    with pytest.raises(K.ResolveConnectError) as err:
        K.load_script_module({"libs": [str(lib)], "modules": str(tmp_path / "M")},
                             load_extension=lambda p: pytest.fail("loaded after a crash"),
                             probe=lambda code, arg, env: "crashed (exit code 3221225477)",
                             platform="win32", env={})
    assert err.value.reason == "library_failed"
    assert "crashed" in str(err.value) and "FUSION_PYTHON3_HOME" in str(err.value)


def test_any_exception_from_the_load_is_a_connect_error(tmp_path):
    lib = tmp_path / "fusionscript.so"
    lib.write_bytes(b"\x7fELF")

    def load(path):
        raise SystemError("initialization of fusionscript failed without raising an exception")

    with pytest.raises(K.ResolveConnectError) as err:
        K.load_script_module({"libs": [str(lib)], "modules": str(tmp_path / "M")},
                             load_extension=load, probe=lambda code, arg, env: None)
    assert err.value.reason == "library_failed" and "SystemError" in str(err.value)


def test_the_probe_runs_a_real_child_and_reports_a_bad_library(tmp_path):
    lib = tmp_path / "fusionscript.so"
    lib.write_bytes(b"not a library")
    problem = K.probe_load(K.LIBRARY_PROBE, str(lib), dict(os.environ))
    assert problem and "fusionscript" in problem


def test_no_library_says_what_to_set(tmp_path):
    with pytest.raises(K.ResolveConnectError) as err:
        K.load_script_module({"libs": [str(tmp_path / "fusionscript.so")],
                              "modules": str(tmp_path / "Modules")},
                             probe=lambda code, arg, env: pytest.fail("nothing to probe"))
    assert err.value.reason == "no_library"
    assert "RESOLVE_SCRIPT_LIB" in str(err.value) and "fusionscript.so (missing)" in str(err.value)


def test_attached_to_studio():
    resolve = FakeResolve()
    module = FakeScriptModule(resolve)
    assert K.attach(module=module, running=lambda: True) is resolve
    assert module.asked == ["Resolve"]
    assert K.describe(resolve) == {"product": "DaVinci Resolve Studio", "version": "21.0.0.40",
                                   "studio": True}


def test_not_running():
    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(module=FakeScriptModule(None), running=lambda: False)
    assert err.value.reason == "not_running" and "not running" in str(err.value)


def test_free_edition_from_the_launcher_hint_needs_no_library():
    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(product_hint="DaVinci Resolve", module=None)
    assert err.value.reason == "free_edition"
    assert "Studio" in str(err.value) and "21.1" in str(err.value)


def test_a_resolve_that_raises_while_attaching_is_a_connect_error():
    class Broken:
        def scriptapp(self, name):
            raise SystemError("fusionscript: bad Python")

    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(module=Broken(), running=lambda: True)
    assert "SystemError" in str(err.value)


def test_free_edition_when_attached():
    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(module=FakeScriptModule(FakeResolve(product="DaVinci Resolve")))
    assert err.value.reason == "free_edition"


@pytest.mark.parametrize("hint, running", [("DaVinci Resolve Studio", None), (None, lambda: True)])
def test_scripting_off_names_the_preference(hint, running):
    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(product_hint=hint, module=FakeScriptModule(None), running=running)
    assert err.value.reason == "scripting_off"
    assert "Preferences > System > General > External scripting using: Local" in str(err.value)


def test_cannot_tell_gives_both_fixes():
    with pytest.raises(K.ResolveConnectError) as err:
        K.attach(module=FakeScriptModule(None), running=lambda: None)
    assert err.value.reason == "unknown"
    assert "not running" in str(err.value) and "External scripting" in str(err.value)


def test_process_check_on_macos_and_windows():
    class Done:
        def __init__(self, code, out=""):
            self.returncode, self.stdout = code, out

    assert K.resolve_running("darwin", run=lambda *a, **k: Done(0)) is True
    assert K.resolve_running("darwin", run=lambda *a, **k: Done(1)) is False
    assert K.resolve_running("win32", run=lambda *a, **k: Done(0, "Resolve.exe  123 Console")) is True
    assert K.resolve_running("win32", run=lambda *a, **k: Done(0, "INFO: No tasks")) is False
    assert K.resolve_running("sunos") is None


@pytest.mark.parametrize("tc, fps, drop, frame", [
    ("01:00:00:00", 24, False, 86400),
    ("01:00:02:00", 24, False, 86448),
    ("00:01:00;02", 29.97, True, 1800),
    ("00:10:00;00", 29.97, True, 17982),
    ("01:00:00;00", 29.97, True, 107892),
    ("00:00:01:10", 25, False, 35),
])
def test_timecode_round_trip(tc, fps, drop, frame):
    assert T.timecode_to_frame(tc, fps) == frame
    assert T.frame_to_timecode(frame, fps, drop) == tc


def test_drop_frame_every_frame_round_trips():
    for frame in range(0, 40000, 7):
        assert T.timecode_to_frame(T.frame_to_timecode(frame, 29.97, True), 29.97) == frame


def test_bad_timecodes_and_rates():
    with pytest.raises(T.TimecodeError):
        T.timecode_to_frame("1:00", 24)
    with pytest.raises(T.TimecodeError):
        T.timecode_to_frame("00:00:00:24", 24)
    with pytest.raises(T.TimecodeError):
        T.parse_rate("fast")
    assert T.parse_rate("29.97 DF") == (29.97, True)
    assert T.parse_rate(23.976) == (23.976, False)

"""`genplate doctor` on this machine (issue #17): without a key it checks what runs here (the
OCIO config, OpenImageIO, PyAV's codecs, the data folder and ledger, disk space, the offline
renderer, the host installs) and says the offline renderer works; a broken part is named."""
from __future__ import annotations

import json
from collections import namedtuple

import pytest

from genplate.core.cli import doctor
from genplate.core.cli.main import main

LOCAL = ["OCIO config", "OpenImageIO", "PyAV codecs", "data folder", "ledger", "disk space",
         "offline renderer"]


@pytest.fixture(autouse=True)
def _roomy_disk_and_own_home(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "LOW_DISK_BYTES", 0)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no host installs of the real user
    monkeypatch.delenv("NUKE_PATH", raising=False)
    monkeypatch.delenv("GENPLATE_ENGINE", raising=False)


def doctor_json(capsys) -> tuple[int, dict]:
    code = main(["doctor", "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(report: dict) -> dict:
    return {c["check"]: c for c in report["checks"]}


def test_without_a_key_everything_here_is_checked_and_the_offline_renderer_works(capsys):
    code, report = doctor_json(capsys)
    checks = by_name(report)
    assert code == 0 and report["ok"], report
    for name in LOCAL:
        assert checks[name]["ok"] is True and checks[name]["group"] == "here", checks[name]
    assert "ACEScg" in checks["OCIO config"]["detail"]
    assert "hevc" in checks["PyAV codecs"]["detail"]
    assert "works" in checks["offline renderer"]["detail"]
    # Not installed is not a fault, and it says how.
    assert checks["Nuke"]["ok"] is None and "genplate install nuke" in checks["Nuke"]["detail"]
    assert checks["Resolve"]["ok"] is None
    assert checks["key"]["ok"] is None and checks["key"]["group"] == "luma"
    assert "connection" not in checks  # nothing is sent without a key


def test_the_human_report_says_the_offline_renderer_works(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0
    assert "FAIL" not in out and "offline renderer: works" in out
    assert "ready for the offline renderer" in out


def test_a_broken_ocio_config_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    code, report = doctor_json(capsys)
    ocio = by_name(report)["OCIO config"]
    assert code == 1 and not report["ok"]
    assert ocio["ok"] is False and "missing.ocio" in ocio["detail"]


def test_an_unwritable_data_folder_is_named(capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GENPLATE_DATA_DIR", str(blocker / "data"))
    code, report = doctor_json(capsys)
    data = by_name(report)["data folder"]
    assert code == 1 and data["ok"] is False and "GENPLATE_DATA_DIR" in data["detail"]


def test_low_disk_space_is_a_failure(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "LOW_DISK_BYTES", 5 * 1024**3)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda _p: usage(10**12, 10**12, 10**9))
    code, report = doctor_json(capsys)
    disk = by_name(report)["disk space"]
    assert code == 1 and disk["ok"] is False and "may not fit" in disk["detail"]


def test_a_nuke_install_is_found(capsys, tmp_path):
    from genplate.core.install import nuke as I

    I.install(nuke_dir=tmp_path / "home" / ".nuke")
    code, report = doctor_json(capsys)
    checks = by_name(report)
    assert checks["Nuke"]["ok"] is True and "init.py" in checks["Nuke"]["detail"]
    assert checks["engine for the hosts"]["ok"] is True

"""`genplate login / logout / doctor / still`, and `genplate generate --backend luma` end to end
against the emulator: a take published exactly as the offline backend publishes one."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from genplate.core.backends.luma import credentials as C
from genplate.core.cli.main import main

from luma_emulator import TEST_KEY, LumaEmulator, serving


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.store = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        del self.store[(service, username)]


@pytest.fixture
def emu():
    yield from serving()


@pytest.fixture
def memory_keyring(monkeypatch):
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    monkeypatch.delenv("GENPLATE_NO_KEYRING")
    yield ring
    keyring.set_keyring(previous)


def genplate_json(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out.strip().splitlines()[-1]), out.err


@pytest.fixture
def roomy_disk(monkeypatch):
    """The doctor's disk check does not depend on the test machine's free space."""
    from genplate.core.cli import doctor

    monkeypatch.setattr(doctor, "LOW_DISK_BYTES", 0)


def luma_checks(report: dict) -> list[dict]:
    return [c for c in report["checks"] if c["group"] == "luma"]


def test_doctor_without_a_key_says_how_to_get_one(capsys, roomy_disk):
    code, report, _ = genplate_json(capsys, "doctor")
    # No key is no fault: the offline renderer works; Luma is simply not checked (nothing sent).
    assert code == 0 and report["ok"], report
    assert [c["check"] for c in luma_checks(report)] == ["key"]
    key = luma_checks(report)[0]
    assert key["ok"] is None and "genplate login" in key["detail"] and "LUMA_AGENTS_API_KEY" in key["detail"]


def test_doctor_with_a_working_key(capsys, monkeypatch, emu, roomy_disk):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", TEST_KEY)
    code, report, _ = genplate_json(capsys, "doctor")
    assert code == 0 and report["ok"], report
    luma = luma_checks(report)
    assert [c["check"] for c in luma] == ["key", "base URL", "connection", "key accepted"]
    assert all(c["ok"] for c in luma)
    assert "LUMA_AGENTS_API_KEY" in luma[0]["detail"]
    assert TEST_KEY not in json.dumps(report)


def test_doctor_names_a_refused_key_and_an_unreachable_service(capsys, monkeypatch, emu):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", "luma-api-revoked-000000")
    code, report, _ = genplate_json(capsys, "doctor")
    accepted = next(c for c in report["checks"] if c["check"] == "key accepted")
    assert code == 1 and not accepted["ok"] and "refuses this key" in accepted["detail"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("LUMA_BASE_URL", f"http://127.0.0.1:{dead}/v1")
    code, report, _ = genplate_json(capsys, "doctor")
    connection = next(c for c in report["checks"] if c["check"] == "connection")
    assert code == 1 and not connection["ok"] and "refused" in connection["detail"]
    monkeypatch.setenv("LUMA_BASE_URL", "ftp://example.com")
    code, report, _ = genplate_json(capsys, "doctor")
    assert not next(c for c in report["checks"] if c["check"] == "base URL")["ok"]


def test_login_checks_the_key_stores_it_and_logout_forgets_it(capsys, monkeypatch, emu, memory_keyring):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    code, result, _ = genplate_json(capsys, "login", stdin=TEST_KEY + "\n", monkeypatch=monkeypatch)
    assert code == 0 and result == {"stored": True, "checked": True, "where": "keyring"}
    assert C.stored_key() == TEST_KEY and C.api_key() == (TEST_KEY, "keyring")
    code, report, _ = genplate_json(capsys, "doctor")
    assert luma_checks(report)[0]["ok"] and "keyring" in luma_checks(report)[0]["detail"]
    from genplate.core.backends import default_backend_name

    assert default_backend_name() == "luma"
    code, result, _ = genplate_json(capsys, "logout")
    assert result["forgot"] is True and C.stored_key() is None


def test_login_refuses_a_key_luma_refuses_and_text_that_is_no_key(capsys, monkeypatch, emu, memory_keyring):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    code, result, _ = genplate_json(capsys, "login", stdin="luma-api-wrong-999\n", monkeypatch=monkeypatch)
    assert code == 2 and "does not accept this key" in result["error"] and "wrong-999" not in result["error"]
    code, result, _ = genplate_json(capsys, "login", stdin="hunter2\n", monkeypatch=monkeypatch)
    assert code == 2 and "luma-api-" in result["error"]
    assert memory_keyring.store == {}


def test_login_without_a_keyring_says_to_use_the_environment(capsys, monkeypatch):
    code, result, _ = genplate_json(capsys, "login", "--no-check", stdin=TEST_KEY, monkeypatch=monkeypatch)
    assert code == 2 and "LUMA_AGENTS_API_KEY" in result["error"] and TEST_KEY not in result["error"]


def test_still_saves_a_concept_image(capsys, monkeypatch, emu, tmp_path):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", TEST_KEY)
    monkeypatch.setenv("GENPLATE_LUMA_POLL_INTERVAL", "0.01")
    ref = tmp_path / "ref.png"
    from luma_emulator import make_image

    ref.write_bytes(make_image(32, 18, "png"))
    code, result, _ = genplate_json(capsys, "still", "a brass robot, concept art", "--aspect", "3:2",
                                    "--ref", str(ref), "--out", str(tmp_path / "concepts"))
    assert code == 0, result
    saved = Path(result["path"])
    assert saved.parent == tmp_path / "concepts" and saved.suffix == ".png"
    assert saved.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no staging left behind
    body = emu.create_bodies[0]
    assert (body["model"], body["type"], body["aspect_ratio"]) == ("uni-1", "image", "3:2")
    assert body["image_ref"][0]["media_type"] == "image/png"
    code, result, _ = genplate_json(capsys, "still", "a brass robot", "--format", "jpeg",
                                    "--out", str(tmp_path / "robot.png"))
    assert code == 0 and Path(result["path"]) == tmp_path / "robot.jpg"


def test_still_reports_a_moderated_image_verbatim(capsys, monkeypatch, emu, tmp_path):
    monkeypatch.setenv("LUMA_BASE_URL", emu.base_url)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", TEST_KEY)
    monkeypatch.setenv("GENPLATE_LUMA_POLL_INTERVAL", "0.01")
    emu.plan(outcome="failed", failure_code="content_moderated", failure_reason="Prompt flagged", polls=1)
    code, result, _ = genplate_json(capsys, "still", "x", "--out", str(tmp_path))
    assert code == 2 and "content_moderated" in result["error"] and "Prompt flagged" in result["error"]


# -- end to end through the command ------------------------------------------------------------

def _genplate(*args, env):
    return subprocess.run([sys.executable, "-m", "genplate.core.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _secrets_absent(emu, *roots, texts=()):
    needles = [emu.key] + sorted(emu.signatures)
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(n.encode() in data for n in needles), path
    for text in texts:
        assert not any(n in text for n in needles)


@pytest.mark.slow
def test_generate_on_luma_publishes_a_take_exactly_as_offline_does(tmp_path):
    emu = LumaEmulator().start()  # real draft frames: 640x360, as the offline renderer makes
    try:
        _generate_both(emu, tmp_path)
    finally:
        emu.stop()


def _generate_both(emu, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("LUMA_")}
    prompt = "a lighthouse in a storm, waves over the rocks"
    luma_env = {**base, **emu.env(), "GENPLATE_DATA_DIR": str(tmp_path / "luma-data"),
                "GENPLATE_LUMA_POLL_INTERVAL": "0.02"}
    offline_env = {**base, "GENPLATE_DATA_DIR": str(tmp_path / "offline-data")}
    luma = _genplate("generate", prompt, "--backend", "luma", "--root", str(tmp_path / "luma-takes"),
                     "--shot", "sh040", "--json", env=luma_env)
    assert luma.returncode == 0, luma.stderr
    offline = _genplate("generate", prompt, "--backend", "offline", "--root", str(tmp_path / "off-takes"),
                        "--shot", "sh040", "--json", env=offline_env)
    assert offline.returncode == 0, offline.stderr
    a, b = json.loads(luma.stdout), json.loads(offline.stdout)
    assert set(a) == set(b)
    for key in ("first", "last", "fps", "version", "colorspace", "shot", "name", "kind"):
        assert a[key] == b[key], key
    assert Path(a["dir"]).relative_to(tmp_path / "luma-takes") == Path(b["dir"]).relative_to(tmp_path / "off-takes")
    assert Path(a["pattern"]).name == Path(b["pattern"]).name
    assert sorted(p.name for p in Path(a["dir"]).iterdir()) == sorted(p.name for p in Path(b["dir"]).iterdir())
    record = json.loads(Path(a["take_json"]).read_text())
    other = json.loads(Path(b["take_json"]).read_text())
    assert set(record) == set(other) and record["frames"]["width"] == other["frames"]["width"] == 640
    assert record["frames"]["count"] == other["frames"]["count"] == 121
    assert record["backend"] == "luma" and record["remote_id"] in emu.generations
    assert emu.total_creates() == 1
    _secrets_absent(emu, tmp_path / "luma-data", tmp_path / "luma-takes", texts=(luma.stdout, luma.stderr))


@pytest.mark.slow
def test_four_drafts_submitted_from_separate_processes_share_the_limits(emu, tmp_path):
    """Four `genplate submit` workers (one process each) with two creates in flight at most."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LUMA_")}, **emu.env(),
           "GENPLATE_DATA_DIR": str(tmp_path / "data"), "GENPLATE_LUMA_POLL_INTERVAL": "0.05",
           "GENPLATE_LUMA_MAX_IN_FLIGHT": "2"}
    emu.default_plan.polls = 6
    ids = []
    for i in range(4):
        proc = _genplate("submit", f"a lighthouse, variation {i}", "--backend", "luma", "--root",
                         str(tmp_path / "takes"), "--name", f"light{i}", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        ids.append(json.loads(proc.stdout)["job"]["id"])
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        jobs = json.loads(_genplate("jobs", "--json", env=env).stdout)["jobs"]
        if all(j["state"] in ("ready", "failed", "cancelled") for j in jobs if j["id"] in ids):
            break
        time.sleep(0.5)
    states = {j["id"]: (j["state"], j["error"]) for j in jobs}
    assert all(states[i][0] == "ready" for i in ids), states
    assert emu.total_creates() == 4 and max(emu.creates_made.values()) == 1
    assert emu.max_active <= 2
    _secrets_absent(emu, tmp_path / "data", tmp_path / "takes")


def test_the_environment_key_wins_and_the_keyring_switch_is_honoured(monkeypatch, memory_keyring):
    C.store_key(TEST_KEY)
    assert C.api_key() == (TEST_KEY, "keyring")
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", "luma-api-from-env-1234")
    assert C.api_key() == ("luma-api-from-env-1234", "environment")
    monkeypatch.delenv("LUMA_AGENTS_API_KEY")
    monkeypatch.setenv("GENPLATE_NO_KEYRING", "1")
    assert C.stored_key() is None and C.api_key() == (None, "none")
    assert memory_keyring.store  # switched off, not erased
    with pytest.raises(C.CredentialsError, match="spaces"):
        C.check_key_format("luma-api-abc def")


@pytest.mark.slow
def test_a_four_draft_batch_on_luma_through_the_drafts_command(tmp_path):
    emu = LumaEmulator().start()  # real 360p draft frames, so judging sees a real draft
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("LUMA_")}, **emu.env(),
               "GENPLATE_DATA_DIR": str(tmp_path / "data"), "GENPLATE_LUMA_POLL_INTERVAL": "0.02",
               "GENPLATE_LUMA_MAX_IN_FLIGHT": "2"}
        emu.default_plan.polls = 4
        proc = _genplate("drafts", "a lighthouse in a storm", "-n", "4", "--limit", "4",
                         "--retries", "0", "--backend", "luma", "--root", str(tmp_path / "takes"),
                         "--json", env=env)
        assert proc.returncode in (0, 1), proc.stderr
        batch = json.loads(proc.stdout)
        takes = sorted(tmp_path.joinpath("takes").rglob("take.json"))
        assert len(takes) == 4, (batch, proc.stderr)
        records = [json.loads(t.read_text()) for t in takes]
        assert {r["backend"] for r in records} == {"luma"}
        assert sorted(r["remote_id"] for r in records) == sorted(emu.generations)
        assert emu.total_creates() == 4 and max(emu.creates_made.values()) == 1
        assert emu.max_active <= 2
        _secrets_absent(emu, tmp_path / "data", tmp_path / "takes", texts=(proc.stdout, proc.stderr))
    finally:
        emu.stop()

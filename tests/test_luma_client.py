"""The Luma HTTP layer against the local emulator: what is retried, what is refused in plain
words, what a lost connection proves, and where the key may go."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from genplate.core.backends.luma.client import LumaClient, LumaError, SendFailure, never_sent
from genplate.core.backends.luma.settings import LumaSettings, LumaSettingsError

from luma_emulator import TEST_KEY, LumaEmulator

FAST = dict(backoff=0.01, backoff_max=0.05, retry_after_max=3.0, read_timeout=1.0,
            connect_timeout=1.0, retries=3)


@pytest.fixture
def emu():
    emulator = LumaEmulator(video_size=(64, 36), frames=5).start()
    yield emulator
    emulator.stop()


def client_for(emu, key=TEST_KEY, **kw):
    return LumaClient(key, LumaSettings(base_url=emu.base_url, **{**FAST, **kw}))


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_settings_come_from_the_environment_and_bad_values_name_the_variable():
    s = LumaSettings.from_env({"LUMA_BASE_URL": "http://127.0.0.1:9/v1/", "GENPLATE_LUMA_RETRIES": "2",
                               "GENPLATE_LUMA_BACKOFF": "0.5", "GENPLATE_LUMA_MAX_IN_FLIGHT": "3"})
    assert (s.base_url, s.retries, s.backoff, s.max_in_flight) == ("http://127.0.0.1:9/v1", 2, 0.5, 3)
    assert LumaSettings.from_env({}).base_url == "https://agents.lumalabs.ai/v1"
    with pytest.raises(LumaSettingsError, match="GENPLATE_LUMA_RETRIES"):
        LumaSettings.from_env({"GENPLATE_LUMA_RETRIES": "many"})
    with pytest.raises(LumaSettingsError, match="GENPLATE_LUMA_MAX_IN_FLIGHT"):
        LumaSettings.from_env({"GENPLATE_LUMA_MAX_IN_FLIGHT": "0"})
    with pytest.raises(LumaSettingsError, match="https"):
        LumaSettings.from_env({"LUMA_BASE_URL": "http://agents.example.com/v1"})


def test_a_refused_connection_and_a_connect_timeout_prove_nothing_was_sent(emu):
    client = LumaClient(TEST_KEY, LumaSettings(base_url=f"http://127.0.0.1:{_dead_port()}/v1", **FAST))
    with pytest.raises(SendFailure) as failure:
        client.send_once("POST", "generations", what="creating", request_id="j1:create:1", json={})
    assert failure.value.never_sent and "refused" in str(failure.value)
    assert never_sent(requests.exceptions.ConnectTimeout("connect timed out"))
    assert not never_sent(requests.exceptions.ReadTimeout("read timed out"))


@pytest.mark.parametrize("kind", ["drop_before", "drop_after", "slow"])
def test_a_lost_answer_after_sending_proves_nothing(emu, kind):
    emu.inject("create", kind, delay=2.0)
    client = client_for(emu, read_timeout=0.5)
    with pytest.raises(SendFailure) as failure:
        client.send_once("POST", "generations", what="creating", request_id="j1:create:1",
                         json={"prompt": "p", "model": "ray-3.2", "video": {}})
    assert not failure.value.never_sent


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_a_poll_are_retried(emu, status):
    emu.inject("files.list", "status", status=status, times=2, detail="upstream unavailable")
    body = client_for(emu).json("GET", "files", what="listing files", params={"limit": 1})
    assert body["data"] == []
    assert [s for m, r, s in emu.log if r == "files.list"] == [status, status, 200]


def test_dropped_connections_and_slow_answers_on_a_poll_are_retried(emu):
    emu.inject("files.list", "drop_before")
    emu.inject("files.list", "slow", delay=1.5)
    body = client_for(emu, read_timeout=0.5).json("GET", "files", what="listing", params={"limit": 1})
    assert body["has_more"] is False


def test_429_honours_retry_after(emu):
    emu.inject("files.list", "status", status=429, retry_after="1", detail="Too many requests")
    started = time.monotonic()
    client_for(emu).json("GET", "files", what="listing", params={"limit": 1})
    assert time.monotonic() - started >= 0.95


def test_retries_are_bounded_and_the_message_says_so(emu):
    emu.inject("files.list", "status", status=502, times=10)
    with pytest.raises(LumaError) as err:
        client_for(emu, retries=2).json("GET", "files", what="listing files", params={"limit": 1})
    assert err.value.status == 502 and err.value.retryable
    assert "gave up after 3 tries" in str(err.value)
    assert len([1 for m, r, s in emu.log if r == "files.list"]) == 3


@pytest.mark.parametrize("status,words", [
    (400, "invalid (400)"), (401, "API key (401)"), (402, "balance is insufficient (402)"),
    (403, "account suspended"), (413, "too large for Luma (413)"), (422, "combination of parameters"),
])
def test_refusals_stop_at_once_with_the_services_detail(emu, status, words):
    emu.inject("files.list", "status", status=status, detail=f"the service explains {status}")
    with pytest.raises(LumaError) as err:
        client_for(emu).json("GET", "files", what="listing files", params={"limit": 1})
    message = str(err.value)
    assert words in message and f"the service explains {status}" in message
    assert message.startswith("listing files: ")
    assert TEST_KEY not in message and not err.value.retryable
    assert len([1 for m, r, s in emu.log if r == "files.list"]) == 1


def test_a_wrong_key_is_refused_without_echoing_it(emu):
    with pytest.raises(LumaError) as err:
        client_for(emu, key="luma-api-wrong-key-123456").json("GET", "files", what="checking the key",
                                                              params={"limit": 1})
    assert err.value.status == 401 and "wrong-key" not in str(err.value)
    assert "genplate login" in str(err.value)


def test_validation_details_are_flattened_into_one_line(emu):
    emu.inject("files.list", "status", status=422,
               body=b'{"detail": [{"loc": ["body", "video", "resolution"], "msg": "bad value"}]}')
    with pytest.raises(LumaError) as err:
        client_for(emu).json("GET", "files", what="x", params={"limit": 1})
    assert "video.resolution: bad value" in str(err.value)


def test_every_call_carries_a_request_id_and_the_key_only_goes_to_the_api_host(emu):
    client = client_for(emu)
    client.json("GET", "files", what="listing", tag="j123", params={"limit": 1})
    url = emu.sign("/outputs/none/none")
    assert client.call("GET", url, what="download", ok=(404,)).status_code == 404
    assert emu.key_leaks == []
    assert emu.seen_request_ids[0] == "j123:get:1" and len(set(emu.seen_request_ids)) == 2
    assert TEST_KEY not in repr(client)


def test_tls_is_verified_and_an_untrusted_certificate_proves_nothing_was_sent(tmp_path, monkeypatch):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    monkeypatch.setenv("CURL_CA_BUNDLE", "")  # an environment trying to switch verification off
    emulator = LumaEmulator().start(tls=(str(cert), str(key)))
    try:
        client = client_for(emulator)
        assert client.base_url.startswith("https://")
        with pytest.raises(SendFailure) as failure:
            client.send_once("POST", "generations", what="creating", request_id="j1:create:1", json={})
        assert failure.value.never_sent and "TLS" in str(failure.value)
        assert emulator.creates_received == {}
    finally:
        emulator.stop()

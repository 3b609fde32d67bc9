"""Downloading outputs: resumed, retried, refreshed, verified, atomic, and quiet about secrets.

A small object store runs on 127.0.0.1 in a thread. It serves bytes with Range support,
accepts only URLs whose token it considers valid (like a presigned URL that can expire), gives
each object an ETag and a Last-Modified and honours If-Range (as S3 does: RFC 7233 §3.2,
aws/aws-sdk-kotlin#1645), and can be told to misbehave on the next request for a path: a body
cut short, a connection reset, 503, an expiry 400, a wrong range, or ignoring Range altogether.
Plain http to it is allowed only because LUMA_BASE_URL points at this machine (``loopback``).
"""
from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import socket
import struct
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from genplate.core.backends.base import Output
from genplate.core.delivery.limits import Budget, Pace
from genplate.core.delivery.unpack import ArchiveError
from genplate.core.delivery.fetch import FetchedFile, FetchError, fetch_outputs
from genplate.core.progress import Cancelled, CancelToken

FAST = dict(backoff=0.001, max_backoff=0.01, timeout=(2.0, 2.0), chunk_size=4096)
SECRET = "SIGSECRET"


def mp4_bytes(size: int = 100_000, seed: int = 1) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + body)[:size]


def exr_bytes(size: int = 5000) -> bytes:
    return (b"\x76\x2f\x31\x01\x02\x00\x00\x00" + bytes(range(256)) * (size // 256 + 1))[:size]


def budget(nbytes: int) -> Budget:
    return Budget(bytes=nbytes, files=100, ratio=100.0, basis="test")


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


# -- the object store -------------------------------------------------------------------------

class Store:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.valid_tokens = {"t0"}
        self.faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.ignore_range = False
        self.ignore_if_range = False  # a hostile store: 206 with whatever it holds now
        self.validators = ("etag", "last-modified")  # which of the two it sends
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.port = 0
        self.generation = 0

    def url(self, path: str, token: str = "t0") -> str:
        return (f"http://127.0.0.1:{self.port}{path}?token={token}"
                f"&X-Amz-Signature={SECRET}{token}&X-Amz-Expires=3600")

    def fault(self, path: str, *faults) -> None:
        self.faults[path].extend(faults)

    def expire(self) -> None:
        self.valid_tokens.clear()

    def fresh(self) -> str:
        """Mint a new valid token (what a new GET of the generation would do)."""
        with self.lock:
            self.generation += 1
            token = f"t{self.generation}"
            self.valid_tokens.add(token)
            return token

    def statuses(self, path: str) -> list[int]:
        return [r["status"] for r in self.requests if r["path"] == path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        store: Store = self.server.store
        parts = urlsplit(self.path)
        token = parse_qs(parts.query).get("token", [""])[0]
        entry = {"path": parts.path, "range": self.headers.get("Range"),
                 "if_range": self.headers.get("If-Range"),
                 "authorization": self.headers.get("Authorization")}
        store.requests.append(entry)
        data = store.files.get(parts.path)

        def reply(status: int, body: bytes = b"", headers: dict | None = None) -> None:
            entry["status"] = status
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        if data is None:
            return reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        if token not in store.valid_tokens:
            return reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired"
                              b"</Message></Error>")
        with store.lock:  # a fault is spent only by a request the store would serve
            fault = store.faults[parts.path].popleft() if store.faults[parts.path] else None
        if fault == "503":
            return reply(503, b"Slow Down")
        if fault == "400-expired":
            return reply(400, b"<Error><Code>ExpiredToken</Code><Message>The provided token "
                              b"has expired.</Message></Error>")
        if fault == "400-bad":
            return reply(400, b"<Error><Code>InvalidArgument</Code></Error>")
        if fault == "endless":  # no length, and a body that never ends (a hostile server)
            entry["status"] = 200
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                while True:
                    self.wfile.write(data)
            except OSError:  # the client hung up, as it should
                return
        if fault == "drip":  # a length, then one byte every 0.1 s (a hostile server)
            entry["status"] = 200
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
            self.end_headers()
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
            return
        if fault == "redirect-file":
            return reply(302, headers={"Location": "file:///etc/passwd"})
        if fault == "redirect":  # to the same object under another name: followed
            return reply(307, headers={"Location": store.url(parts.path + ".moved")[len(
                f"http://127.0.0.1:{store.port}"):]})
        if fault == "no-length":  # HTTP/1.0 style: the body ends when the connection does
            entry["status"] = 200
            self.send_response(200)
            self.send_header("ETag", '"' + hashlib.md5(data).hexdigest() + '"')
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        start = 0
        requested = self.headers.get("Range")
        validators = {}
        if "etag" in store.validators:
            validators["ETag"] = '"' + hashlib.md5(data).hexdigest() + '"'
        if "weak-etag" in store.validators:
            validators["ETag"] = 'W/"' + hashlib.md5(data).hexdigest() + '"'
        if "last-modified" in store.validators:
            validators["Last-Modified"] = time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1_700_000_000 + len(data)))
        condition = self.headers.get("If-Range")
        if requested and condition and not store.ignore_if_range \
                and condition not in validators.values():
            requested = None  # RFC 7233 §3.2: another file now; the whole of it, 200
        if requested and not store.ignore_range:
            start = int(requested.split("=")[1].split("-")[0])
            if start >= len(data):
                return reply(416, headers={"Content-Range": f"bytes */{len(data)}"})
        if fault == "wrong-range" and start:
            start = 0  # a broken server: answers 206 but from the beginning
        status = 206 if requested and not store.ignore_range else 200
        entry["status"] = status
        self.send_response(status)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        for k, v in validators.items():
            self.send_header(k, v)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if fault == "stall":  # headers and a third of the body, then nothing for a while
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            time.sleep(3.0)
            self.close_connection = True
            return
        if fault in ("truncate", "reset"):
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            if fault == "reset":  # an abrupt RST, not a polite close
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            self.close_connection = True
            self.wfile = io.BytesIO()  # nothing more reaches the client
            return
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # resets are the point
        pass


@pytest.fixture(autouse=True)
def loopback(monkeypatch):
    """The service is a local emulator: plain http from this machine is allowed."""
    monkeypatch.setenv("LUMA_BASE_URL", "http://127.0.0.1:9/v1")


@pytest.fixture
def store():
    s = Store()
    server = Server(("127.0.0.1", 0), Handler)
    server.store = s
    s.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        server.shutdown()
        server.server_close()


def refresher(store: Store, paths: list[tuple[str, str]]):
    """What a backend's refresh does: a new GET of the generation, fresh URLs."""
    calls = []

    def refresh():
        token = store.fresh()
        calls.append(token)
        return tuple(Output(type_, store.url(path, token)) for type_, path in paths)

    refresh.calls = calls
    return refresh


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# -- plain downloads --------------------------------------------------------------------------

def test_http_outputs_are_named_by_kind_verified_and_zip_extracted(store, tmp_path):
    video, frames = mp4_bytes(), exr_bytes()
    store.files["/gen/abc/video.exr"] = video  # a misleading URL name: ignored
    store.files["/gen/abc/frames"] = zip_bytes({"exr/f.0001.exr": frames, "exr/f.0002.exr": frames})
    outputs = [Output("video", store.url("/gen/abc/video.exr")), Output("exr", store.url("/gen/abc/frames"))]
    dest = tmp_path / "delivery"
    files = fetch_outputs(dest, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    assert [(f.path.relative_to(dest).as_posix(), f.kind) for f in files] == [
        ("output-0.mp4", "mp4"), ("output-1/exr/f.0001.exr", "exr"), ("output-1/exr/f.0002.exr", "exr")]
    assert files[0] == FetchedFile(dest / "output-0.mp4", "mp4", len(video), sha(video))
    assert files[1].sha256 == sha(frames) and files[1].bytes == len(frames)
    assert (dest / "output-1.zip").is_file()  # paid for: kept beside its extraction
    assert not [p for p in dest.rglob("*.part")]
    assert all(r["authorization"] is None for r in store.requests)  # no credentials sent
    assert all(f.path.is_absolute() for f in files)
    record = json.loads((dest / ".output-0.json").read_text())
    assert record["source_name"] == "video.exr" and record["type"] == "video"
    assert SECRET not in (dest / ".output-0.json").read_text()


def test_file_urls_are_copied_like_downloads(tmp_path):
    store_dir = tmp_path / "offline" / "gen1"
    store_dir.mkdir(parents=True)
    (store_dir / "video.mp4").write_bytes(mp4_bytes(50_000))
    (store_dir / "exr.zip").write_bytes(zip_bytes({"a.exr": exr_bytes()}))
    outputs = [Output("video", (store_dir / "video.mp4").as_uri()),
               Output("exr", (store_dir / "exr.zip").as_uri())]
    dest = tmp_path / "delivery"
    files = fetch_outputs(dest, outputs, refresh=None, progress=lambda *a: None, cancel=None,
                          local_root=tmp_path / "offline")
    assert [f.path.relative_to(dest).as_posix() for f in files] == ["output-0.mp4", "output-1/a.exr"]
    assert files[0].sha256 == sha(mp4_bytes(50_000))
    assert files[1].kind == "exr"


def test_missing_local_file_is_a_clear_error(tmp_path):
    with pytest.raises(FetchError, match="does not exist"):
        fetch_outputs(tmp_path / "d", [Output("video", (tmp_path / "nope.mp4").as_uri())],
                      refresh=None, progress=lambda *a: None, cancel=None, local_root=tmp_path)


def test_unknown_content_is_kept_as_bin_whatever_its_type_says(store, tmp_path):
    store.files["/gen/x.mp4"] = b"this is not a video at all, but it was delivered" * 10
    files = fetch_outputs(tmp_path, [Output("video", store.url("/gen/x.mp4"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.name == "output-0.bin" and files[0].kind == "unknown"


def test_progress_reports_bytes_under_the_final_name(store, tmp_path):
    data = mp4_bytes(20_000)
    store.files["/v"] = data
    seen = []
    fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                  progress=lambda d, t, m: seen.append((d, t, m)), cancel=None, **FAST)
    assert seen[-1] == (len(data), len(data), "output-0.mp4")
    assert all(t == len(data) and m == "output-0.mp4" for _, t, m in seen)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


# -- resuming ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_a_body_cut_short_is_resumed_with_range(store, tmp_path, fault):
    data = mp4_bytes(90_000)
    store.files["/v"] = data
    store.fault("/v", fault)
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and files[0].sha256 == sha(data)
    assert store.statuses("/v") == [200, 206]
    resumed_at = int(store.requests[1]["range"].split("=")[1].rstrip("-"))
    assert 0 < resumed_at < len(data)


def test_repeated_breaks_that_make_progress_do_not_use_up_the_attempts(store, tmp_path):
    data = mp4_bytes(90_000)
    store.files["/v"] = data
    store.fault("/v", *["truncate"] * 5)
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, attempts=2, **FAST)
    assert files[0].path.read_bytes() == data
    assert store.statuses("/v") == [200] + [206] * 5


def test_a_stalled_body_times_out_and_is_resumed(store, tmp_path):
    data = mp4_bytes(60_000)
    store.files["/v"] = data
    store.fault("/v", "stall")
    started = time.monotonic()
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None,
                          **{**FAST, "timeout": (2.0, 0.2)})
    assert time.monotonic() - started < 2.5  # gave up on the stalled read, did not wait it out
    assert files[0].path.read_bytes() == data
    assert store.statuses("/v") == [200, 206]


def test_retries_and_refreshes_are_logged_without_the_signature(store, tmp_path, caplog):
    store.files["/v"] = mp4_bytes(20_000)
    store.fault("/v", "503", "truncate")
    store.expire()
    refresh = refresher(store, [("video", "/v")])
    with caplog.at_level(logging.DEBUG, logger="genplate.core.delivery.fetch"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refresh,
                      progress=lambda *a: None, cancel=None, **FAST)
    fetch_records = [r for r in caplog.records if r.name == "genplate.core.delivery.fetch"]
    assert len(fetch_records) >= 3  # the refresh, the 503, the broken body
    assert all(SECRET not in r.getMessage() for r in fetch_records)


def test_a_server_that_ignores_range_restarts_cleanly(store, tmp_path):
    data = mp4_bytes(60_000)
    store.files["/v"] = data
    store.fault("/v", "truncate")
    store.ignore_range = True
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and files[0].sha256 == sha(data)
    assert store.statuses("/v") == [200, 200]
    assert store.requests[1]["range"]  # it asked to resume; the answer started over


def test_a_wrong_range_answer_is_not_spliced(store, tmp_path):
    data = mp4_bytes(60_000)
    store.files["/v"] = data
    store.fault("/v", "truncate", "wrong-range")
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and files[0].sha256 == sha(data)
    assert store.statuses("/v") == [200, 206, 200]


@pytest.mark.parametrize("ignores_if_range, statuses", [
    (False, [200, 200]),  # If-Range honoured: another file now, so the whole of it
    (True, [200, 206, 200]),  # ignored: a 206 of the new file, refused by its ETag
])
def test_a_file_that_changes_between_requests_is_started_over_not_spliced(
        store, tmp_path, ignores_if_range, statuses):
    old, new = mp4_bytes(60_000, seed=1), mp4_bytes(60_000, seed=2)  # the same size
    store.files["/v"] = old
    store.fault("/v", "truncate")
    store.ignore_if_range = ignores_if_range

    def replace_once(*_):
        store.files["/v"] = new

    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=replace_once, cancel=None, **FAST)
    assert files[0].path.read_bytes() == new and files[0].sha256 == sha(new)
    assert store.statuses("/v") == statuses
    assert store.requests[1]["if_range"] == '"' + hashlib.md5(old).hexdigest() + '"'


@pytest.mark.parametrize("validators, sent", [
    (("last-modified",), "Last-Modified"),  # no ETag: the date is the validator
    (("weak-etag", "last-modified"), "Last-Modified"),  # a weak ETag must not be used
])
def test_the_resume_names_the_validator_the_first_answer_gave(store, tmp_path, validators, sent):
    data = mp4_bytes(60_000)
    store.files["/v"] = data
    store.validators = validators
    store.fault("/v", "truncate")
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and store.statuses("/v") == [200, 206]
    assert store.requests[1]["if_range"].endswith("GMT")


def test_a_body_from_a_server_without_validators_is_never_resumed(store, tmp_path):
    data = mp4_bytes(60_000)
    store.files["/v"] = data
    store.validators = ()
    store.fault("/v", "truncate")
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data
    assert store.statuses("/v") == [200, 200]  # nothing proves the rest is the same file
    assert store.requests[1]["range"] is None


def leftover_part(folder: Path, data: bytes) -> None:
    """What a process killed after writing ``data`` to its .part leaves: the .part and the
    validator its first answer gave."""
    (folder / "output-0.part").write_bytes(data)
    (folder / ".output-0.part.json").write_text(
        json.dumps({"etag": '"' + hashlib.md5(data[:30_000]).hexdigest() + '"'}))


def test_a_complete_part_left_by_a_crash_is_finished_by_416(store, tmp_path):
    data = mp4_bytes(30_000)
    store.files["/v"] = data
    leftover_part(tmp_path, data)  # killed after the last byte, before rename
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert store.statuses("/v") == [416]
    assert files[0].sha256 == sha(data) and files[0].path.name == "output-0.mp4"


def test_a_part_longer_than_the_file_starts_over(store, tmp_path):
    data = mp4_bytes(30_000)
    store.files["/v"] = data
    leftover_part(tmp_path, data + b"junk")
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert store.statuses("/v") == [416, 200]
    assert files[0].path.read_bytes() == data


# -- expiry and refresh -----------------------------------------------------------------------

def test_an_expired_url_is_refreshed_and_the_download_goes_on(store, tmp_path):
    data = mp4_bytes(40_000)
    store.files["/v"] = data
    store.expire()
    refresh = refresher(store, [("video", "/v")])
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refresh,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].sha256 == sha(data)
    assert refresh.calls == ["t1"]
    assert store.statuses("/v") == [403, 200]


def test_an_expiry_reported_as_400_is_refreshed_too(store, tmp_path):
    store.files["/v"] = mp4_bytes(10_000)
    store.fault("/v", "400-expired")
    refresh = refresher(store, [("video", "/v")])
    fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refresh,
                  progress=lambda *a: None, cancel=None, **FAST)
    assert len(refresh.calls) == 1 and store.statuses("/v") == [400, 200]


def test_a_plain_400_is_not_taken_for_an_expiry(store, tmp_path):
    store.files["/v"] = mp4_bytes(10_000)
    store.fault("/v", "400-bad")
    refresh = refresher(store, [("video", "/v")])
    with pytest.raises(FetchError, match="HTTP 400") as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refresh,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert refresh.calls == [] and SECRET not in str(caught.value)


def test_expiry_mid_download_resumes_on_the_fresh_url(store, tmp_path):
    data = mp4_bytes(80_000)
    store.files["/v"] = data
    store.fault("/v", "truncate")
    refresh = refresher(store, [("video", "/v")])
    original = store.url("/v")

    def expire_after_first(*_):
        if store.requests and store.requests[0].get("status") == 200 and "t0" in store.valid_tokens:
            store.valid_tokens.discard("t0")

    files = fetch_outputs(tmp_path, [Output("video", original)], refresh=refresh,
                          progress=expire_after_first, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data
    assert store.statuses("/v") == [200, 403, 206]


def test_refresh_matches_outputs_by_type_when_the_order_changes(store, tmp_path):
    video, archive = mp4_bytes(), zip_bytes({"a.exr": exr_bytes()})
    store.files["/video"], store.files["/exr"] = video, archive
    store.expire()
    refresh = refresher(store, [("exr", "/exr"), ("video", "/video")])  # reversed order
    files = fetch_outputs(tmp_path, [Output("video", store.url("/video")), Output("exr", store.url("/exr"))],
                          refresh=refresh, progress=lambda *a: None, cancel=None, **FAST)
    assert [f.path.relative_to(tmp_path).as_posix() for f in files] == ["output-0.mp4", "output-1/a.exr"]
    assert len(refresh.calls) == 1  # one refresh renewed every URL


def test_refresh_that_loses_the_output_is_a_clear_error(store, tmp_path):
    store.files["/v"] = mp4_bytes(1000)
    store.expire()
    refresh = refresher(store, [("image", "/v")])
    with pytest.raises(FetchError, match="no longer among"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refresh,
                      progress=lambda *a: None, cancel=None, **FAST)


def test_refreshes_are_bounded_and_the_error_hides_the_signature(store, tmp_path):
    store.files["/v"] = mp4_bytes(1000)
    store.expire()
    calls = []

    def stale_refresh():  # a service that keeps handing out dead URLs
        calls.append(1)
        return (Output("video", store.url("/v", "dead")),)

    with pytest.raises(FetchError) as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=stale_refresh,
                      progress=lambda *a: None, cancel=None, refreshes=2, **FAST)
    message = str(caught.value)
    assert len(calls) == 2 and store.statuses("/v") == [403, 403, 403]
    assert "403" in message and "2 fresh URL" in message
    assert SECRET not in message and "token=" not in message and "?<redacted>" in message
    assert not (tmp_path / "output-0.mp4").exists()


def test_a_refresh_the_service_cannot_answer_yet_is_retried(store, tmp_path):
    from genplate.core.backends.base import BackendError

    data = mp4_bytes(10_000)
    store.files["/v"] = data
    store.expire()
    good = refresher(store, [("video", "/v")])
    answers = [BackendError("502 from the service", retryable=True)]

    def flaky_refresh():
        if answers:
            raise answers.pop()
        return good()

    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=flaky_refresh,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].sha256 == sha(data) and store.statuses("/v") == [403, 403, 200]


def test_a_refresh_the_service_refuses_ends_the_fetch_with_its_error(store, tmp_path):
    from genplate.core.backends.base import BackendError

    store.files["/v"] = mp4_bytes(1000)
    store.expire()

    def refused():
        raise BackendError("401: the key was revoked")

    with pytest.raises(BackendError, match="revoked"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=refused,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert store.statuses("/v") == [403]


def test_an_expired_url_without_refresh_fails_clearly(store, tmp_path):
    store.files["/v"] = mp4_bytes(1000)
    store.expire()
    with pytest.raises(FetchError, match="fresh URL") as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert SECRET not in str(caught.value)


# -- retrying ---------------------------------------------------------------------------------

def test_503_then_ok_is_retried(store, tmp_path):
    data = mp4_bytes(10_000)
    store.files["/v"] = data
    store.fault("/v", "503", "503")
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].sha256 == sha(data) and store.statuses("/v") == [503, 503, 200]


def test_503_forever_gives_up_after_the_bounded_attempts(store, tmp_path):
    store.files["/v"] = mp4_bytes(1000)
    store.fault("/v", *["503"] * 10)
    with pytest.raises(FetchError, match="HTTP 503") as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, attempts=3, **FAST)
    assert store.statuses("/v") == [503, 503, 503]
    assert SECRET not in str(caught.value)


def test_404_fails_at_once_without_the_signature(store, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/missing"))], refresh=None,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert len(store.requests) == 1
    assert SECRET not in str(caught.value) and "token=" not in str(caught.value)


def test_a_refused_connection_is_retried_then_reported_without_the_signature(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v.mp4?X-Amz-Signature={SECRET}&token=abc"
    with pytest.raises(FetchError, match="cannot connect") as caught:
        fetch_outputs(tmp_path, [Output("video", url)], refresh=None,
                      progress=lambda *a: None, cancel=None, attempts=2, **FAST)
    assert SECRET not in str(caught.value) and "abc" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unsupported_scheme_and_no_outputs_are_refused(tmp_path):
    with pytest.raises(FetchError, match="https only") as caught:
        fetch_outputs(tmp_path, [Output("video", f"ftp://h/v.mp4?sig={SECRET}")], refresh=None,
                      progress=lambda *a: None, cancel=None)
    assert SECRET not in str(caught.value)
    with pytest.raises(FetchError, match="has no URL"):
        fetch_outputs(tmp_path, [Output("video", "")], refresh=None, progress=lambda *a: None,
                      cancel=None)
    with pytest.raises(FetchError, match="no outputs"):
        fetch_outputs(tmp_path, [], refresh=None, progress=lambda *a: None, cancel=None)


def test_a_body_without_a_length_is_accepted_whole_and_still_bounded(store, tmp_path):
    data = mp4_bytes(30_000)
    store.files["/v"] = data
    store.fault("/v", "no-length")
    files = fetch_outputs(tmp_path / "a", [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data
    store.fault("/v", "no-length")
    with pytest.raises(FetchError, match="sent more than .* over the delivery budget"):
        fetch_outputs(tmp_path / "b", [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, budget=budget(20_000), **FAST)
    assert not (tmp_path / "b" / "output-0.mp4").exists()


def test_an_endless_body_without_a_length_stops_at_the_budget_and_is_discarded(store, tmp_path):
    store.files["/v"] = mp4_bytes(64 * 1024)
    store.fault("/v", "endless")
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, budget=budget(2_000_000), **FAST)
    message = str(caught.value)
    assert "sent more than 1.9 MiB: over the delivery budget" in message
    assert "GENPLATE_DELIVERY_BUDGET_SCALE" in message and "test delivery" in message
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []  # nothing of it kept on disk


def test_a_dripping_body_is_cut_off_by_the_minimum_rate_and_kept_for_resume(store, tmp_path):
    data = mp4_bytes(5000)
    store.files["/v"] = data
    store.fault("/v", "drip")
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None,
                      pace=Pace(deadline=60, min_rate=1000, window=0.5), **FAST)
    message = str(caught.value)
    assert "bytes/s over the last 0.5 s, under the minimum of 1000 bytes/s" in message
    assert "GENPLATE_FETCH_MIN_RATE_KIB" in message and "resume" in message
    assert time.monotonic() - started < 3
    assert 0 < (tmp_path / "output-0.part").stat().st_size < 50  # kept: resume continues it
    files = fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and store.statuses("/v")[-1] == 206


def test_the_whole_fetch_has_a_deadline(store, tmp_path):
    store.files["/v"] = mp4_bytes(5000)
    store.fault("/v", "drip")
    started = time.monotonic()
    with pytest.raises(FetchError, match="longer than its deadline of 1 s .GENPLATE_FETCH_DEADLINE"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None,
                      pace=Pace(deadline=1.0, min_rate=0, window=30), **FAST)
    assert time.monotonic() - started < 3


def test_the_budget_counts_every_output_of_the_delivery_together(store, tmp_path):
    store.files["/a"], store.files["/b"] = mp4_bytes(6000), mp4_bytes(6000, seed=2)
    with pytest.raises(FetchError, match="output 1 announces .*over the delivery budget"):
        fetch_outputs(tmp_path, [Output("video", store.url("/a")), Output("video", store.url("/b"))],
                      refresh=None, progress=lambda *a: None, cancel=None,
                      budget=budget(10_000), **FAST)
    assert (tmp_path / "output-0.mp4").is_file()


@pytest.mark.parametrize("url, why", [
    ("file:///etc/passwd", "a file URL: the service named a file on this machine"),
    ("http://93.184.215.14/v.mp4?sig=SIGSECRET", "a plain http URL"),
    ("ftp://example.com/v.mp4?sig=SIGSECRET", "a ftp URL"),
    ("https:///v.mp4", "a https URL"),
])
def test_only_https_outputs_are_fetched(tmp_path, url, why):
    with pytest.raises(FetchError) as caught:
        fetch_outputs(tmp_path, [Output("video", url)], refresh=None, progress=lambda *a: None,
                      cancel=None)
    assert why in str(caught.value) and "nothing was read" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_plain_http_from_this_machine_only_while_the_service_is_local(store, tmp_path, monkeypatch):
    store.files["/v"] = mp4_bytes(1000)
    monkeypatch.setenv("LUMA_BASE_URL", "https://agents.lumalabs.ai/v1")
    with pytest.raises(FetchError, match="a plain http URL"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert store.requests == []


def test_a_file_url_is_read_only_inside_the_backends_own_store(tmp_path):
    store_dir = tmp_path / "offline"
    store_dir.mkdir()
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(mp4_bytes(1000))
    (store_dir / "link.mp4").symlink_to(secret)
    for url in (secret.as_uri(), (store_dir / "link.mp4").as_uri(),
                store_dir.as_uri() + "/../secret.mp4"):
        with pytest.raises(FetchError, match="outside the backend's own store"):
            fetch_outputs(tmp_path / "d", [Output("video", url)], refresh=None,
                          progress=lambda *a: None, cancel=None, local_root=store_dir)
    assert not list((tmp_path / "d").glob("output-0*"))


def test_a_redirect_is_followed_only_where_an_output_url_could_lead(store, tmp_path):
    data = mp4_bytes(1000)
    store.files["/v"] = store.files["/v.moved"] = data
    store.fault("/v", "redirect")
    files = fetch_outputs(tmp_path / "a", [Output("video", store.url("/v"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data
    assert [r["path"] for r in store.requests] == ["/v", "/v.moved"]
    store.fault("/v", "redirect-file")
    with pytest.raises(FetchError, match="redirects to file:///etc/passwd, a file URL"):
        fetch_outputs(tmp_path / "b", [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, **FAST)


def test_a_download_over_the_size_limit_is_refused_before_it_starts(store, tmp_path):
    store.files["/v"] = mp4_bytes(10_000)
    with pytest.raises(FetchError, match="announces 9.8 KiB: over the delivery budget"):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=None, budget=budget(5000), **FAST)
    assert store.requests[0]["status"] == 200 and not list(tmp_path.glob("output-0*"))


# -- idempotence and cancel -------------------------------------------------------------------

def test_a_second_call_sends_no_request_and_returns_the_same_files(store, tmp_path):
    store.files["/v"] = mp4_bytes()
    store.files["/z"] = zip_bytes({"f/1.exr": exr_bytes(), "f/2.exr": exr_bytes(6000)})
    outputs = [Output("video", store.url("/v")), Output("exr", store.url("/z"))]
    first = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    before = len(store.requests)
    store.expire()  # even with dead URLs

    def no_refresh():
        raise AssertionError("a completed delivery must not ask the service again")

    again = fetch_outputs(tmp_path, outputs, refresh=no_refresh, progress=lambda *a: None,
                          cancel=None, **FAST)
    assert again == first
    assert len(store.requests) == before


def test_a_second_call_downloads_again_a_file_damaged_since(store, tmp_path):
    data = mp4_bytes(20_000)
    store.files["/v"] = data
    outputs = [Output("video", store.url("/v"))]
    first = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    first[0].path.write_bytes(data[:5000])  # truncated by something else
    again = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    assert again == first and again[0].path.read_bytes() == data
    assert store.statuses("/v") == [200, 200]


def test_a_crash_between_rename_and_record_is_recovered_without_network(store, tmp_path):
    data = mp4_bytes(20_000)
    store.files["/v"] = data
    outputs = [Output("video", store.url("/v"))]
    first = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    (tmp_path / ".output-0.json").unlink()
    again = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    assert again == first and len(store.requests) == 1


def test_cancel_mid_download_leaves_only_a_part_that_the_next_call_resumes(store, tmp_path):
    data = mp4_bytes(100_000)
    store.files["/v"] = data
    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append(done)
        if len(seen) == 3:
            token.cancel()

    outputs = [Output("video", store.url("/v"))]
    with pytest.raises(Cancelled):
        fetch_outputs(tmp_path, outputs, refresh=None, progress=progress, cancel=token, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".output-0.part.json", "output-0.part"]
    assert 0 < (tmp_path / "output-0.part").stat().st_size < len(data)
    files = fetch_outputs(tmp_path, outputs, refresh=None, progress=lambda *a: None, cancel=None, **FAST)
    assert files[0].path.read_bytes() == data and files[0].sha256 == sha(data)
    assert store.requests[-1]["range"] and store.statuses("/v")[-1] == 206


def test_cancel_interrupts_a_backoff_wait_at_once(store, tmp_path):
    store.files["/v"] = mp4_bytes(1000)
    store.fault("/v", *["503"] * 10)
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        fetch_outputs(tmp_path, [Output("video", store.url("/v"))], refresh=None,
                      progress=lambda *a: None, cancel=token,
                      **{**FAST, "backoff": 30.0, "max_backoff": 30.0})
    assert time.monotonic() - started < 5.0  # not the 30 s backoff


def test_cancel_during_a_local_copy_leaves_only_a_part(tmp_path):
    source = tmp_path / "store" / "video.mp4"
    source.parent.mkdir()
    source.write_bytes(mp4_bytes(50_000))
    token = CancelToken()

    def progress(done, total, message):
        token.cancel()

    dest = tmp_path / "delivery"
    with pytest.raises(Cancelled):
        fetch_outputs(dest, [Output("video", source.as_uri())], refresh=None, progress=progress,
                      cancel=token, chunk_size=4096, local_root=source.parent)
    assert listing(dest) == ["output-0.part"]


def test_cancel_during_extraction_keeps_the_zip_and_extracts_nothing(store, tmp_path):
    store.files["/z"] = zip_bytes({f"f.{i:04d}.exr": exr_bytes() for i in range(4)})
    token = CancelToken()

    def progress(done, total, message):
        if message.startswith("extracting"):
            token.cancel()

    with pytest.raises(Cancelled):
        fetch_outputs(tmp_path, [Output("exr", store.url("/z"))], refresh=None,
                      progress=progress, cancel=token, **FAST)
    assert listing(tmp_path) == [".output-0.json", "output-0.zip"]
    again = fetch_outputs(tmp_path, [Output("exr", store.url("/z"))], refresh=None,
                          progress=lambda *a: None, cancel=None, **FAST)
    assert len(again) == 4 and len(store.requests) == 1  # extracted from the kept zip


def test_a_zip_with_a_traversal_entry_is_refused_but_kept(store, tmp_path):
    store.files["/z"] = zip_bytes({"ok.exr": exr_bytes(), "../../escape.exr": exr_bytes()})
    with pytest.raises(ArchiveError, match="'..'"):
        fetch_outputs(tmp_path / "d", [Output("exr", store.url("/z"))], refresh=None,
                      progress=lambda *a: None, cancel=None, **FAST)
    assert listing(tmp_path / "d") == [".output-0.json", "output-0.zip"]
    assert not list(tmp_path.rglob("escape.exr"))

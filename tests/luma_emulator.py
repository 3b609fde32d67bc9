"""A local emulator of the Luma Agents API (shared/docs/luma-agents-api.md), for tests only.

It listens on 127.0.0.1 (port 0, so tests never collide), answers the documented endpoints
with the documented states, and serves its outputs itself under presigned-looking URLs whose
signature expires. Storage URLs use the host name ``localhost`` while the API is reached as
``127.0.0.1``: to the client they are another host, as S3 is to the real API, so the emulator
can tell (and record) whether the API key was ever sent to storage.

A test tells it what to do:

* ``plan(...)``: how the next generation goes (completes after N polls or seconds, or fails
  with a failure code and reason; which outputs: ``mp4``, ``exr_zip``, ``exr_files``,
  ``evil_zip``, ``png``, ``jpeg``, and the hostile ones below).
* ``inject(route, kind, ...)``: a fault on a route (``create``, ``get``, ``files.create``,
  ``files.get``, ``files.complete``, ``files.list``, ``upload``, ``download``): ``status`` (any
  status, with ``detail``/``body``/``retry_after``), ``drop_before`` (close the connection
  before acting), ``drop_after`` (act, then close without answering), ``slow`` (act, then
  answer after ``delay`` seconds), ``expire`` (a download answers 403 as an expired URL does),
  ``truncate`` (a download sends half its bytes, then closes), and the hostile ones below.
* ``listen_delay`` on ``start``: the port is bound but refuses connections for a while.

Where each behaviour comes from:

* Documented (luma-agents-api.md): the endpoints, states, failure codes and HTTP errors; the
  request rules in ``_validate_create``; presigned output URLs that expire after an hour and
  are minted afresh by a new GET; an MP4 (HDR-tagged or not) and, with ``exr_export``, half
  float DWAB ACES2065-1 EXR frames; 24 fps, 121 frame slots for 5 s. Outputs have the
  request's frame size (``video_size`` / ``exr_size`` override it: a delivery that differs
  from the request, which ingest refuses; ``frames`` shortens clips for speed).
* Not documented, built for either answer: how the EXR comes (one ZIP by default, loose files
  with ``exr_files``); the MP4's layout (ours: moov first, a title and a trailing ``free``
  box, so two versions of one output differ at both ends and are the same size).
* Object-store conventions for the download URLs (S3-style presigned GETs; the store behind
  Luma's URLs is not documented): ``ETag`` and ``Last-Modified`` on every object, ``Range``
  answered 206 with ``Content-Range`` or 416, ``If-Range`` honoured (RFC 7233 §3.2; S3 does,
  aws/aws-sdk-kotlin#1645), 403 with ``AccessDenied`` / "Request has expired" for a dead URL.
* Hostile test fixtures (no real service is known to do these; issue #14's failures): outputs
  ``file_url`` (an output URL naming ``file:///etc/passwd``), ``zip_bomb`` (a ZIP expanding
  ~1000x), ``huge_exr`` (an EXR whose header declares 30000 x 30000), ``exr_zip_hole`` (a
  zero-byte frame in the package); download faults ``endless`` (no Content-Length, a body that
  never ends), ``drip`` (one byte every ``delay`` seconds), ``splice`` (a resume answered 206
  from a changed object, ignoring If-Range), ``damaged`` (a copy whose frame or file is cut
  short inside a valid container, answered whole).

It counts what matters: creates received and creates acted on, per genplate job (taken from
the ``X-Request-Id`` genplate sends, ``<job>:create:<n>``), every signature it issued, and any
request that carried the key where it must not.
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import io
import json
import os
import re
import socket
import struct
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, Optional
from urllib.parse import parse_qs, urlsplit

import hostile

TEST_KEY = "luma-api-test-0123456789abcdefSECRET"
VIDEO_TYPES = ("video", "video_edit", "video_reframe")
IMAGE_TYPES = ("image", "image_edit")
MODELS = ("ray-3.2", "uni-1", "uni-1-max")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
ASPECTS = ("9:16", "3:4", "1:1", "4:3", "16:9", "21:9")
IMAGE_ASPECTS = ("3:1", "2:1", "16:9", "3:2", "1:1", "2:3", "9:16", "1:2", "1:3")
FAILURE_CODES = ("content_moderated", "generation_failed", "output_not_found", "budget_exhausted",
                 "image_too_large", "unsupported_format", "corrupt_input", "invalid_request",
                 "rate_limited")
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
_MEDIA_CACHE: dict = {}
_MEDIA_LOCK = threading.Lock()


@dataclass
class Plan:
    """How one generation behaves."""

    outcome: str = "completed"  # or "failed"
    failure_code: Optional[str] = None
    failure_reason: Optional[str] = None
    polls: int = 2  # GETs until terminal (the first GET after the create sees "processing")
    seconds: Optional[float] = None  # or: terminal this long after the create
    outputs: Optional[list] = None  # None: by the request (mp4, + exr_zip with exr_export)


@dataclass
class Fault:
    route: str
    kind: str
    times: int = 1
    status: int = 500
    detail: Optional[str] = None
    body: Optional[bytes] = None
    retry_after: Optional[str] = None
    delay: float = 0.0
    name: Optional[str] = None  # a download fault only for this output (e.g. "frames.zip")


@dataclass
class GenerationRecord:
    id: str
    body: dict
    plan: Plan
    job: str
    created: float
    polls: int = 0
    state: str = "queued"
    outputs: list = field(default_factory=list)  # [(type, name, bytes)]
    # name -> {"changed": () -> the object's next version, "damaged": () -> a cut-short copy}
    variants: dict = field(default_factory=dict)


def frame_size(resolution: str, aspect: str) -> tuple[int, int]:
    short = int(resolution.rstrip("p"))
    w, h = (int(v) for v in aspect.split(":"))
    long = 2 * round(short * max(w, h) / min(w, h) / 2)
    return (long, short) if w >= h else (short, long)


# -- media the emulator delivers (cached per process: tests make the same few many times) --------

def make_mp4(width: int, height: int, frames: int, version: int = 0) -> bytes:
    """A small H.264 MP4, SDR, tagged BT.709 (primaries, transfer, matrix), 24 fps.

    Its moov comes first (faststart) with a title naming ``version``, and a 4 KiB ``free`` box
    of that version's bytes ends it: two versions are the same size, decode alike and differ
    at both ends, so a download spliced from the two is neither.
    """
    key = ("mp4", width, height, frames, version)
    with _MEDIA_LOCK:
        if key in _MEDIA_CACHE:
            return _MEDIA_CACHE[key]
    import av
    import numpy as np

    tmp = tempfile.NamedTemporaryFile(suffix=".mp4", delete=False)  # faststart rewrites a file
    tmp.close()
    container = av.open(tmp.name, "w", format="mp4", options={"movflags": "faststart"})
    container.metadata["title"] = f"genplate emulator output, version {version % 10}"
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    cc = stream.codec_context
    cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1  # BT.709, tv
    stream.options = {"preset": "ultrafast", "crf": "28"}
    ramp = np.linspace(16, 235, width, dtype=np.float32)[None, :]
    for i in range(frames):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[..., 0] = ramp.astype(np.uint8)
        rgb[..., 1] = np.uint8(40 + (i * 150) // max(1, frames - 1))
        rgb[..., 2] = np.linspace(16, 235, height, dtype=np.float32)[:, None].astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with open(tmp.name, "rb") as f:
        data = f.read() + struct.pack(">I", 8 + 4096) + b"free" + bytes([version % 256]) * 4096
    os.unlink(tmp.name)
    with _MEDIA_LOCK:
        _MEDIA_CACHE[key] = data
    return data


def make_exr_frames(width: int, height: int, frames: int) -> list[tuple[str, bytes]]:
    """ACES2065-1 (AP0) scene-linear half-float EXR frames, DWAB 45, values above 1.0."""
    key = ("exr", width, height, frames)
    with _MEDIA_LOCK:
        if key in _MEDIA_CACHE:
            return _MEDIA_CACHE[key]
    import numpy as np
    import OpenImageIO as oiio

    out: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        x = np.linspace(0.0, 4.0, width, dtype=np.float32)[None, :, None]
        for i in range(frames):
            spec = oiio.ImageSpec(width, height, 3, oiio.HALF)
            spec.attribute("compression", "dwab:45")
            spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP0)
            pixels = np.broadcast_to(x * (0.5 + i / max(1, frames - 1)), (height, width, 3)).copy()
            pixels[..., 1] *= 0.8
            pixels[..., 2] *= 0.6
            path = os.path.join(tmp, f"f{i:04d}.exr")
            writer = oiio.ImageOutput.create(path)
            writer.open(path, spec)
            writer.write_image(pixels)
            writer.close()
            with open(path, "rb") as f:
                out.append((f"ray3_aces.{i:04d}.exr", f.read()))
    with _MEDIA_LOCK:
        _MEDIA_CACHE[key] = out
    return out


def make_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def make_image(width: int, height: int, fmt: str) -> bytes:
    import numpy as np
    import OpenImageIO as oiio

    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.float32)[None, :].astype(np.uint8)
    pixels[..., 2] = 128
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "still." + ("png" if fmt == "png" else "jpg"))
        buf = oiio.ImageBuf(oiio.ImageSpec(width, height, 3, oiio.UINT8))
        buf.set_pixels(oiio.ROI(), pixels)
        buf.write(path)
        with open(path, "rb") as f:
            return f.read()


# -- the emulator ---------------------------------------------------------------------------------

class LumaEmulator:
    def __init__(self, key: str = TEST_KEY, *, video_size: Optional[tuple[int, int]] = None,
                 frames: Optional[int] = None, exr_size: Optional[tuple[int, int]] = None,
                 url_ttl: float = 3600.0, file_ready_polls: int = 1,
                 rate_limit_rpm: Optional[int] = None) -> None:
        self.key = key
        self.video_size = video_size  # None: the request's frame size
        self.frames = frames  # None: the request's frame count (121 for 5 s)
        self.exr_size = exr_size  # None: the request's frame size
        self.url_ttl = url_ttl
        self.file_ready_polls = file_ready_polls
        self.rate_limit_rpm = rate_limit_rpm
        self._secret = os.urandom(16)
        self._lock = threading.Lock()
        self._plans: collections.deque[Plan] = collections.deque()
        self.default_plan = Plan()
        self._faults: list[Fault] = []
        self.generations: dict[str, GenerationRecord] = {}
        self.files: dict[str, dict] = {}
        self.creates_received: collections.Counter = collections.Counter()
        self.creates_made: collections.Counter = collections.Counter()
        self.create_bodies: list[dict] = []
        self.request_ids: list[str] = []  # of creates
        self.seen_request_ids: list[str] = []  # of every request
        self.signatures: set[str] = set()
        self.key_leaks: list[str] = []  # storage requests that carried the API key
        self.log: list[tuple[str, str, int]] = []  # (method, route, status)
        self.max_active = 0
        self._stale_answers = 0  # completed answers whose URLs are already expired
        self.reject_files: Optional[str] = None  # ingest fails uploads with this reason
        self._server: Optional[ThreadingHTTPServer] = None
        self.scheme = "http"
        self._thread: Optional[threading.Thread] = None

    # -- control ------------------------------------------------------------------------------

    def start(self, *, listen_delay: float = 0.0, tls: Optional[tuple[str, str]] = None) -> "LumaEmulator":
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        server = _Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.block_on_close = False
        server.allow_reuse_address = True
        server.server_bind()
        if tls is not None:
            # HTTPS with the given (cert, key): a certificate the client does not trust.
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            self.scheme = "https"
        self._server = server
        if listen_delay > 0:
            # Bound but not listening: connections are refused until listen() runs.
            def later():
                time.sleep(listen_delay)
                server.server_activate()
                server.serve_forever(poll_interval=0.05)

            self._thread = threading.Thread(target=later, daemon=True)
        else:
            server.server_activate()
            self._thread = threading.Thread(target=server.serve_forever,
                                            kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LumaEmulator":
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    @property
    def storage_url(self) -> str:
        return f"http://localhost:{self.port}/storage"

    def env(self) -> dict:
        return {"LUMA_BASE_URL": self.base_url, "LUMA_AGENTS_API_KEY": self.key}

    def plan(self, **kw) -> Plan:
        plan = Plan(**kw)
        with self._lock:
            self._plans.append(plan)
        return plan

    def inject(self, route: str, kind: str, **kw) -> Fault:
        fault = Fault(route=route, kind=kind, **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self, route: str, name: Optional[str] = None) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.route == route and fault.times > 0 and fault.name in (None, name):
                    fault.times -= 1
                    return fault
        return None

    def expire_next_urls(self, answers: int) -> None:
        """The next ``answers`` completed GETs hand out URLs whose signature has expired (as
        when a download starts more than an hour after the poll that saw the outputs)."""
        with self._lock:
            self._stale_answers = answers

    def forget_file(self, file_id: str) -> None:
        """As if the service had deleted the file on its own (expiry, clean-up)."""
        with self._lock:
            self.files.pop(file_id, None)

    def total_creates(self) -> int:
        return sum(self.creates_made.values())

    def active(self) -> int:
        return sum(1 for g in self.generations.values() if g.state in ("queued", "processing"))

    # -- signing ------------------------------------------------------------------------------

    def sign(self, path: str, ttl: Optional[float] = None) -> str:
        expires = int(time.time() + (self.url_ttl if ttl is None else ttl))
        sig = hmac.new(self._secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        with self._lock:
            self.signatures.add(sig)
        return (f"{self.storage_url}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Expires={expires}&X-Amz-Signature={sig}")

    def check_signature(self, path: str, query: dict) -> Optional[str]:
        """None when valid, else what is wrong (as S3 would say it)."""
        try:
            expires = int(query.get("X-Amz-Expires", [""])[0])
            sig = query.get("X-Amz-Signature", [""])[0]
        except ValueError:
            return "AuthorizationQueryParametersError"
        want = hmac.new(self._secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return "SignatureDoesNotMatch"
        if time.time() > expires:
            return "Request has expired"
        return None

    # -- generations --------------------------------------------------------------------------

    def _generation_json(self, gen: GenerationRecord) -> dict:
        body = {"id": gen.id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(gen.created)),
                "model": gen.body.get("model"), "type": gen.body.get("type", "video"),
                "state": gen.state, "failure_code": None, "failure_reason": None, "output": []}
        if gen.state == "failed":
            body["failure_code"] = gen.plan.failure_code
            body["failure_reason"] = gen.plan.failure_reason
        if gen.state == "completed":
            ttl = None
            if self._stale_answers > 0:
                self._stale_answers -= 1
                ttl = -10.0
            # A name with a scheme is the URL itself (the hostile ``file_url`` output).
            body["output"] = [{"type": t, "url": name if "://" in name else
                               self.sign(f"/outputs/{gen.id}/{name}", ttl)}
                              for t, name, _ in gen.outputs]
        return body

    def _advance(self, gen: GenerationRecord) -> None:
        if gen.state in ("completed", "failed"):
            return
        gen.polls += 1
        done = (time.time() - gen.created >= gen.plan.seconds) if gen.plan.seconds is not None \
            else gen.polls >= gen.plan.polls
        if not done:
            gen.state = "processing"
            return
        if gen.plan.outcome == "failed":
            gen.state = "failed"
            return
        gen.outputs = self._outputs_for(gen)
        gen.state = "completed"

    def _outputs_for(self, gen: GenerationRecord) -> list:
        body = gen.body
        if body.get("type") in IMAGE_TYPES:
            fmt = body.get("output_format") or "png"
            kinds = gen.plan.outputs or [fmt if fmt in ("png", "jpeg") else "png"]
        else:
            video = body.get("video") or {}
            kinds = gen.plan.outputs or (["mp4", "exr_zip"] if video.get("exr_export") else ["mp4"])
        video = body.get("video") or {}
        size = frame_size(video.get("resolution", "360p"), body.get("aspect_ratio", "16:9"))
        vw, vh = self.video_size or size
        frames = self.frames or (241 if video.get("duration") == "10s" else 121)
        ew, eh = self.exr_size or size
        out = []
        for kind in kinds:
            if kind == "mp4":
                out.append(("video", "video.mp4", make_mp4(vw, vh, frames)))
                gen.variants["video.mp4"] = {"changed": lambda: make_mp4(vw, vh, frames, 1)}
            elif kind == "exr_zip":
                out.append(("exr", "frames.zip", make_zip(make_exr_frames(ew, eh, frames))))
                gen.variants["frames.zip"] = {"damaged": lambda: make_zip(
                    hostile.with_truncated_frame(make_exr_frames(ew, eh, frames), 1))}
            elif kind == "exr_files":
                out += [("exr", name, data) for name, data in make_exr_frames(ew, eh, frames)]
            elif kind == "evil_zip":
                frames_ = make_exr_frames(ew, eh, frames)
                out.append(("exr", "frames.zip",
                            make_zip(frames_[:3] + [("../../escaped.exr", frames_[0][1])])))
            elif kind == "file_url":  # hostile: the service names a file on this machine
                out.append(("video", "file:///etc/passwd", b""))
            elif kind == "zip_bomb":  # hostile: ~1000x expansion, honest sizes
                out.append(("exr", "frames.zip", hostile.zip_bomb()))
            elif kind == "huge_exr":  # hostile: a header declaring 30000 x 30000
                out.append(("exr", "frame.exr", hostile.huge_exr()))
            elif kind == "exr_zip_hole":  # hostile: a zero-byte frame in the package
                frames_ = hostile.with_empty_frame(make_exr_frames(ew, eh, frames), frames // 2)
                out.append(("exr", "frames.zip", make_zip(frames_)))
            elif kind in ("png", "jpeg"):
                out.append(("image", f"image.{'png' if kind == 'png' else 'jpg'}",
                            make_image(96, 54, kind)))
            else:
                raise ValueError(f"unknown output kind {kind!r}")
        return out


def _validate_create(body) -> Optional[tuple[int, str]]:
    if not isinstance(body, dict):
        return 400, "body must be a JSON object"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 6000:
        return 400, "prompt: must be 1-6000 characters"
    model = body.get("model", "ray-3.2")
    if model not in MODELS:
        return 400, f"model: unknown model {model!r}"
    kind = body.get("type", "video" if model == "ray-3.2" else "image")
    if model == "ray-3.2":
        if kind not in VIDEO_TYPES:
            return 422, f"type: {kind!r} is not a video type for ray-3.2"
        video = body.get("video")
        if not isinstance(video, dict):
            return 400, "video: options required for ray-3.2"
        if video.get("resolution", "720p") not in RESOLUTIONS:
            return 400, f"video.resolution: {video.get('resolution')!r} not one of {RESOLUTIONS}"
        if video.get("duration", "5s") not in ("5s", "10s"):
            return 400, "video.duration: must be 5s or 10s"
        if video.get("exr_export") and not video.get("hdr"):
            return 422, "video.exr_export requires video.hdr"
        if video.get("hdr") and video.get("resolution") not in ("720p", "1080p"):
            return 422, "video.hdr requires 720p or 1080p"
        if kind != "video_edit" and body.get("aspect_ratio", "16:9") not in ASPECTS:
            return 400, f"aspect_ratio: {body.get('aspect_ratio')!r} not allowed"
        if kind in ("video_edit", "video_reframe") and not isinstance(body.get("source"), dict):
            return 400, "source: required for video_edit and video_reframe"
        kf, idx = video.get("keyframes"), video.get("keyframe_indexes")
        if (kf is None) != (idx is None) or (kf is not None and len(kf) != len(idx)):
            return 422, "video.keyframes and video.keyframe_indexes must have equal lengths"
        for ref in _refs(body):
            if sum(1 for k in ("url", "data", "generation_id", "file_id") if ref.get(k)) != 1:
                return 422, "an image ref needs exactly one of url, data, generation_id, file_id"
            if ref.get("data") and not ref.get("media_type"):
                return 422, "media_type is required with data"
    else:
        if kind not in IMAGE_TYPES:
            return 422, f"type: {kind!r} is not an image type for {model}"
        if body.get("aspect_ratio", "16:9") not in IMAGE_ASPECTS:
            return 400, f"aspect_ratio: {body.get('aspect_ratio')!r} not allowed for images"
    return None


def _refs(body: dict) -> list[dict]:
    video = body.get("video") or {}
    refs = [body.get("source"), video.get("start_frame"), video.get("end_frame")]
    refs += list(video.get("keyframes") or [])
    refs += list((video.get("edit") or {}).get("keyframes") or [])
    return [r for r in refs if isinstance(r, dict)]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # a client that gave up on a slow answer, as the tests intend
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    emulator: LumaEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output clean
        pass

    # -- plumbing -----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload=None, *, raw: Optional[bytes] = None,
              headers: Optional[dict] = None, content_type: str = "application/json") -> None:
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.emulator.log.append((self.command, self._route, status))  # before the client hears
        self.send_response(status)
        rid = self.headers.get("X-Request-Id")
        if rid:
            self.send_header("X-Request-Id", rid)
        self.send_header("X-API-Version", "2026-10-01")
        if data or status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        self.emulator.log.append((self.command, self._route, 0))

    def _fault_answer(self, fault: Fault) -> None:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        if fault.body is not None:
            self._send(fault.status, raw=fault.body, headers=headers, content_type="text/html")
        else:
            self._send(fault.status, {"detail": fault.detail} if fault.detail else None,
                       headers=headers)

    def _route_of(self, method: str, path: str) -> tuple[str, list[str]]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["storage"]:
            if method == "PUT" and parts[1:2] == ["uploads"]:
                return "upload", parts[2:]
            if method in ("GET", "HEAD") and parts[1:2] == ["outputs"]:
                return "download", parts[2:]
            return "unknown", parts
        if parts[:1] != ["v1"]:
            return "unknown", parts
        parts = parts[1:]
        if parts == ["generations"] and method == "POST":
            return "create", []
        if len(parts) == 2 and parts[0] == "generations" and method == "GET":
            return "get", parts[1:]
        if parts == ["files"]:
            return ("files.create" if method == "POST" else "files.list"), []
        if len(parts) == 2 and parts[0] == "files":
            return {"GET": "files.get", "DELETE": "files.delete"}.get(method, "unknown"), parts[1:]
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "complete" and method == "POST":
            return "files.complete", parts[1:2]
        return "unknown", parts

    def _handle(self) -> None:
        emu = self.emulator
        split = urlsplit(self.path)
        route, args = self._route_of(self.command, split.path)
        self._route = route
        emu.seen_request_ids.append(self.headers.get("X-Request-Id") or "")
        body = self._body() if self.command in ("POST", "PUT") else b""
        auth = self.headers.get("Authorization") or ""
        if route in ("upload", "download"):
            if emu.key in auth or "Bearer" in auth:
                emu.key_leaks.append(f"{self.command} {route}")
        elif route != "unknown" and auth != f"Bearer {emu.key}":
            return self._send(401, {"detail": "Invalid API key"})
        if route == "unknown":
            return self._send(404, {"detail": "Not Found"})
        fault = emu._take_fault(route, args[1] if route == "download" and len(args) == 2 else None)
        if fault is not None and fault.kind == "drop_before":
            if route == "create":
                emu.creates_received[self._job()] += 1
            return self._drop()
        if fault is not None and fault.kind == "status":
            if route == "create":
                emu.creates_received[self._job()] += 1
            return self._fault_answer(fault)
        handler = getattr(self, "_" + route.replace(".", "_"))
        handler(args, split, body, fault)

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _job(self) -> str:
        return (self.headers.get("X-Request-Id") or "?").split(":", 1)[0]

    def _after_acting(self, fault: Optional[Fault]) -> bool:
        """Apply a fault that strikes after the server acted; True when it took the answer."""
        if fault is None:
            return False
        if fault.kind == "drop_after":
            self._drop()
            return True
        if fault.kind == "slow":
            time.sleep(fault.delay)
        return False

    # -- generations --------------------------------------------------------------------------

    def _create(self, args, split, raw: bytes, fault: Optional[Fault]) -> None:
        emu = self.emulator
        job = self._job()
        emu.request_ids.append(self.headers.get("X-Request-Id") or "")
        emu.creates_received[job] += 1
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self._send(400, {"detail": "body is not JSON"})
        problem = _validate_create(body)
        if problem is not None:
            return self._send(problem[0], {"detail": problem[1]})
        with emu._lock:
            if emu.rate_limit_rpm is not None:
                recent = [g for g in emu.generations.values() if time.time() - g.created < 60]
                if len(recent) >= emu.rate_limit_rpm:
                    return self._send(429, {"detail": "Too many requests"}, headers={"Retry-After": "1"})
            plan = emu._plans.popleft() if emu._plans else emu.default_plan
            gen = GenerationRecord(id=str(uuid.uuid4()), body=body, plan=plan, job=job,
                                   created=time.time())
            emu.generations[gen.id] = gen
            emu.creates_made[job] += 1
            emu.create_bodies.append(body)
            emu.max_active = max(emu.max_active, emu.active())
        if self._after_acting(fault):
            return
        self._send(201, emu._generation_json(gen),
                   headers={"X-RateLimit-Limit": str(emu.rate_limit_rpm or 60)})

    def _get(self, args, split, raw, fault) -> None:
        emu = self.emulator
        with emu._lock:
            gen = emu.generations.get(args[0])
            if gen is not None:
                emu._advance(gen)
        if gen is None:
            return self._send(404, {"detail": f"Generation {args[0]} not found"})
        if self._after_acting(fault):
            return
        self._send(200, emu._generation_json(gen))

    # -- files --------------------------------------------------------------------------------

    def _file_json(self, f: dict) -> dict:
        return {k: f[k] for k in ("id", "created_at", "mime_type", "purpose", "size_bytes", "state",
                                  "filename", "failure_reason")}

    def _files_create(self, args, split, raw: bytes, fault) -> None:
        emu = self.emulator
        ctype = self.headers.get("Content-Type") or ""
        file_id = str(uuid.uuid4())
        record = {"id": file_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "purpose": "input", "state": "pending", "failure_reason": None,
                  "polls": 0, "data": None, "filename": None}
        if ctype.startswith("multipart/form-data"):
            message = BytesParser(policy=email_policy).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
            fields, data = {}, None
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name == "file":
                    data = part.get_payload(decode=True)
                    record["filename"] = part.get_filename()
                    record["mime_type"] = part.get_content_type()
                else:
                    fields[name] = part.get_content().strip()
            if data is None:
                return self._send(400, {"detail": "file: the multipart body has no file part"})
            record.update(mime_type=fields.get("mime_type") or record.get("mime_type"),
                          size_bytes=len(data), data=data, purpose=fields.get("purpose", "input"),
                          uploaded=True)
            upload = None
        else:
            try:
                meta = json.loads(raw or b"null")
                size = int(meta["size_bytes"])
                mime = str(meta["mime_type"])
            except (ValueError, KeyError, TypeError):
                return self._send(400, {"detail": "mime_type and size_bytes are required"})
            record.update(mime_type=mime, size_bytes=size, filename=meta.get("filename"),
                          purpose=meta.get("purpose", "input"), uploaded=False)
            upload = {"url": emu.sign(f"/uploads/{file_id}", ttl=900), "method": "PUT",
                      "headers": {"Content-Type": mime},
                      "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 900))}
        with emu._lock:
            emu.files[file_id] = record
        if self._after_acting(fault):
            return
        self._send(201, {"id": file_id, "state": record["state"], "file": self._file_json(record),
                         "upload": upload})

    def _upload(self, args, split, raw: bytes, fault) -> None:
        emu = self.emulator
        problem = emu.check_signature(split.path[len("/storage"):], parse_qs(split.query))
        if problem:
            return self._send(403, raw=f"<Error><Code>AccessDenied</Code><Message>{problem}"
                                       f"</Message></Error>".encode(), content_type="application/xml")
        record = emu.files.get(args[0])
        if record is None:
            return self._send(404, raw=b"<Error><Code>NoSuchKey</Code></Error>")
        if len(raw) != record["size_bytes"]:
            return self._send(400, raw=b"<Error><Code>IncompleteBody</Code></Error>")
        record["data"] = raw
        record["uploaded"] = True
        if self._after_acting(fault):
            return
        self._send(200, raw=b"", headers={"ETag": '"' + hashlib.md5(raw).hexdigest() + '"'})

    def _files_complete(self, args, split, raw, fault) -> None:
        emu = self.emulator
        record = emu.files.get(args[0])
        if record is None:
            return self._send(404, {"detail": "File not found"})
        if not record.get("uploaded"):
            return self._send(409, {"detail": "no bytes were uploaded for this file"})
        if self._after_acting(fault):
            return
        self._send(200, self._file_json(record))

    def _files_get(self, args, split, raw, fault) -> None:
        emu = self.emulator
        with emu._lock:
            record = emu.files.get(args[0])
            if record is not None and record["state"] == "pending" and record.get("uploaded"):
                record["polls"] += 1
                if emu.reject_files:
                    record["state"], record["failure_reason"] = "failed", emu.reject_files
                elif record["polls"] >= emu.file_ready_polls:
                    record["state"] = "ready"
        if record is None:
            return self._send(404, {"detail": "File not found"})
        if self._after_acting(fault):
            return
        self._send(200, self._file_json(record))

    def _files_list(self, args, split, raw, fault) -> None:
        emu = self.emulator
        query = parse_qs(split.query)
        try:
            limit = int(query.get("limit", ["25"])[0])
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return self._send(422, {"detail": "limit: must be between 1 and 100"})
        files = [self._file_json(f) for f in list(emu.files.values())[::-1]]
        self._send(200, {"data": files[:limit], "has_more": len(files) > limit, "next_cursor": None})

    def _files_delete(self, args, split, raw, fault) -> None:
        record = self.emulator.files.get(args[0])
        if record is None:
            return self._send(404, {"detail": "File not found"})
        record["state"] = "deleted"
        self._send(204)

    # -- outputs ------------------------------------------------------------------------------

    def _download(self, args, split, raw, fault) -> None:
        emu = self.emulator
        if fault is not None and fault.kind == "expire":
            return self._send(403, raw=b"<Error><Code>AccessDenied</Code><Message>Request has "
                                       b"expired</Message></Error>", content_type="application/xml")
        problem = emu.check_signature(split.path[len("/storage"):], parse_qs(split.query))
        if problem:
            return self._send(403, raw=f"<Error><Code>AccessDenied</Code><Message>{problem}"
                                       f"</Message></Error>".encode(), content_type="application/xml")
        gen = emu.generations.get(args[0]) if args else None
        blob = None
        if gen is not None and len(args) == 2:
            blob = next((data for _, name, data in gen.outputs if name == args[1]), None)
        if blob is None:
            return self._send(404, raw=b"<Error><Code>NoSuchKey</Code></Error>")
        requested = self.headers.get("Range")
        honour_if_range = True
        if fault is not None and fault.kind == "damaged":  # hostile: a cut-short copy, whole
            blob = gen.variants[args[1]]["damaged"]()
        if fault is not None and fault.kind == "splice" and requested:
            # hostile: the object changed since the first bytes, and the store ignores If-Range
            blob = gen.variants[args[1]]["changed"]()
            with emu._lock:
                gen.outputs = [(t, n, blob if n == args[1] else d) for t, n, d in gen.outputs]
            honour_if_range = False
        etag = '"' + hashlib.md5(blob).hexdigest() + '"'
        modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(gen.created))
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes", "ETag": etag,
                                          "Last-Modified": modified}
        condition = self.headers.get("If-Range")
        if requested and condition and honour_if_range and condition not in (etag, modified):
            requested = None  # RFC 7233 §3.2: not the file the client has part of: all of it
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", requested or "")
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(blob) - 1
            if start >= len(blob):
                return self._send(416, raw=b"", headers={"Content-Range": f"bytes */{len(blob)}"})
            blob_part = blob[start:end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(blob_part) - 1}/{len(blob)}"
        else:
            blob_part = blob
        if fault is not None and fault.kind in ("truncate", "endless", "drip"):
            return self._misbehave(fault, status, headers, blob_part)
        if self._after_acting(fault):
            return
        self._send(status, raw=blob_part, headers=headers, content_type="application/octet-stream")

    def _misbehave(self, fault: Fault, status: int, headers: dict, body: bytes) -> None:
        """A download answer that goes wrong after its headers."""
        self.emulator.log.append((self.command, self._route, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if fault.kind == "endless":  # hostile: no length, and a body that never ends
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            if fault.kind == "endless":
                while True:
                    self.wfile.write(body)
            elif fault.kind == "drip":  # hostile: one byte every ``delay`` seconds
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(fault.delay)
            else:  # truncate: half the bytes, then the connection closes
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client hung up, as it should on a hostile answer
            pass
        self.close_connection = True


__all__ = ["LumaEmulator", "Plan", "Fault", "TEST_KEY", "FAILURE_CODES", "make_mp4",
           "make_exr_frames", "make_zip"]


def serving(monkeypatch=None, env: Optional[dict] = None, **options) -> Iterator[LumaEmulator]:
    """A fixture's body (``yield from serving(...)``): an emulator sending short clips at the
    request's frame size, this process pointed at it when ``monkeypatch`` is given (with
    ``env`` on top), stopped when the test ends."""
    emulator = LumaEmulator(**{"frames": 5, **options}).start()
    try:
        if monkeypatch is not None:
            for name, value in {**emulator.env(), **(env or {})}.items():
                monkeypatch.setenv(name, value)
        yield emulator
    finally:
        emulator.stop()

"""The Luma backend against the local emulator: every request type as the API takes it, local
media inline or through the Files API (uploaded once), a create sent at most once whatever the
network does, what reconcile can and cannot prove, and the limits shared through the ledger."""
from __future__ import annotations

import base64
import threading
import time

import pytest

from genplate.core.jobs import ledger as L
from genplate.core.backends.base import BackendError
from genplate.core.backends.luma.backend import LumaBackend, generation_from
from genplate.core.backends.luma.client import LumaClient, LumaError
from genplate.core.backends.luma.settings import LumaSettings
from genplate.core.request import EditOptions, Keyframe, MediaRef, ReframeRect, ShotRequest

from luma_emulator import TEST_KEY, LumaEmulator, make_image, make_mp4

FAST = dict(backoff=0.01, backoff_max=0.05, retry_after_max=3.0, read_timeout=1.0,
            connect_timeout=1.0, retries=3, create_retries=3, poll_interval=0.01,
            max_poll_interval=0.05)


@pytest.fixture
def emu():
    emulator = LumaEmulator(video_size=(64, 36), frames=5).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def ledger(tmp_path):
    return L.Ledger(tmp_path / "data" / "ledger.sqlite3")


def backend_for(emu, ledger, **kw):
    return LumaBackend(ledger, client=LumaClient(emu.key, LumaSettings(base_url=emu.base_url,
                                                                       **{**FAST, **kw})))


def job_in(ledger, request=None):
    request = request or ShotRequest.draft("a lighthouse in a storm")
    job = ledger.add_job(backend="luma", request=request.to_json(), publish={})
    return ledger.claim_create(job.id)


def png(tmp_path, name="frame.png", size=(96, 54)):
    path = tmp_path / name
    path.write_bytes(make_image(*size, "png"))
    return path


# -- every request type -----------------------------------------------------------------------

def test_text_to_video_is_created_and_followed_to_completed(emu, ledger):
    backend = backend_for(emu, ledger)
    job = job_in(ledger)
    remote = backend.create(ShotRequest.draft("a lighthouse in a storm"), job_id=job.id)
    body = emu.create_bodies[0]
    assert body["model"] == "ray-3.2" and body["type"] == "video"
    assert body["video"] == {"resolution": "360p", "duration": "5s"}
    states = [backend.get(remote).state for _ in range(2)]
    assert states == ["processing", "completed"]
    done = backend.get(remote)
    assert [o.type for o in done.outputs] == ["video"]
    assert "X-Amz-Signature=" in done.outputs[0].url
    assert emu.request_ids == [f"{job.id}:create:1"]


def test_every_request_type_reaches_the_api_as_it_documents(emu, ledger, tmp_path):
    frame = png(tmp_path)
    plate = tmp_path / "plate.mp4"
    plate.write_bytes(make_mp4(64, 36, 24))
    requests = [
        ShotRequest(prompt="start and end", resolution="720p",
                    start_frame=MediaRef(path=str(frame)), end_frame=MediaRef(path=str(frame))),
        ShotRequest(prompt="keyframes", resolution="720p", hdr=True,
                    keyframes=(Keyframe(0, MediaRef(path=str(frame))), Keyframe(48, MediaRef(path=str(frame))))),
        ShotRequest.draft("extend", extend_from="gen-previous"),
        ShotRequest.draft("loop", loop=True),
        ShotRequest(prompt="edit the plate", type="video_edit", resolution="720p",
                    source=MediaRef(path=str(plate)),
                    edit=EditOptions(strength="flex_2", controls=("depth", "pose"))),
        ShotRequest(prompt="reframe", type="video_reframe", resolution="720p", aspect_ratio="9:16",
                    source=MediaRef(path=str(plate)), source_position=ReframeRect(0.1, 0.0, 0.8, 1.0)),
        ShotRequest.master("master with exr", resolution="1080p"),
    ]
    backend = backend_for(emu, ledger, max_in_flight=100)
    for request in requests:
        backend.create(request, job_id=job_in(ledger, request).id)
    bodies = emu.create_bodies
    assert len(bodies) == len(requests) and sum(emu.creates_made.values()) == len(requests)
    start = bodies[0]["video"]["start_frame"]
    assert start["media_type"] == "image/png" and base64.b64decode(start["data"]) == frame.read_bytes()
    assert bodies[1]["video"]["keyframe_indexes"] == [0, 48] and bodies[1]["video"]["hdr"] is True
    assert bodies[2]["video"]["start_frame"] == {"generation_id": "gen-previous"}
    assert bodies[3]["video"]["loop"] is True
    assert bodies[4]["type"] == "video_edit" and bodies[4]["video"]["edit"]["strength"] == "flex_2"
    assert bodies[4]["source"]["media_type"] == "video/mp4"
    assert bodies[5]["video"]["source_position"]["w_norm"] == 0.8
    assert bodies[6]["video"] == {"resolution": "1080p", "duration": "5s", "hdr": True, "exr_export": True}


def test_a_refused_request_never_reaches_the_service(emu, ledger):
    backend = backend_for(emu, ledger)
    from genplate.core.request import RequestError

    with pytest.raises(RequestError):
        backend.create(ShotRequest(prompt="x", resolution="360p", hdr=True), job_id=job_in(ledger).id)
    assert emu.creates_received == {}


# -- local media ------------------------------------------------------------------------------

def test_large_inputs_go_through_the_files_api_once_per_content(emu, ledger, tmp_path):
    frame = png(tmp_path, size=(400, 300))
    copy = tmp_path / "same-content-other-name.png"
    copy.write_bytes(frame.read_bytes())
    backend = backend_for(emu, ledger, inline_max_mb=0.0001, multipart_max_mb=0.0001)  # presigned
    first = ShotRequest(prompt="a", resolution="720p", start_frame=MediaRef(path=str(frame)))
    second = ShotRequest(prompt="b", resolution="720p", start_frame=MediaRef(path=str(copy)))
    backend.create(first, job_id=job_in(ledger, first).id)
    backend.create(second, job_id=job_in(ledger, second).id)
    file_ids = [b["video"]["start_frame"]["file_id"] for b in emu.create_bodies]
    assert file_ids[0] == file_ids[1] and len(emu.files) == 1
    stored = emu.files[file_ids[0]]
    assert stored["data"] == frame.read_bytes() and stored["mime_type"] == "image/png"
    assert [r for m, r, s in emu.log].count("upload") == 1
    assert emu.key_leaks == []  # the presigned PUT went without the key


def test_small_files_over_the_inline_limit_use_multipart(emu, ledger, tmp_path):
    frame = png(tmp_path)
    backend = backend_for(emu, ledger, inline_max_mb=0.0001)
    request = ShotRequest(prompt="a", resolution="720p", end_frame=MediaRef(path=str(frame)))
    backend.create(request, job_id=job_in(ledger, request).id)
    file_id = emu.create_bodies[0]["video"]["end_frame"]["file_id"]
    assert emu.files[file_id]["data"] == frame.read_bytes()
    assert "upload" not in [r for m, r, s in emu.log]


def test_inline_images_are_bounded_per_request(emu, ledger, tmp_path):
    frames = [png(tmp_path, f"k{i}.png") for i in range(3)]
    size = frames[0].stat().st_size
    backend = backend_for(emu, ledger, inline_total_max_mb=(size * 2 + 10) / 2 ** 20)
    request = ShotRequest(prompt="k", resolution="720p",
                          keyframes=tuple(Keyframe(i * 40, MediaRef(path=str(p))) for i, p in enumerate(frames)))
    backend.create(request, job_id=job_in(ledger, request).id)
    refs = emu.create_bodies[0]["video"]["keyframes"]
    assert ["data" in r for r in refs] == [True, True, False] and "file_id" in refs[2]


def test_a_remembered_upload_the_service_lost_is_uploaded_again(emu, ledger, tmp_path):
    frame = png(tmp_path)
    backend = backend_for(emu, ledger, inline_max_mb=0.0001)
    request = ShotRequest(prompt="a", resolution="720p", start_frame=MediaRef(path=str(frame)))
    backend.create(request, job_id=job_in(ledger, request).id)
    first = emu.create_bodies[0]["video"]["start_frame"]["file_id"]
    emu.forget_file(first)  # the service deleted it (expiry, clean-up)
    backend.create(request, job_id=job_in(ledger, request).id)
    second = emu.create_bodies[1]["video"]["start_frame"]["file_id"]
    assert second != first and emu.files[second]["state"] == "ready"
    from genplate.core.digest import file_sha256

    assert ledger.upload_for(file_sha256(frame), "luma") == second


def test_a_missing_input_fails_before_anything_is_sent(emu, ledger, tmp_path):
    backend = backend_for(emu, ledger)
    request = ShotRequest(prompt="a", resolution="720p", start_frame=MediaRef(path=str(tmp_path / "gone.png")))
    from genplate.core.request import RequestError

    with pytest.raises((BackendError, RequestError), match="existing file|not found") as err:
        backend.create(request, job_id=job_in(ledger, request).id)
    assert not getattr(err.value, "outcome_unknown", False) and emu.creates_received == {}


# -- the create: at most once -----------------------------------------------------------------

def _create(emu, ledger, **kw):
    backend = backend_for(emu, ledger, **kw)
    job = job_in(ledger)
    try:
        return job, backend.create(ShotRequest.draft("a lighthouse"), job_id=job.id), None
    except BackendError as exc:
        return job, None, exc


@pytest.mark.parametrize("fault", [
    dict(kind="status", status=429, retry_after="0"),
    dict(kind="status", status=503, detail="image ingestion unavailable"),
    dict(kind="status", status=502, detail="upstream unavailable"),
])
def test_refusals_the_service_states_are_retried_and_create_once(emu, ledger, fault):
    emu.inject("create", **fault)
    job, remote, error = _create(emu, ledger)
    assert error is None and remote in emu.generations
    assert emu.creates_made[job.id] == 1 and emu.creates_received[job.id] == 2


def test_a_refused_connection_is_retried_inside_create(ledger):
    emu = LumaEmulator(video_size=(64, 36), frames=5).start(listen_delay=0.4)
    try:
        job, remote, error = _create(emu, ledger, backoff=0.2, backoff_max=0.3, create_retries=8)
        assert error is None and emu.creates_made[job.id] == 1 and emu.creates_received[job.id] == 1
        notes = [e.detail for e in ledger.events(job.id) if "not sent" in (e.detail or "")]
        assert notes and "refused" in notes[0]
    finally:
        emu.stop()


@pytest.mark.parametrize("fault,made", [
    (dict(kind="drop_before"), 0),
    (dict(kind="drop_after"), 1),
    (dict(kind="slow", delay=2.0), 1),
    (dict(kind="status", status=500, detail="internal error"), 0),
    (dict(kind="status", status=504), 0),
    (dict(kind="status", status=502, body=b"<html>Bad Gateway</html>"), 0),
])
def test_a_lost_answer_is_never_resent_and_says_the_outcome_is_unknown(emu, ledger, fault, made):
    emu.inject("create", **fault)
    job, remote, error = _create(emu, ledger, read_timeout=0.5)
    assert remote is None and error.outcome_unknown
    assert emu.creates_received[job.id] == 1 and emu.creates_made[job.id] == made
    assert "will not send it again" in str(error)
    backend = backend_for(emu, ledger)
    with pytest.raises(BackendError, match="no list endpoint"):
        backend.reconcile(job.id)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 413, 422])
def test_a_refusal_on_create_is_final_and_plain(emu, ledger, status):
    emu.inject("create", "status", status=status, detail=f"reason {status}")
    job, remote, error = _create(emu, ledger)
    assert remote is None and not getattr(error, "outcome_unknown", False)
    assert f"reason {status}" in str(error) and f"({status}" in str(error)
    assert emu.creates_made == {} and emu.creates_received[job.id] == 1


def test_reconcile_proves_absence_when_nothing_was_sent(emu, ledger):
    backend = backend_for(emu, ledger)
    job = job_in(ledger)  # intent recorded, then the process died before sending
    assert backend.reconcile(job.id) is None
    ledger.note(job.id, "luma: create sending (X-Request-Id x)")
    with pytest.raises(BackendError):
        backend.reconcile(job.id)
    ledger.note(job.id, "luma: create not sent: connection refused")
    assert backend.reconcile(job.id) is None


def test_creates_wait_for_a_slot_shared_through_the_ledger(emu, ledger):
    """Four jobs claimed at once with two slots: two go, the others wait for a delivery."""
    backend = backend_for(emu, ledger, max_in_flight=2)
    jobs = [job_in(ledger) for _ in range(4)]
    created: dict[str, float] = {}

    def create(job):
        remote = backend.create(ShotRequest.draft("x"), job_id=job.id)
        created[job.id] = time.monotonic()
        ledger.advance(job.id, L.SUBMITTED, remote_id=remote)

    threads = [threading.Thread(target=create, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(created) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    assert len(created) == 2  # the other two wait (and do not deadlock on each other's claims)
    for job_id in list(created):
        ledger.advance(job_id, L.DELIVERED)
    for t in threads:
        t.join(10)
    assert len(created) == 4 and sum(emu.creates_made.values()) == 4


def test_creates_per_minute_are_shared_through_the_ledger(emu, ledger):
    backend = backend_for(emu, ledger, creates_per_minute=1)
    ledger.reserve_create_slot("luma", "another-process", per_minute=1, in_flight=100)
    job = job_in(ledger)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("id", backend.create(ShotRequest.draft("x"), job_id=job.id)))
    t.start()
    t.join(0.5)
    assert t.is_alive() and emu.creates_received == {}  # waits for the minute to pass
    with ledger._tx() as db:
        db.execute("UPDATE creates SET at = at - 61")
    t.join(5)
    assert result["id"] in emu.generations


# -- following --------------------------------------------------------------------------------

def test_failure_code_and_reason_come_through_verbatim(emu, ledger):
    emu.plan(outcome="failed", failure_code="content_moderated", failure_reason="Prompt flagged: «logo»", polls=1)
    backend = backend_for(emu, ledger)
    remote = backend.create(ShotRequest.draft("x"), job_id=job_in(ledger).id)
    gen = backend.get(remote)
    assert (gen.state, gen.failure_code, gen.failure_reason) == ("failed", "content_moderated",
                                                                 "Prompt flagged: «logo»")


def test_each_get_mints_fresh_urls_and_layers_are_kept():
    body = {"id": "g", "state": "completed", "output": [
        {"type": "video", "url": "https://x/a.mp4?sig=1"},
        {"type": "image", "url": "https://x/l.png?sig=2", "layer": {"index": 0, "label": "fg"}}]}
    gen = generation_from(body, "g")
    assert [(o.type, o.layer) for o in gen.outputs] == [("video", None), ("image", "fg")]
    empty = generation_from({"id": "g", "state": "completed", "output": []}, "g")
    assert empty.state == "failed" and empty.failure_code == "output_not_found"
    with pytest.raises(LumaError):
        generation_from({"id": "g", "state": "exploded"}, "g")


def test_an_unknown_generation_is_a_plain_error(emu, ledger):
    with pytest.raises(LumaError, match="404"):
        backend_for(emu, ledger).get("no-such-generation")


def test_no_key_is_a_clear_error(ledger, monkeypatch):
    from genplate.core.backends.luma.credentials import CredentialsError

    with pytest.raises(CredentialsError, match="genplate login"):
        LumaBackend(ledger)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", TEST_KEY)
    assert LumaBackend(ledger).client.base_url == "https://agents.lumalabs.ai/v1"


def test_a_poll_rides_out_an_outage_longer_than_one_calls_retries(emu, ledger):
    backend = backend_for(emu, ledger, retries=1, follow_patience=5.0)
    remote = backend.create(ShotRequest.draft("x"), job_id=job_in(ledger).id)
    emu.inject("get", "status", status=503, times=5, detail="upstream unavailable")
    seen = []
    gen = backend.get(remote, progress=lambda d, t, m: seen.append(m))
    assert gen.state == "processing" and seen and "unreachable" in seen[0]
    impatient = backend_for(emu, ledger, retries=1, follow_patience=0.0)
    emu.inject("get", "status", status=503, times=5)
    with pytest.raises(LumaError, match="503"):
        impatient.get(remote)
    emu.inject("get", "status", status=404, detail="Generation not found")
    with pytest.raises(LumaError, match="404"):
        backend.get(remote)  # a refusal is not an outage: no patience spent on it


@pytest.mark.parametrize("route,fault", [
    ("files.create", dict(kind="status", status=503, detail="busy")),
    ("upload", dict(kind="drop_before")),
    ("upload", dict(kind="status", status=500, body=b"<Error>InternalError</Error>")),
    ("files.complete", dict(kind="status", status=502)),
    ("files.get", dict(kind="slow", delay=1.5)),
])
def test_upload_faults_are_retried_and_the_create_goes_out_once(emu, ledger, tmp_path, route, fault):
    frame = png(tmp_path, size=(200, 100))
    emu.inject(route, **fault)
    backend = backend_for(emu, ledger, inline_max_mb=0.0001, multipart_max_mb=0.0001, read_timeout=0.5)
    request = ShotRequest(prompt="a", resolution="720p", start_frame=MediaRef(path=str(frame)))
    job = job_in(ledger, request)
    backend.create(request, job_id=job.id)
    file_id = emu.create_bodies[0]["video"]["start_frame"]["file_id"]
    assert emu.files[file_id]["data"] == frame.read_bytes() and emu.creates_made == {job.id: 1}


def test_an_upload_the_service_rejects_fails_before_the_create_with_its_reason(emu, ledger, tmp_path):
    emu.reject_files = "image failed moderation"
    backend = backend_for(emu, ledger, inline_max_mb=0.0001)
    request = ShotRequest(prompt="a", resolution="720p", start_frame=MediaRef(path=str(png(tmp_path))))
    job = job_in(ledger, request)
    with pytest.raises(LumaError, match="image failed moderation") as err:
        backend.create(request, job_id=job.id)
    assert not err.value.outcome_unknown and emu.creates_received == {}
    assert backend.reconcile(job.id) is None  # provably never sent


def test_a_generation_can_finish_on_the_clock_instead_of_a_count_of_polls(emu, ledger):
    emu.plan(seconds=0.3)
    backend = backend_for(emu, ledger)
    remote = backend.create(ShotRequest.draft("x"), job_id=job_in(ledger).id)
    assert [backend.get(remote).state for _ in range(3)] == ["processing"] * 3
    time.sleep(0.35)
    assert backend.get(remote).state == "completed"

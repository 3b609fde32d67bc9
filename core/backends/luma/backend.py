"""Ray 3.2 through the Luma Agents API (``shared/docs/luma-agents-api.md`` is the contract).

The one promise this module keeps above all others: never two paid generations for one job.

How a create can go wrong, and what each case proves
----------------------------------------------------
The runner records the intent in the ledger before calling ``create`` and the remote id after.
Inside ``create``, before the POST leaves, this module writes one more event: "luma: create
sending". Then:

* The connection was refused, the name did not resolve, the connect timed out, the server's
  certificate was refused: not one byte of the request was written, so nothing exists. The
  event "luma: create not sent" is recorded and the POST is tried again (bounded).
* The service answered 429, or a 502/503 carrying its own JSON error: it refused the request
  before accepting it (the docs say to retry both), so nothing exists; wait and try again.
* The service answered 400/402/403/413/422: a refusal; the job fails with the reason. A 401
  refuses this machine's key, not the request: the job waits for a fixed key and a resume.
* Anything else - a read timeout, a connection reset or closed after the request went out, a
  500 or 504, a 502/503 from something that is not the API (no JSON ``detail``), a 2xx without
  an id - the request may have been acted on. It is not retried: ``create`` raises with
  ``outcome_unknown`` and the runner parks the job.

Why ``reconcile`` can rarely find a lost generation
---------------------------------------------------
The API has no list-generations endpoint and no idempotency key. The ``X-Request-Id`` genplate
sends is echoed in the response, but that response is exactly what was lost. ``user_id`` is an
abuse-attribution tag that nothing lets us search by. So the only thing ``reconcile`` can prove
is absence, from the ledger's own events: if no "create sending" was recorded after the latest
intent (the process died while uploading or waiting for a rate slot), or the last send was
recorded as "not sent", no generation exists and ``reconcile`` returns None. Otherwise it
raises: it cannot tell, and the job waits for ``genplate resume --resend`` (a person who has
checked the account) or ``genplate cancel``. No endpoint is invented against the real API.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from .client import LumaClient, LumaError, SendFailure, error_for, has_service_body, retry_after
from .files import MediaResolver
from .settings import LumaSettings
from ...progress import CancelToken, ProgressFn
from ...request import ShotRequest, to_api_payload
from ..base import COMPLETED, FAILED, PROCESSING, QUEUED, Backend, BackendError, Generation, Output

if TYPE_CHECKING:
    from ...jobs.ledger import Ledger

SENDING = "luma: create sending"
NOT_SENT = "luma: create not sent"
INTENT = "create: intent recorded"  # written by Ledger.claim_create
REFUSED_STATUSES = (400, 401, 402, 403, 404, 413, 422)
KNOWN_STATES = (QUEUED, PROCESSING, COMPLETED, FAILED)


class LumaBackend(Backend):
    name = "luma"
    poll_interval = 2.0
    max_poll_interval = 15.0

    def __init__(self, ledger: "Ledger", *, client: Optional[LumaClient] = None,
                 settings: Optional[LumaSettings] = None) -> None:
        self.ledger = ledger
        if client is None:
            from .credentials import require_key

            client = LumaClient(require_key(), settings or LumaSettings.from_env())
        self.client = client
        self.settings = client.settings
        self.poll_interval = self.settings.poll_interval
        self.max_poll_interval = self.settings.max_poll_interval
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"luma ({self.client.base_url})"

    @property
    def plain_http_outputs(self) -> bool:
        """Outputs over plain http only while the service is on this machine (the emulator)."""
        from ...delivery.limits import plain_http_allowed

        return plain_http_allowed(self.client.base_url)

    # -- create -------------------------------------------------------------------------------

    def create(self, request: ShotRequest, *, job_id: str) -> str:
        resolver = MediaResolver(self.client, self.ledger, tag=job_id)
        # Uploads happen here, before anything paid is sent; a failure is a plain refusal.
        payload = to_api_payload(request, resolver)
        return self.send_create(payload, job_id=job_id, what="creating the generation")

    def send_create(self, payload: dict, *, job_id: str, what: str,
                    record: bool = True) -> str:
        """POST /generations at most once unless the service provably did not act on it."""
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_slot(job_id)
            request_id = f"{job_id}:create:{attempt}"
            if record:
                self.ledger.note(job_id, f"{SENDING} (X-Request-Id {request_id})")
            try:
                response = self.client.send_once("POST", "generations", what=what,
                                                 request_id=request_id, json=payload)
            except SendFailure as failure:
                if not failure.never_sent:
                    raise _unknown(f"{failure}: the request may have reached Luma")
                if record:
                    self.ledger.note(job_id, f"{NOT_SENT}: {failure}")
                if attempt > s.create_retries:
                    raise LumaError(f"{failure}; nothing was sent and nothing is paid "
                                    f"(gave up after {attempt} tries)", retryable=True,
                                    code="network") from None
                self.client.wait(self.client.backoff(attempt))
                continue
            status = response.status_code
            if status in (200, 201, 202):
                remote_id = _generation_id(response)
                if not remote_id:
                    raise _unknown(f"{what}: Luma answered {status} without a generation id")
                return remote_id
            if status == 429 or (status in (502, 503) and has_service_body(response)):
                # A refusal before acceptance: the service says so in its own words.
                if record:
                    self.ledger.note(job_id, f"{NOT_SENT}: refused with {status}")
                error = error_for(response, what)
                if attempt > s.create_retries:
                    raise LumaError(f"{error} (gave up after {attempt} tries; nothing was created)",
                                    status=status, detail=error.detail, retryable=True,
                                    code=error.code) from None
                asked = retry_after(response) if status == 429 else None
                delay = asked if asked is not None else self.client.backoff(attempt)
                self.client.wait(min(delay, s.retry_after_max))
                continue
            if status in REFUSED_STATUSES:
                # Refused before acceptance: nothing exists, and a resume may send it again
                # (after the cause, the key for a 401, is fixed) without asking anyone.
                if record:
                    self.ledger.note(job_id, f"{NOT_SENT}: refused with {status}")
                raise error_for(response, what)
            # 500, 504, a gateway's page, a redirect: the service may have acted on it.
            raise _unknown(f"{error_for(response, what)} The generation may have been created")

    def _wait_for_slot(self, job_id: str) -> None:
        """Both rate limits, shared with every process using this ledger."""
        per_minute = self.settings.creates_per_minute
        if self.client.reported_rpm:
            per_minute = min(per_minute, self.client.reported_rpm)
        said = False
        while True:
            wait = self.ledger.reserve_create_slot(
                self.name, job_id, per_minute=per_minute, in_flight=self.settings.max_in_flight)
            if wait <= 0:
                return
            if not said and self._is_job(job_id):
                said = True  # `genplate jobs JOB` shows why nothing happens yet
                self.ledger.update(job_id, message="waiting for a create slot (limits: "
                                   f"{self.settings.max_in_flight} in flight, {per_minute}/min)")
            time.sleep(min(wait, 1.0))

    def _is_job(self, job_id: str) -> bool:
        try:
            self.ledger.get(job_id)
        except Exception:
            return False
        return True

    # -- reconcile ----------------------------------------------------------------------------

    def reconcile(self, job_id: str) -> Optional[str]:
        """None when the ledger proves no create reached Luma; raise when nobody can tell."""
        events = [e.detail or "" for e in self.ledger.events(job_id)]
        last_intent = max((i for i, d in enumerate(events) if d.startswith(INTENT)), default=-1)
        sends = [d for d in events[last_intent + 1:] if d.startswith((SENDING, NOT_SENT))]
        if not sends or sends[-1].startswith(NOT_SENT):
            return None
        raise BackendError(
            "Luma has no way to look a generation up by genplate's job (no list endpoint, no "
            "idempotency key), and the answer to the create was lost")

    # -- follow -------------------------------------------------------------------------------

    def get(self, remote_id: str, *, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Generation:
        with self._lock:
            n = self._polls[remote_id] = self._polls.get(remote_id, 0) + 1
        # The generation is paid for: ride out an outage (each try already retries with
        # backoff) rather than let one failed poll end the job.
        deadline = time.monotonic() + self.settings.follow_patience
        while True:
            try:
                body = self.client.json("GET", f"generations/{remote_id}",
                                        what=f"following generation {remote_id}",
                                        tag=f"{remote_id}:{n}", cancel=cancel)
                return generation_from(body, remote_id)
            except LumaError as exc:
                if not exc.retryable or time.monotonic() > deadline:
                    raise
                if progress is not None:
                    progress(0, 0, f"Luma unreachable, still trying ({exc.code or exc.status})")
                self.client.wait(self.client.backoff(self.settings.retries + 1), cancel)


def generation_from(body: Any, remote_id: str) -> Generation:
    """The API's Generation object as genplate's, failure code and reason kept verbatim."""
    if not isinstance(body, dict):
        raise LumaError(f"generation {remote_id}: Luma's answer is not a generation", retryable=True)
    state = str(body.get("state") or "")
    if state not in KNOWN_STATES:
        raise LumaError(f"generation {remote_id}: unknown state {state!r} from Luma", retryable=True)
    outputs = []
    for item in body.get("output") or []:
        if not isinstance(item, dict) or not item.get("url"):
            continue
        layer = item.get("layer")
        if isinstance(layer, dict):
            layer = layer.get("label") or (str(layer["index"]) if "index" in layer else None)
        outputs.append(Output(type=str(item.get("type") or ""), url=str(item["url"]),
                              layer=str(layer) if layer is not None else None))
    if state == COMPLETED and not outputs:
        # Completed with nothing to fetch is the service's output_not_found in all but name.
        return Generation(id=str(body.get("id") or remote_id), state=FAILED,
                          failure_code="output_not_found",
                          failure_reason="Luma reported the generation completed without outputs")
    return Generation(id=str(body.get("id") or remote_id), state=state, outputs=tuple(outputs),
                      failure_code=body.get("failure_code"), failure_reason=body.get("failure_reason"))


def _generation_id(response) -> Optional[str]:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["id"]) if isinstance(body, dict) and body.get("id") else None


def _unknown(message: str) -> LumaError:
    return LumaError(f"{message}. Its answer was lost, so genplate will not send it again on its "
                     f"own", outcome_unknown=True, code="outcome_unknown")


__all__ = ["LumaBackend", "generation_from", "SENDING", "NOT_SENT"]

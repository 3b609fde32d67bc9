"""HTTP to the Luma Agents API: one session, a timeout on every call, and honest retries.

Two kinds of call, two retry rules:

* Idempotent calls (GET a generation or a file, PUT bytes to a presigned URL, complete an
  upload) are retried on 429 (after ``Retry-After``), on 500/502/503/504 and on dropped or
  timed-out connections, with jittered exponential backoff, a bounded number of times.
* A create (``POST /generations``) starts a paid job. ``send_once`` sends it exactly once and,
  when it fails, says whether the request provably never reached the service
  (``SendFailure.never_sent``); the backend decides what may be retried (see
  ``backends/luma.py``). The official SDKs retry POSTs blindly; genplate must not.

Errors carry the status and the service's ``detail``, redacted: never the key (it only ever
travels in the ``Authorization`` header of calls to the API's own host) and never a URL's
query string (presigned signatures).
"""
from __future__ import annotations

import email.utils
import logging
import random
import ssl
import time
import uuid
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import requests

from ... import __version__
from ..base import BackendError
from .settings import LumaSettings
from ...progress import CancelToken
from ...secrets import install_filter, redact

log = install_filter(logging.getLogger("genplate.luma"))
# urllib3 logs each request line, query string included, at DEBUG: a presigned signature there
# would reach any handler someone switches on while debugging.
install_filter(logging.getLogger("urllib3.connectionpool"))

RETRY_STATUSES = (500, 502, 503, 504)


class LumaError(BackendError):
    """A call to Luma failed; ``status`` and ``detail`` are the service's answer when it gave one."""

    def __init__(self, message: str, *, status: Optional[int] = None, detail: str = "",
                 retryable: bool = False, code: Optional[str] = None,
                 outcome_unknown: bool = False, local: Optional[bool] = None) -> None:
        super().__init__(redact(message), retryable=retryable, code=code, local=local)
        self.status = status
        self.detail = redact(detail)
        self.outcome_unknown = outcome_unknown


class SendFailure(Exception):
    """A request that got no answer. ``never_sent``: proof that the service never saw it."""

    def __init__(self, what: str, exc: BaseException, never_sent: bool) -> None:
        super().__init__(f"{what}: {describe_network_error(exc)}")
        self.exc = exc
        self.never_sent = never_sent


# -- what a network failure proves ------------------------------------------------------------

def never_sent(exc: BaseException) -> bool:
    """True only when the request provably never reached the server.

    Connection refused, a name that does not resolve, a connect timeout and a certificate the
    client refused all fail before a single byte of the request is written. Everything else
    (a read timeout, a reset or a close after the request went out, an SSL error mid-stream)
    may have reached the service, which may have acted on it.
    """
    from urllib3 import exceptions as u3

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        # NameResolutionError is a NewConnectionError; both are raised from connect().
        if isinstance(item, (u3.NewConnectionError, u3.ConnectTimeoutError,
                             ssl.SSLCertVerificationError, ssl.CertificateError)):
            return True
        if isinstance(item, (u3.ProtocolError, u3.ReadTimeoutError, requests.exceptions.ReadTimeout)):
            return False
        if isinstance(item, u3.MaxRetryError):
            stack.append(item.reason)
        if isinstance(item, BaseException):
            stack.extend(a for a in item.args if isinstance(a, BaseException))
            stack.append(item.__cause__)
            stack.append(item.__context__)
    return False


def describe_network_error(exc: BaseException) -> str:
    """Plain words for a network failure (no URL, no query)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "could not connect (timed out)"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time (read timed out)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS connection failed (certificate not trusted, or the connection broke)"
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "the host name does not resolve (no network, or a wrong LUMA_BASE_URL)"
    if "refused" in text.lower():
        return "connection refused (nothing listening there)"
    if "RemoteDisconnected" in text or "aborted" in text.lower() or "reset" in text.lower():
        return "the connection was dropped before an answer arrived"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return f"network error ({type(exc).__name__})"


# -- error answers ------------------------------------------------------------------------------

def detail_of(response: requests.Response) -> str:
    """The service's ``detail`` (string, list of validation errors, or object), in one line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    if detail is None and isinstance(body, dict):
        detail = body.get("error") or body.get("message")
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                msg = item.get("msg") or item.get("message") or ""
                parts.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    elif isinstance(detail, dict):
        detail = detail.get("message") or detail.get("msg") or str(detail)
    text = " ".join(str(detail or "").split())
    return redact(text[:600])


def has_service_body(response: requests.Response) -> bool:
    """Whether the answer is the API's own JSON error (not a gateway's HTML page or nothing)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("detail"))


_STATUS_WORDS = {
    400: ("Luma refused the request as invalid (400)", ""),
    401: ("Luma did not accept the API key (401)",
          "Check LUMA_AGENTS_API_KEY, or run `genplate login` with a valid key."),
    402: ("Luma says the account balance is insufficient (402)",
          "Add credits to the Luma account; nothing was created."),
    403: ("Luma refused access (403: account suspended or not allowed)",
          "Check the account's status with Luma."),
    404: ("Luma has no such item (404)", ""),
    413: ("an input is too large for Luma (413)",
          "Inputs over about 50 MB are refused: send a smaller image, or a shorter or lighter plate."),
    422: ("Luma rejected the combination of parameters or a media input (422)", ""),
    429: ("Luma is rate limiting this account (429)", "Wait a minute, or lower "
          "GENPLATE_LUMA_CREATES_PER_MINUTE / GENPLATE_LUMA_MAX_IN_FLIGHT."),
}


def error_for(response: requests.Response, what: str, *, outcome_unknown: bool = False) -> LumaError:
    status = response.status_code
    detail = detail_of(response)
    words, advice = _STATUS_WORDS.get(status, (f"Luma answered {status}", ""))
    message = f"{what}: {words}"
    if detail:
        message += f": {detail}"
    if not message.endswith("."):
        message += "."
    if advice:
        message += f" {advice}"
    # 401 is this machine's key, not a verdict on the request: a fixed key and a resume succeed.
    return LumaError(message, status=status, detail=detail,
                     retryable=status in RETRY_STATUSES or status == 429,
                     code=f"http_{status}", outcome_unknown=outcome_unknown,
                     local=status == 401)


def retry_after(response: requests.Response) -> Optional[float]:
    """Seconds the service asked us to wait (delta-seconds or an HTTP date), if it said."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- the client ---------------------------------------------------------------------------------

class LumaClient:
    """One ``requests.Session`` to the API; thread-safe for the calls genplate makes."""

    def __init__(self, key: str, settings: Optional[LumaSettings] = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or LumaSettings.from_env()
        self._key = key
        self._sleep = sleep
        self.base_url = self.settings.base_url.rstrip("/")
        self._api_host = urlsplit(self.base_url).netloc
        self.session = requests.Session()
        self.session.verify = True  # never switched off, whatever the environment says
        self.session.headers["User-Agent"] = f"genplate/{__version__}"
        self.session.headers["Accept"] = "application/json"
        # Creates per minute the service reported (X-RateLimit-Limit); None until it says.
        self.reported_rpm: Optional[int] = None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"LumaClient({self.base_url})"

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def _headers(self, url: str, request_id: str, extra: Optional[dict]) -> dict:
        headers = {"X-Request-Id": request_id}
        # The key goes only to the API's own host: never to a presigned storage URL.
        if urlsplit(url).netloc == self._api_host:
            headers["Authorization"] = f"Bearer {self._key}"
        if extra:
            headers.update(extra)
        return headers

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: a random wait in [base, base * 2**(attempt-1)]."""
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff * (2 ** max(0, attempt - 1)))
        return random.uniform(min(s.backoff, ceiling) / 2, ceiling) if ceiling > 0 else 0.0

    def wait(self, seconds: float, cancel: Optional[CancelToken] = None) -> None:
        if seconds <= 0:
            return
        if cancel is not None:
            if cancel.wait(seconds):
                cancel.check()
        else:
            self._sleep(seconds)

    def send_once(self, method: str, path_or_url: str, *, what: str, request_id: str,
                  headers: Optional[dict] = None, **kw: Any) -> requests.Response:
        """One HTTP exchange. Raises SendFailure (no answer at all); returns any answer."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        log.debug("%s %s (%s)", method, urlsplit(url).path, request_id)
        try:
            response = self.session.request(method, url, headers=self._headers(url, request_id, headers),
                                            timeout=self.timeout, allow_redirects=False, **kw)
        except requests.exceptions.RequestException as exc:
            log.info("%s %s (%s): %s", method, urlsplit(url).path, request_id,
                     describe_network_error(exc))
            raise SendFailure(what, exc, never_sent(exc)) from None
        log.debug("%s %s (%s) -> %s", method, urlsplit(url).path, request_id, response.status_code)
        limit = response.headers.get("X-RateLimit-Limit")
        if limit and limit.isdigit():
            self.reported_rpm = int(limit)
        return response

    def call(self, method: str, path_or_url: str, *, what: str, tag: Optional[str] = None,
             ok: tuple[int, ...] = (200, 201, 202, 204), cancel: Optional[CancelToken] = None,
             rewind: Optional[Callable[[], None]] = None, **kw: Any) -> requests.Response:
        """An idempotent call, retried on 429, 5xx and lost connections; raises LumaError."""
        s = self.settings
        tag = tag or uuid.uuid4().hex[:12]
        attempt = 0
        while True:
            attempt += 1
            if cancel is not None:
                cancel.check()
            if rewind is not None:
                rewind()  # a body streamed from a file must start again from its beginning
            request_id = f"{tag}:{method.lower()}:{attempt}"
            try:
                response = self.send_once(method, path_or_url, what=what, request_id=request_id, **kw)
            except SendFailure as failure:
                if attempt > s.retries:
                    raise LumaError(f"{failure} (gave up after {attempt} tries)",
                                    retryable=True, code="network") from None
                self.wait(self.backoff(attempt), cancel)
                continue
            if response.status_code in ok:
                return response
            if response.status_code == 429 or response.status_code in RETRY_STATUSES:
                if attempt > s.retries:
                    error = error_for(response, what)
                    raise LumaError(f"{error} (gave up after {attempt} tries)",
                                    status=error.status, detail=error.detail, retryable=True,
                                    code=error.code) from None
                delay = retry_after(response) if response.status_code == 429 else None
                if delay is None:
                    delay = self.backoff(attempt)
                self.wait(min(delay, s.retry_after_max), cancel)
                continue
            raise error_for(response, what)

    def json(self, method: str, path: str, *, what: str, **kw: Any) -> Any:
        response = self.call(method, path, what=what, **kw)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise LumaError(f"{what}: Luma answered {response.status_code} with a body that is "
                            f"not JSON", status=response.status_code, retryable=True) from None


__all__ = ["LumaClient", "LumaError", "SendFailure", "never_sent", "error_for", "detail_of",
           "has_service_body", "retry_after", "describe_network_error", "RETRY_STATUSES"]

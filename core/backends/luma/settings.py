"""The Luma backend's knobs: where it sends requests, how long it waits, how hard it retries.

Every value has a default that suits the real service and an environment variable that
overrides it (a farm with a slow link, a test against the local emulator with tiny waits).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Optional

from ..base import BackendError

BASE_URL_ENV = "LUMA_BASE_URL"
DEFAULT_BASE_URL = "https://agents.lumalabs.ai/v1"
MIB = 1024 * 1024

# setting name -> environment variable (a number; sizes in MiB where the name says so)
ENV = {
    "connect_timeout": "GENPLATE_LUMA_CONNECT_TIMEOUT",
    "read_timeout": "GENPLATE_LUMA_TIMEOUT",
    "retries": "GENPLATE_LUMA_RETRIES",
    "create_retries": "GENPLATE_LUMA_CREATE_RETRIES",
    "backoff": "GENPLATE_LUMA_BACKOFF",
    "backoff_max": "GENPLATE_LUMA_BACKOFF_MAX",
    "retry_after_max": "GENPLATE_LUMA_RETRY_AFTER_MAX",
    "inline_max_mb": "GENPLATE_LUMA_INLINE_MAX_MB",
    "inline_total_max_mb": "GENPLATE_LUMA_INLINE_TOTAL_MAX_MB",
    "multipart_max_mb": "GENPLATE_LUMA_MULTIPART_MAX_MB",
    "file_ready_timeout": "GENPLATE_LUMA_FILE_READY_TIMEOUT",
    "creates_per_minute": "GENPLATE_LUMA_CREATES_PER_MINUTE",
    "max_in_flight": "GENPLATE_LUMA_MAX_IN_FLIGHT",
    "follow_patience": "GENPLATE_LUMA_FOLLOW_PATIENCE",
    "poll_interval": "GENPLATE_LUMA_POLL_INTERVAL",
    "max_poll_interval": "GENPLATE_LUMA_MAX_POLL_INTERVAL",
}


class LumaSettingsError(BackendError):
    """An override that is not a usable value (names the variable and what it needs)."""

    local = True  # this machine's environment: fix it and resume


@dataclass(frozen=True)
class LumaSettings:
    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = 10.0
    # A create carries inline images (up to tens of MB); the service answers after reading it.
    read_timeout: float = 90.0
    # Idempotent calls (GET, a presigned PUT, completing an upload): tries after the first.
    retries: int = 6
    # A create is retried only when the request provably never reached the service, or the
    # service answered that it refused it (429, a 502/503 with its own error body).
    create_retries: int = 4
    backoff: float = 1.0  # first retry wait; doubles, jittered, up to backoff_max
    backoff_max: float = 30.0
    retry_after_max: float = 300.0  # never sleep longer than this on one Retry-After
    # Local images at most this big go inline as base64; larger ones through the Files API.
    inline_max_mb: float = 5.0
    # ... and inline images together at most this much per request (the body stays small
    # enough for the service's ~50 MB input limit even with 64 keyframes).
    inline_total_max_mb: float = 20.0
    multipart_max_mb: float = 20.0  # Files API: multipart up to here, presigned PUT above
    file_ready_timeout: float = 600.0
    # Shared across every process using the ledger (Ledger.reserve_create_slot).
    creates_per_minute: int = 20
    max_in_flight: int = 4
    # A paid generation is followed through an outage this long before a poll gives up (the
    # runner ends the job on the first error a poll raises).
    follow_patience: float = 900.0
    poll_interval: float = 2.0  # the docs' sample polls every 2 s
    max_poll_interval: float = 15.0

    @property
    def inline_max_bytes(self) -> int:
        return int(self.inline_max_mb * MIB)

    @property
    def inline_total_max_bytes(self) -> int:
        return int(self.inline_total_max_mb * MIB)

    @property
    def multipart_max_bytes(self) -> int:
        return int(self.multipart_max_mb * MIB)

    @classmethod
    def from_env(cls, environ: Optional[dict] = None, **overrides) -> "LumaSettings":
        env = os.environ if environ is None else environ
        values: dict = {}
        base = (env.get(BASE_URL_ENV) or "").strip()
        if base:
            values["base_url"] = _check_base_url(base)
        types = {f.name: f.type for f in fields(cls)}
        for name, var in ENV.items():
            raw = (env.get(var) or "").strip()
            if not raw:
                continue
            want_int = types[name] in (int, "int")
            try:
                value = int(raw) if want_int else float(raw)
            except ValueError:
                raise LumaSettingsError(
                    f"{var}={raw!r} is not {'a whole number' if want_int else 'a number'}") from None
            if value < 0 or (name in ("creates_per_minute", "max_in_flight") and value < 1):
                raise LumaSettingsError(f"{var}={raw!r} must be {'1' if want_int else '0'} or more")
            values[name] = value
        values.update(overrides)
        return replace(cls(), **values)


def _check_base_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise LumaSettingsError(f"{BASE_URL_ENV}={url!r} is not an http(s) URL "
                                f"(default {DEFAULT_BASE_URL})")
    if parts.query or parts.username or parts.password:
        raise LumaSettingsError(f"{BASE_URL_ENV} must not carry a query or credentials")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        # The key travels in a header: plain http only to this machine (the test emulator).
        raise LumaSettingsError(f"{BASE_URL_ENV} must be https:// (plain http only for localhost)")
    return url.rstrip("/")


__all__ = ["LumaSettings", "LumaSettingsError", "BASE_URL_ENV", "DEFAULT_BASE_URL", "ENV"]

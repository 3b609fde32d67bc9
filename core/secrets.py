"""Keeping the API key and presigned URL signatures out of everything genplate writes.

A presigned URL is a bearer credential for as long as it lives: whoever holds its query string
can download (or, for an upload envelope, overwrite) the object. So the rule is simple and
blunt: every URL loses its query string, every API key and ``Bearer`` token loses its value,
before any text reaches a log, the ledger, ``take.json``, an EXR header, a Nuke script or an
error message. ``redact`` is meant to be cheap and idempotent, so callers may apply it at every
boundary without worrying about doing it twice.
"""
from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit

SECRET_ENV = ("LUMA_AGENTS_API_KEY",)
"""Environment variables whose values are secrets wherever they appear."""

REDACTED = "<redacted>"

# A URL runs until whitespace, a quote or an angle bracket; trailing sentence punctuation is
# given back to the text (see _redact_url_match).
# (A scheme is short; bounding it keeps a long dotted word from costing quadratic time.)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://[^\s'\"<>]+")
_TRAILING = ".,;:!)]}"
_API_KEY = re.compile(r"luma-api-[A-Za-z0-9_\-.~+/=]+")
_BEARER = re.compile(r"(\bBearer\s+)(?!<redacted>)[^\s'\",}]+", re.IGNORECASE)
# "Authorization: x", "'Authorization': 'x'", "authorization=x" (headers printed as text,
# as dict reprs, or as form fields).
_AUTH_HEADER = re.compile(
    r"(\b(?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?)(?!<redacted>)([^\s\"'][^\"'\r\n,}]*)",
    re.IGNORECASE)
# Signature parameters that travel outside a URL (a request line in urllib3's debug log, a
# pasted query string, an error body quoting the request).
_SIGNATURE_PARAM = re.compile(
    r"(?<![A-Za-z0-9_\-])((?:X-Amz-(?:Signature|Credential|Security-Token)|X-Goog-(?:Signature|Credential)"
    r"|Signature|sig|token|access_token|Key-Pair-Id|Policy|api_key|apikey)=)(?!<redacted>)[^\s&'\"<>]+",
    re.IGNORECASE)
# Object stores quote the signature and what was signed in their XML error bodies
# (SignatureDoesNotMatch); JSON bodies and dict reprs name tokens by key.
_XML_SECRET = re.compile(
    r"<(SignatureProvided|Signature|StringToSign|StringToSignBytes|CanonicalRequest"
    r"|CanonicalRequestBytes|AWSAccessKeyId|X-Amz-Signature)>(?!<redacted>)[^<]*</\1>")
_KEYED_SECRET = re.compile(
    r"([\"'](?:signature|token|access_token|refresh_token|api_key|apikey|secret|password)[\"']"
    r"\s*:\s*[\"'])(?!<redacted>)[^\"']*", re.IGNORECASE)
# A request target without a scheme: urllib3 logs `"GET /path?query HTTP/1.1"` and puts
# `with url: /path?query` into its exceptions.
_REQUEST_TARGET = re.compile(
    r"(\b(?:GET|HEAD|PUT|POST|PATCH|DELETE|OPTIONS) /[^\s?]*|\burl: /[^\s?]*)\?(?!<redacted>)[^\s)'\"]*")


def redact_url(url: str) -> str:
    """``scheme://host/path``, plus ``?<redacted>`` when the URL had a query string.

    User information (``user:password@``) and the fragment are dropped as well: both can carry
    credentials and neither helps a person find what went wrong.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed netloc: cut at the first "?" and keep nothing after it
        head, sep, _ = text.partition("?")
        return head.split("#", 1)[0] + ("?" + REDACTED if sep else "")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    base = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path
    had_query = "?" in text.split("#", 1)[0]
    return base + ("?" + REDACTED if had_query else "")


def _redact_url_match(match: re.Match) -> str:
    url = match.group(0)
    if url.endswith("?") and match.string.startswith(REDACTED, match.end()):
        return redact_url(url[:-1]) + "?"  # already redacted: keep it idempotent
    tail = ""
    while url and url[-1] in _TRAILING:
        tail = url[-1] + tail
        url = url[:-1]
    return redact_url(url) + tail


def redact(text: str) -> str:
    """``text`` with API keys, bearer tokens, auth headers and URL signatures removed."""
    if not text:
        return text
    text = str(text)
    text = _URL.sub(_redact_url_match, text)
    text = _REQUEST_TARGET.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _API_KEY.sub("luma-api-" + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SIGNATURE_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _XML_SECRET.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
    text = _KEYED_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    for name in SECRET_ENV:
        # A key that does not look like Luma's (a proxy's, a test's) is still the key.
        value = os.environ.get(name, "")
        if len(value) >= 8 and value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Redacts each record's message, arguments and traceback before any handler sees it.

    Install it on a handler to cover everything that handler writes (records propagated from
    child loggers included); on a logger it covers only records logged through that logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_filter(logger: logging.Logger) -> logging.Logger:
    """Add one RedactingFilter to ``logger`` (idempotent); returns the logger."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


__all__ = ["SECRET_ENV", "REDACTED", "redact", "redact_url", "RedactingFilter", "install_filter"]

"""The API key and presigned signatures never survive redaction, in text or in log records."""
from __future__ import annotations

import io
import logging

import pytest

from genplate.core.secrets import SECRET_ENV, RedactingFilter, install_filter, redact, redact_url

SIGNED = ("https://bucket.s3.us-east-1.amazonaws.com/gen/abc/video.mp4?X-Amz-Algorithm=AWS4"
          "&X-Amz-Credential=AKIAEXAMPLE%2F20261124&X-Amz-Signature=deadbeefcafe0123")


def test_redact_url_keeps_scheme_host_and_path_only():
    assert redact_url(SIGNED) == ("https://bucket.s3.us-east-1.amazonaws.com/gen/abc/video.mp4"
                                  "?<redacted>")
    assert redact_url("https://example.com/a/b.exr") == "https://example.com/a/b.exr"
    assert redact_url("file:///tmp/store/out.mp4") == "file:///tmp/store/out.mp4"


def test_redact_url_drops_user_info_and_fragment_and_keeps_port():
    assert redact_url("https://user:hunter2@h.example:8443/p?q=1#frag") == \
        "https://h.example:8443/p?<redacted>"
    assert redact_url("http://[::1]:8080/x?sig=1") == "http://[::1]:8080/x?<redacted>"


def test_redact_url_survives_a_malformed_url():
    out = redact_url("https://h:99999/x?Signature=secret")
    assert "secret" not in out and out.endswith("?<redacted>")


@pytest.mark.parametrize("text, secret", [
    (f"download failed: {SIGNED}", "deadbeefcafe0123"),
    (f"download failed: {SIGNED}", "AKIAEXAMPLE"),
    ("key is luma-api-0123456789abcdef, refused", "0123456789abcdef"),
    ("Authorization: Bearer sk-live-xyz", "sk-live-xyz"),
    ("{'Authorization': 'Bearer tok123', 'Accept': '*/*'}", "tok123"),
    ("Proxy-Authorization: Basic dXNlcjpwdw==", "dXNlcjpwdw=="),
    ("header Bearer abc.def.ghi", "abc.def.ghi"),
    ("Max retries exceeded with url: /gen/v.mp4?X-Amz-Signature=s3cr3t (Caused by X)", "s3cr3t"),
    ('"GET /gen/v.mp4?Expires=1&Key-Pair-Id=K2&Signature=cf-sig HTTP/1.1" 200 1024', "cf-sig"),
    ("query was Expires=1&Signature=cf-sig2", "cf-sig2"),
    ("sig=azure-sig&se=2026", "azure-sig"),
    ("token=tttt and access_token=aaaa", "tttt"),
    ("token=tttt and access_token=aaaa", "aaaa"),
    ("X-Amz-Signature=abc123 alone", "abc123"),
    ("<Error><Code>SignatureDoesNotMatch</Code><SignatureProvided>f00dfeed</SignatureProvided>"
     "<StringToSign>AWS4-HMAC-SHA256 20261124 scope hash</StringToSign></Error>", "f00dfeed"),
    ("<StringToSign>AWS4-HMAC-SHA256 20261124 scope hash</StringToSign>", "scope hash"),
    ('{"detail": "bad", "token": "tok-99", "api_key": "k-77"}', "tok-99"),
    ('{"detail": "bad", "token": "tok-99", "api_key": "k-77"}', "k-77"),
])
def test_redact_removes_every_secret(text, secret):
    out = redact(text)
    assert secret not in out
    assert "<redacted>" in out


def test_redact_keeps_the_useful_part_of_a_url_and_trailing_punctuation():
    out = redact(f"could not fetch ({SIGNED}).")
    assert out == ("could not fetch (https://bucket.s3.us-east-1.amazonaws.com/gen/abc/video.mp4"
                   "?<redacted>).")


def test_redact_leaves_plain_text_alone():
    text = "generation abc-123 failed: content_moderated (frame 48 of shot SH010)"
    assert redact(text) == text
    assert redact("") == ""


@pytest.mark.parametrize("text", [
    f"a {SIGNED} b", "Authorization: Bearer luma-api-xyz", "sig=1 token=2", "luma-api-k",
    "url: /p?a=1", "{'Authorization': 'Bearer t'}", "<SignatureProvided>x</SignatureProvided>",
    '{"token": "t"}',
])
def test_redact_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


def test_redact_removes_the_configured_key_even_when_it_does_not_look_like_one(monkeypatch):
    assert SECRET_ENV == ("LUMA_AGENTS_API_KEY",)
    monkeypatch.setenv("LUMA_AGENTS_API_KEY", "proxy-key-7f7f7f7f")
    assert "7f7f7f7f" not in redact("sent proxy-key-7f7f7f7f to the proxy")


def test_redacting_filter_cleans_message_args_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("genplate.test.secrets")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    install_filter(logger)
    install_filter(logger)  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    logger.info("fetching %s with %s", SIGNED, {"Authorization": "Bearer luma-api-secretkey"})
    try:
        raise RuntimeError(f"boom at {SIGNED}")
    except RuntimeError:
        logger.exception("failed: key luma-api-secretkey")
    text = stream.getvalue()
    assert "deadbeefcafe0123" not in text and "secretkey" not in text
    assert "video.mp4?<redacted>" in text
    assert "RuntimeError: boom at https://" in text  # the traceback is kept, redacted


def test_redacting_filter_on_a_handler_covers_child_loggers():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    parent = logging.getLogger("genplate.test.parent")
    parent.propagate = False
    parent.handlers[:] = [handler]
    parent.setLevel(logging.DEBUG)
    logging.getLogger("genplate.test.parent.child").warning("GET %s", SIGNED)
    assert "deadbeef" not in stream.getvalue()
    assert "?<redacted>" in stream.getvalue()


def test_redact_stays_linear_on_long_text():
    import time

    started = time.monotonic()
    out = redact("a." * 200_000 + f" {SIGNED} " + "x" * 200_000)
    assert time.monotonic() - started < 5.0  # quadratic matching would take hours
    assert "deadbeef" not in out

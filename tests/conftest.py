"""Shared test setup: every test gets its own ledger and data directory, and Qt runs offscreen."""
from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Bakes of the HDR inverse (genplate.ocio.baked) are kept for the session, never in the user's
# own cache; subprocesses the tests start inherit it.
os.environ["GENPLATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="genplate-test-cache-")


@pytest.fixture(autouse=True)
def _isolated_genplate(tmp_path, monkeypatch):
    """No test touches the user's real ledger, keyring, engine config, OCIO config or Luma account."""
    data = tmp_path / "genplate-data"
    monkeypatch.setenv("GENPLATE_DATA_DIR", str(data))
    monkeypatch.delenv("LUMA_AGENTS_API_KEY", raising=False)
    monkeypatch.delenv("LUMA_BASE_URL", raising=False)
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.setenv("GENPLATE_NO_KEYRING", "1")
    monkeypatch.setenv("GENPLATE_CONFIG_DIR", str(tmp_path / "genplate-config"))
    yield

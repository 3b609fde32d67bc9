"""Backends: where generations are made. ``open_backend`` picks one by name."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from .base import Backend, BackendError

if TYPE_CHECKING:
    from ..jobs.ledger import Ledger

BACKENDS = ("offline", "luma")
# Backends that cost nothing: their jobs record no estimate and no spending, so a project's
# budget counts only what a service will bill.
FREE_BACKENDS = ("offline",)
KEY_ENV = "LUMA_AGENTS_API_KEY"


def default_backend_name() -> str:
    """Luma when a key is configured, else the offline renderer (the caller says so aloud)."""
    if os.environ.get(KEY_ENV):
        return "luma"
    try:
        from .luma.credentials import stored_key
    except ImportError:
        return "offline"
    return "luma" if stored_key() else "offline"


def open_backend(name: Optional[str], ledger: "Ledger") -> Backend:
    name = name or default_backend_name()
    if name == "offline":
        from .offline import OfflineBackend

        return OfflineBackend(ledger.path.parent / "offline")
    if name == "luma":
        from .luma.backend import LumaBackend

        return LumaBackend(ledger)
    raise BackendError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")


__all__ = ["Backend", "BackendError", "BACKENDS", "FREE_BACKENDS", "default_backend_name", "open_backend"]

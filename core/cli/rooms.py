"""Commands beyond the main job, one module per room: the Luma account, colour ingest, drafts and
promotion, host installation. A room whose module is absent simply adds no commands."""
from __future__ import annotations

import importlib

ROOMS = ("luma", "colour", "drafts", "hosts")


def register(command) -> None:
    for room in ROOMS:
        try:
            module = importlib.import_module(f"{__package__}.{room}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{room}":
                raise  # the room exists but something it needs is missing: say so
            continue
        module.register(command)

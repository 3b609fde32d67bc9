"""What the shared panel needs from a host (Nuke, Resolve, or none): the HostAdapter.

Standard library only: the Nuke and Resolve adapters subclass it inside their hosts, and the
panel's tests use the standalone one. The panel calls these methods on the GUI thread; a
method that touches the host API must be quick (the panel's event loop is the host's).
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable


class HostAdapter:
    """The standalone host: no script, no timeline; takes are only listed.

    Subclasses override what their host can do. ``insert_take`` receives a take summary as
    printed by ``genplate takes --json`` (keys dir, pattern, first, last, colorspace, fps,
    version, shot, name, kind, latest, thumbnail, take_json, job_id, remote_id, prompt) and
    returns a small dict describing what it made (e.g. {"node": "Read1"}).
    """

    name = "standalone"

    def context(self) -> dict:
        """Where the artist is: {"project", "shot", "fps", "first_frame", ...} (any may be absent)."""
        return {
            "project": os.environ.get("GENPLATE_PROJECT", ""),
            "shot": os.environ.get("GENPLATE_SHOT", ""),
            "fps": 24,
            "first_frame": 1001,
            "root": os.environ.get("GENPLATE_ROOT", ""),
        }

    def grab_frames(self, which: list[str]) -> list[str]:
        """8-bit PNG paths for the request, one per entry of ``which``.

        ``which`` names frames the way the request does: "start", "end", or "keyframe:<index>"
        (an index of the 24 fps grid). A host renders them through its viewer's display
        transform; the standalone host has nothing to grab.
        """
        raise NotImplementedError(f"the {self.name} host cannot grab frames; choose image files")

    def insert_take(self, take: dict) -> dict:
        """Bring a published take into the host (a Read node, a media pool item...)."""
        raise NotImplementedError(f"the {self.name} host has nowhere to insert a take")

    def run_on_main_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the host's main thread, soon; never wait for it.

        The standalone host has no main-thread queue of its own: the caller is expected to be
        on the GUI thread already, so it runs at once there. From another thread it refuses,
        because touching widgets or host state from a worker is the bug this method exists to
        prevent.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("HostAdapter.run_on_main_thread called from a worker thread; "
                               "the standalone host has no main-thread queue")
        fn(*args)

    # Optional abilities the panel asks about before showing a button.
    def can_grab_frames(self) -> bool:
        return type(self).grab_frames is not HostAdapter.grab_frames

    def can_insert(self) -> bool:
        return type(self).insert_take is not HostAdapter.insert_take


__all__ = ["HostAdapter"]

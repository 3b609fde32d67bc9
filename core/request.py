"""The shot request: everything Ray 3.2 takes for video, validated before any money is spent.

The rules and the price table come from ``shared/docs/luma-agents-api.md``. A refused request
raises ``RequestError`` naming the field, the value and what is allowed.

CONTRACT (other modules rely on these names): the dataclasses and their fields below,
``ShotRequest.validate()``, ``.estimate()``, ``.to_json()`` / ``ShotRequest.from_json()``,
``.frame_size()``, ``.frame_slots``, ``ShotRequest.draft()`` / ``.master()``,
``to_api_payload()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MODEL = "ray-3.2"
FPS = 24
VIDEO_TYPES = ("video", "video_edit", "video_reframe")
ASPECT_RATIOS = ("9:16", "3:4", "1:1", "4:3", "16:9", "21:9")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
DURATIONS = ("5s", "10s")
EDIT_STRENGTHS = tuple(f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3))
EDIT_CONTROLS = ("depth", "face", "normals", "pose", "trajectory")
DRAFT_RESOLUTION = "360p"
MASTER_RESOLUTIONS = ("720p", "1080p")


class RequestError(ValueError):
    """A request the API would refuse (or that genplate refuses before paying for it)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class MediaRef:
    """An image (or, for edit and reframe, a video) given to the model.

    Exactly one of the four is set. ``path`` is a local file: the backend inlines it as base64
    or uploads it through the Files API; artists never need public hosting.
    """

    path: Optional[str] = None
    url: Optional[str] = None
    generation_id: Optional[str] = None
    file_id: Optional[str] = None


@dataclass(frozen=True)
class Keyframe:
    """A guide image pinned to a frame index on the 24 fps grid (0..120 for 5 s, 0..240 for 10 s)."""

    index: int
    image: MediaRef


@dataclass(frozen=True)
class EditOptions:
    """``video_edit`` settings: how closely to follow the source plate, and which signals guide it."""

    strength: str = "adhere_2"
    auto_controls: bool = False
    controls: tuple[str, ...] = ()
    keyframes: tuple[Keyframe, ...] = ()


@dataclass(frozen=True)
class ReframeRect:
    """``video_reframe``: where the source sits in the new frame, normalised 0..1."""

    x_norm: float
    y_norm: float
    w_norm: float
    h_norm: float


@dataclass(frozen=True)
class ShotRequest:
    prompt: str
    type: str = "video"
    model: str = MODEL
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    duration: str = "5s"
    hdr: bool = False
    exr_export: bool = False
    loop: bool = False
    start_frame: Optional[MediaRef] = None
    end_frame: Optional[MediaRef] = None
    keyframes: tuple[Keyframe, ...] = ()
    # Extend a previous take: its remote generation id, continued forward (it becomes the start
    # frame ref) or backward (the end frame ref).
    extend_from: Optional[str] = None
    extend_direction: str = "forward"
    source: Optional[MediaRef] = None  # the plate for video_edit / video_reframe
    edit: Optional[EditOptions] = None
    source_position: Optional[ReframeRect] = None
    seed: Optional[int] = None  # the offline renderer's seed; Ray3 has none
    user_id: Optional[str] = None

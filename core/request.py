"""The shot request: everything Ray 3.2 takes for video, validated before any money is spent.

The rules and the price table come from ``shared/docs/luma-agents-api.md``. A refused request
raises ``RequestError`` naming the field, the value and what is allowed.

CONTRACT (other modules rely on these names): the dataclasses and their fields below,
``ShotRequest.validate()``, ``.estimate()``, ``.to_json()`` / ``ShotRequest.from_json()``,
``.frame_size()``, ``.frame_slots``, ``ShotRequest.draft()`` / ``.master()``,
``to_api_payload()``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

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

    # -- derived facts ---------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames in the take: the 24 fps grid's slots (0..120 for 5 s, 0..240 for 10 s)."""
        return _SECONDS[self.duration] * FPS + 1 if self.duration in _SECONDS else 0

    @property
    def frame_slots(self) -> int:
        return self.frame_count

    @property
    def quality(self) -> str:
        """draft (the cheap 360p SDR tier), master (HDR at 720p/1080p) or plain take."""
        if self.resolution == DRAFT_RESOLUTION and not self.hdr:
            return "draft"
        if self.hdr and self.resolution in MASTER_RESOLUTIONS:
            return "master"
        return "take"

    def frame_size(self) -> tuple[int, int]:
        """(width, height): the short side is the resolution's number, the long side by aspect."""
        short = int(self.resolution.rstrip("p"))
        w, h = (int(v) for v in self.aspect_ratio.split(":"))
        long = 2 * round(short * max(w, h) / min(w, h) / 2)
        return (long, short) if w >= h else (short, long)

    def media_refs(self) -> list[tuple[str, MediaRef]]:
        """Every image or video the request carries, with its role in the request."""
        refs: list[tuple[str, MediaRef]] = []
        if self.start_frame is not None:
            refs.append(("start_frame", self.start_frame))
        if self.end_frame is not None:
            refs.append(("end_frame", self.end_frame))
        refs += [(f"keyframe:{k.index}", k.image) for k in self.keyframes]
        if self.source is not None:
            refs.append(("source", self.source))
        if self.edit is not None:
            refs += [(f"edit_keyframe:{k.index}", k.image) for k in self.edit.keyframes]
        return refs

    def input_hashes(self) -> dict[str, str]:
        """sha256 of every local input, for provenance (what exactly was sent)."""
        from .digest import file_sha256

        return {role: file_sha256(ref.path) for role, ref in self.media_refs() if ref.path}

    def describe(self) -> str:
        parts = [self.quality if self.quality != "take" else self.type, self.resolution,
                 self.duration, self.aspect_ratio]
        if self.hdr:
            parts.append("HDR+EXR" if self.exr_export else "HDR")
        if self.keyframes:
            parts.append(f"{len(self.keyframes)} keyframe(s)")
        if self.extend_from:
            parts.append(f"extends {self.extend_from} {self.extend_direction}")
        return f"{' '.join(parts)}, est. ${self.estimate().usd:.2f}"

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> "ShotRequest":
        """Refuse, before any money is spent, what the API would refuse (luma-agents-api.md)."""
        prompt = self.prompt.strip() if isinstance(self.prompt, str) else ""
        if not 1 <= len(prompt) <= 6000:
            raise RequestError("prompt", _short(self.prompt), "1 to 6000 characters of text")
        _one_of("model", self.model, (MODEL,))
        _one_of("type", self.type, VIDEO_TYPES)
        _one_of("aspect_ratio", self.aspect_ratio, ASPECT_RATIOS)
        _one_of("resolution", self.resolution, RESOLUTIONS)
        _one_of("duration", self.duration, DURATIONS)
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise RequestError("seed", self.seed, "a whole number 0 or above")

        if self.hdr:
            if self.resolution not in MASTER_RESOLUTIONS:
                raise RequestError("hdr", self.hdr, f"only at 720p or 1080p (this request is "
                                   f"{self.resolution}; the 360p draft tier is SDR only)")
            if self.loop:
                raise RequestError("hdr", self.hdr, "not together with loop")
            if self.type == "video_reframe":
                raise RequestError("hdr", self.hdr, "not for video_reframe")
        if self.exr_export and not self.hdr:
            raise RequestError("exr_export", self.exr_export, "only with hdr: true")
        if self.loop:
            if self.type != "video":
                raise RequestError("loop", self.loop, "only for type video")
            if self.duration != "5s":
                raise RequestError("loop", self.loop, "only with duration 5s")

        for role, ref in self.media_refs():
            _check_ref(role, ref)
        self._validate_frames()
        self._validate_extend()
        self._validate_source()
        return self

    def _validate_frames(self) -> None:
        if self.type != "video":
            for name in ("start_frame", "end_frame"):
                if getattr(self, name) is not None:
                    raise RequestError(name, "set", f"only for type video (this is {self.type})")
            if self.keyframes:
                raise RequestError("keyframes", len(self.keyframes),
                                   "only for type video (video_edit has its own, in edit)")
        if self.keyframes:
            if self.start_frame is not None or self.end_frame is not None:
                raise RequestError("keyframes", len(self.keyframes),
                                   "not together with start_frame or end_frame")
            if self.loop:
                raise RequestError("keyframes", len(self.keyframes), "not together with loop")
            _check_keyframes("keyframes", self.keyframes, self.frame_count - 1)

    def _validate_extend(self) -> None:
        if self.extend_from is None:
            return
        if not isinstance(self.extend_from, str) or not self.extend_from.strip():
            raise RequestError("extend_from", self.extend_from, "a previous generation's id")
        _one_of("extend_direction", self.extend_direction, ("forward", "backward"))
        if self.type != "video":
            raise RequestError("extend_from", self.extend_from, "only for type video")
        if self.hdr:
            raise RequestError("extend_from", self.extend_from, "SDR only (no hdr): extend is SDR")
        if self.duration != "5s":
            raise RequestError("duration", self.duration, "5s when extending (one 5 s block)")
        if self.keyframes or self.loop:
            raise RequestError("extend_from", self.extend_from, "not with keyframes or loop")
        taken = self.start_frame if self.extend_direction == "forward" else self.end_frame
        if taken is not None:
            slot = "start_frame" if self.extend_direction == "forward" else "end_frame"
            raise RequestError(slot, "set", f"left empty: extending {self.extend_direction} "
                                            f"uses the previous generation as the {slot}")

    def _validate_source(self) -> None:
        if self.type == "video":
            for name in ("source", "edit", "source_position"):
                if getattr(self, name) is not None:
                    raise RequestError(name, "set", "only for video_edit or video_reframe")
            return
        if self.source is None:
            raise RequestError("source", None, f"a source video for {self.type}")
        limit = 18.0 if self.type == "video_edit" else 30.0
        seconds = _video_seconds(self.source.path) if self.source.path else None
        if seconds is not None and seconds > limit + 1e-6:
            raise RequestError("source", f"{seconds:.1f} s", f"a video of at most {limit:.0f} s "
                                                             f"for {self.type}")
        if self.type == "video_edit":
            if self.source_position is not None:
                raise RequestError("source_position", "set", "only for video_reframe")
            edit = self.edit or EditOptions()
            _one_of("edit.strength", edit.strength, EDIT_STRENGTHS)
            for control in edit.controls:
                _one_of("edit.controls", control, EDIT_CONTROLS)
            if len(set(edit.controls)) != len(edit.controls):
                raise RequestError("edit.controls", list(edit.controls), "each control once")
            if edit.keyframes:
                _check_keyframes("edit.keyframes", edit.keyframes, self.frame_count - 1)
        else:
            if self.edit is not None:
                raise RequestError("edit", "set", "only for video_edit")
            if self.resolution == "1080p" and self.aspect_ratio in ("9:16", "3:4"):
                raise RequestError("resolution", self.resolution,
                                   "720p or lower when reframing to 9:16 or 3:4")
            rect = self.source_position
            if rect is not None:
                values = {"x_norm": rect.x_norm, "y_norm": rect.y_norm,
                          "w_norm": rect.w_norm, "h_norm": rect.h_norm}
                for name, value in values.items():
                    if not 0.0 <= value <= 1.0:
                        raise RequestError(f"source_position.{name}", value, "between 0 and 1")
                if rect.w_norm <= 0 or rect.h_norm <= 0:
                    raise RequestError("source_position", values, "a width and height above 0")
                if rect.x_norm + rect.w_norm > 1.0 + 1e-9 or rect.y_norm + rect.h_norm > 1.0 + 1e-9:
                    raise RequestError("source_position", values, "a rectangle inside the frame "
                                                                  "(x+w and y+h at most 1)")

    # -- price -----------------------------------------------------------------------------

    def estimate(self) -> "Estimate":
        """What the request will probably cost (third-party price table, estimates only)."""
        tier = self.resolution
        if self.hdr:
            tier += " HDR+EXR" if self.exr_export else " HDR"
        five = _PRICE_5S.get(tier)
        if five is None:
            return Estimate(0.0, f"no price known for {tier}")
        basis = f"ray-3.2 {tier} {self.duration}"
        if self.duration == "5s":
            usd = five
        elif tier in _PRICE_10S:
            usd = _PRICE_10S[tier]
        else:
            # HDR 10 s has no published price: scale by the SDR tiers' 10 s / 5 s ratio (3x).
            usd = round(five * 3, 2)
            basis += " (extrapolated: no published 10 s HDR price)"
        if self.type != "video":
            basis += f" ({self.type} priced as video: no published price)"
        return Estimate(usd, basis)

    # -- serialisation ---------------------------------------------------------------------

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ShotRequest":
        data = dict(data)
        for name in ("start_frame", "end_frame", "source"):
            if data.get(name) is not None:
                data[name] = MediaRef(**data[name])
        data["keyframes"] = tuple(_keyframe_from(k) for k in data.get("keyframes") or ())
        if data.get("edit") is not None:
            edit = dict(data["edit"])
            edit["controls"] = tuple(edit.get("controls") or ())
            edit["keyframes"] = tuple(_keyframe_from(k) for k in edit.get("keyframes") or ())
            data["edit"] = EditOptions(**edit)
        if data.get("source_position") is not None:
            data["source_position"] = ReframeRect(**data["source_position"])
        return cls(**data)

    # -- the two tiers -----------------------------------------------------------------------

    @classmethod
    def draft(cls, prompt: str, **fields) -> "ShotRequest":
        """The cheap, fast tier for exploring: 360p SDR."""
        return cls(prompt=prompt, resolution=DRAFT_RESOLUTION, hdr=False, exr_export=False, **fields)

    @classmethod
    def master(cls, prompt: str, resolution: str = "1080p", exr: bool = True, **fields) -> "ShotRequest":
        """The high-fidelity tier: HDR (and EXR) at 720p or 1080p."""
        if resolution not in MASTER_RESOLUTIONS:
            raise RequestError("resolution", resolution, "720p or 1080p for a master")
        return cls(prompt=prompt, resolution=resolution, hdr=True, exr_export=exr, **fields)


@dataclass(frozen=True)
class Estimate:
    usd: float
    basis: str


_SECONDS = {"5s": 5, "10s": 10}
# luma-agents-api.md, "Prices (third-party figures, for estimates only)".
_PRICE_5S = {"360p": 0.06, "540p": 0.15, "720p": 0.30, "1080p": 1.20,
             "720p HDR": 0.60, "720p HDR+EXR": 0.90, "1080p HDR": 2.40, "1080p HDR+EXR": 3.60}
_PRICE_10S = {"360p": 0.18, "540p": 0.45, "720p": 0.90, "1080p": 3.60}
MAX_KEYFRAMES = 64
MAX_FILE_BYTES = 5 * 1024 ** 3  # the Files API's limit


def to_api_payload(request: ShotRequest, resolve_ref: Callable[[MediaRef], dict]) -> dict:
    """The body of POST /generations for ``request``.

    ``resolve_ref`` is the backend's: it turns a local path into an API image ref (inline
    base64 or a Files API id). The request is validated first, so nothing refused is sent.
    """
    request.validate()
    video: dict[str, Any] = {"resolution": request.resolution, "duration": request.duration}
    if request.hdr:
        video["hdr"] = True
    if request.exr_export:
        video["exr_export"] = True
    if request.loop:
        video["loop"] = True
    start, end = request.start_frame, request.end_frame
    if request.extend_from:
        extended = MediaRef(generation_id=request.extend_from)
        if request.extend_direction == "forward":
            start = extended
        else:
            end = extended
    if start is not None:
        video["start_frame"] = _api_ref(start, resolve_ref)
    if end is not None:
        video["end_frame"] = _api_ref(end, resolve_ref)
    if request.keyframes:
        ordered = sorted(request.keyframes, key=lambda k: k.index)
        video["keyframes"] = [_api_ref(k.image, resolve_ref) for k in ordered]
        video["keyframe_indexes"] = [k.index for k in ordered]
    if request.type == "video_edit":
        edit = request.edit or EditOptions()
        body: dict[str, Any] = {"strength": edit.strength}
        if edit.auto_controls:
            body["auto_controls"] = True
        if edit.controls:
            # The wire shape of per-signal controls is not documented: each named signal is
            # switched on, and nothing else is assumed about its settings.
            body["controls"] = {name: {"enabled": True} for name in edit.controls}
        if edit.keyframes:
            ordered = sorted(edit.keyframes, key=lambda k: k.index)
            body["keyframes"] = [_api_ref(k.image, resolve_ref) for k in ordered]
            body["keyframe_indexes"] = [k.index for k in ordered]
        video["edit"] = body
    if request.type == "video_reframe" and request.source_position is not None:
        video["source_position"] = asdict(request.source_position)
    payload: dict[str, Any] = {"prompt": request.prompt.strip(), "model": request.model,
                               "type": request.type, "video": video}
    if request.type != "video_edit":  # an edit keeps its source's frame
        payload["aspect_ratio"] = request.aspect_ratio
    if request.source is not None:
        payload["source"] = _api_ref(request.source, resolve_ref)
    if request.user_id:
        payload["user_id"] = request.user_id
    return payload


def _api_ref(ref: MediaRef, resolve_ref: Callable[[MediaRef], dict]) -> dict:
    if ref.url:
        return {"url": ref.url}
    if ref.generation_id:
        return {"generation_id": ref.generation_id}
    if ref.file_id:
        return {"file_id": ref.file_id}
    return resolve_ref(ref)


def _one_of(field: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise RequestError(field, value, "one of " + ", ".join(map(str, allowed)))


def _check_ref(role: str, ref: MediaRef) -> None:
    given = [name for name in ("path", "url", "generation_id", "file_id") if getattr(ref, name)]
    if len(given) != 1:
        raise RequestError(role, given or None,
                           "exactly one of path, url, generation_id or file_id")
    if ref.path:
        path = Path(ref.path)
        if not path.is_file():
            raise RequestError(role, ref.path, "an existing file (check the path)")
        size = path.stat().st_size
        if size == 0 or size > MAX_FILE_BYTES:
            raise RequestError(role, f"{ref.path} ({size} bytes)", "a file of 1 byte to 5 GiB")
        # Decoded here, for every backend alike, before anything is sent (inputs.py).
        from .inputs import MediaProblem, check_image, check_video

        try:
            (check_video if role == "source" else check_image)(path)
        except MediaProblem as exc:
            raise RequestError(role, ref.path, str(exc)) from None
    if ref.url and not ref.url.startswith(("https://", "http://")):
        raise RequestError(role, ref.url, "a public http(s) URL, or a local path")


def _check_keyframes(field: str, keyframes: tuple[Keyframe, ...], last_index: int) -> None:
    if not 1 <= len(keyframes) <= MAX_KEYFRAMES:
        raise RequestError(field, len(keyframes), f"1 to {MAX_KEYFRAMES} keyframes")
    indexes = [k.index for k in keyframes]
    for index in indexes:
        if not isinstance(index, int) or not 0 <= index <= last_index:
            raise RequestError(f"{field}.index", index,
                               f"a frame index 0..{last_index} on the 24 fps grid")
    duplicates = sorted({i for i in indexes if indexes.count(i) > 1})
    if duplicates:
        raise RequestError(f"{field}.index", duplicates, "each index once")


def _keyframe_from(data: dict) -> Keyframe:
    return Keyframe(index=data["index"], image=MediaRef(**data["image"]))


def _video_seconds(path: str) -> Optional[float]:
    """A local video's duration, or None when it cannot be read (the service will judge)."""
    try:
        import av

        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
    except Exception:
        return None
    return None


def _short(value: object) -> object:
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:37]}... ({len(value)} characters)"
    return value

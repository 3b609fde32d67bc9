"""Visual annotation: an artist's strokes on a frame become keyframes and prompt directions.

Luma's app lets people draw on a frame to direct motion; the API does not. genplate does it on
the client: the panel's canvas (plugins/panel) collects strokes and this module, a pure function
with no I/O, turns them into

(a) keyframes: the annotated frame at index 0, then the same frame with each subject moved
    along its arrow (or freehand path) at later indexes of the 24 fps grid, so the model is shown
    where things should be; and
(b) directions appended to the prompt ("the boat moves left to right across the frame",
    "camera pushes in"), in words the model reads.

Both come back as an ``AnnotationProposal`` the artist sees and edits before anything is sent.

Strokes, in normalised frame coordinates (x to the right, y down, 0..1 each):

- ``arrow``: from a subject (its tail) to where it goes (its head); the first and last points.
- ``freehand``: a path a subject follows, tail first; a closed loop circles.
- ``pin``: marks a subject (``radius``: its size, ``label``: what it is, e.g. "the red kite").
  An arrow starting on a pin moves that subject; a pin with no arrow stays where it is.
- ``erase``: removes every earlier stroke it touches (within its ``radius``).

Undo is the caller's list (drop the last stroke). Three or more arrows that together look like
a camera move (spreading out from a point, converging, all parallel, or turning about a point)
are read as the camera's move, not as subjects': the whole frame is zoomed, shifted or rolled.

Geometry uses frame-height units (x scaled by the aspect ratio), so "radial" and "parallel" mean
what they look like on a wide frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

KINDS = ("arrow", "freehand", "pin", "erase")
DEFAULT_SUBJECT_RADIUS = 0.12   # frame heights
DEFAULT_ERASE_RADIUS = 0.04
MIN_MOVE = 0.03                 # frame heights; shorter strokes are taps, not moves
FPS = 24


class AnnotationError(ValueError):
    """Strokes that cannot be read (a bad kind, too few points, a non-number)."""


@dataclass(frozen=True)
class Stroke:
    kind: str
    points: tuple[tuple[float, float], ...]
    radius: float = 0.0
    label: str = ""

    def to_json(self) -> dict:
        data: dict = {"kind": self.kind, "points": [[round(x, 5), round(y, 5)] for x, y in self.points]}
        if self.radius:
            data["radius"] = round(self.radius, 5)
        if self.label:
            data["label"] = self.label
        return data

    @classmethod
    def from_json(cls, data: dict, *, index: int = 0) -> "Stroke":
        if not isinstance(data, dict):
            raise AnnotationError(f"stroke {index}: expected an object with kind and points")
        kind = data.get("kind")
        if kind not in KINDS:
            raise AnnotationError(f"stroke {index}: kind {kind!r} is not one of {', '.join(KINDS)}")
        try:
            points = tuple((float(p[0]), float(p[1])) for p in data.get("points") or ())
            radius = float(data.get("radius") or 0.0)
        except (TypeError, ValueError, IndexError):
            raise AnnotationError(f"stroke {index}: points must be [x, y] pairs of numbers") from None
        return validate(cls(kind, points, radius, str(data.get("label") or "")), index=index)


def validate(stroke: Stroke, *, index: int = 0) -> Stroke:
    """Check a stroke and clamp its points into the frame (a drag may leave the canvas)."""
    need = {"arrow": 2, "freehand": 2, "pin": 1, "erase": 1}[stroke.kind] if stroke.kind in KINDS else None
    if need is None:
        raise AnnotationError(f"stroke {index}: kind {stroke.kind!r} is not one of {', '.join(KINDS)}")
    if len(stroke.points) < need:
        raise AnnotationError(f"stroke {index}: a {stroke.kind} needs at least {need} point(s)")
    for x, y in stroke.points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise AnnotationError(f"stroke {index}: point ({x}, {y}) is not a number")
    if not math.isfinite(stroke.radius) or not 0.0 <= stroke.radius <= 1.0:
        raise AnnotationError(f"stroke {index}: radius {stroke.radius} must be between 0 and 1 "
                              f"(a fraction of the frame's height)")
    points = tuple((min(1.0, max(0.0, x)), min(1.0, max(0.0, y))) for x, y in stroke.points)
    return replace(stroke, points=points)


def strokes_to_json(strokes: Sequence[Stroke]) -> list[dict]:
    """What PublishSpec.strokes (and take.json "strokes") holds."""
    return [s.to_json() for s in strokes]


def strokes_from_json(data: Sequence[dict]) -> list[Stroke]:
    if not isinstance(data, (list, tuple)):
        raise AnnotationError("strokes: expected a list of strokes")
    return [Stroke.from_json(d, index=i) for i, d in enumerate(data)]


# -- what the strokes mean -------------------------------------------------------------------

@dataclass(frozen=True)
class Direction:
    """One phrase for the prompt, editable; ``strokes`` are the indexes it came from."""

    text: str
    strokes: tuple[int, ...] = ()
    enabled: bool = True


@dataclass
class ProposedKeyframe:
    index: int            # frame index on the 24 fps grid
    image: np.ndarray     # same shape and dtype as the annotated frame
    note: str


@dataclass
class AnnotationProposal:
    """What the artist sees before sending: directions to edit and keyframes to keep or drop."""

    base_prompt: str
    directions: list[Direction]
    keyframes: list[ProposedKeyframe]
    strokes: list[Stroke] = field(default_factory=list)  # the strokes in force (after erasing)
    camera: Optional[str] = None                          # the camera move read, if any

    @property
    def prompt(self) -> str:
        """The base prompt with the enabled directions appended as sentences."""
        base = self.base_prompt.strip()
        sentences = [_sentence(d.text) for d in self.directions if d.enabled and d.text.strip()]
        if not sentences:
            return base
        if base and base[-1] not in ".!?":
            base += "."
        return " ".join(([base] if base else []) + sentences)

    def to_json(self, keyframe_paths: Optional[Sequence[str]] = None) -> dict:
        """The proposal without pixels (give the saved images' paths to list them)."""
        frames = []
        for i, kf in enumerate(self.keyframes):
            item = {"index": kf.index, "note": kf.note}
            if keyframe_paths is not None:
                item["path"] = str(keyframe_paths[i])
            frames.append(item)
        return {"prompt": self.prompt, "base_prompt": self.base_prompt,
                "directions": [{"text": d.text, "strokes": list(d.strokes), "enabled": d.enabled}
                               for d in self.directions],
                "camera": self.camera, "keyframes": frames,
                "strokes": strokes_to_json(self.strokes)}


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


@dataclass(frozen=True)
class _Subject:
    centre: tuple[float, float]   # normalised
    radius: float                 # frame heights
    label: str
    pin: Optional[int]            # index of the pin stroke that named it


@dataclass(frozen=True)
class _Motion:
    stroke: int
    path: tuple[tuple[float, float], ...]   # normalised, tail first
    subject: _Subject


def in_force(strokes: Sequence[Stroke]) -> list[tuple[int, Stroke]]:
    """The strokes left after erasing, with their indexes in the caller's list."""
    kept: list[tuple[int, Stroke]] = []
    for i, stroke in enumerate(strokes):
        if stroke.kind != "erase":
            kept.append((i, stroke))
            continue
        reach = stroke.radius or DEFAULT_ERASE_RADIUS
        # a pin is touched anywhere on its disc, a line anywhere along it
        kept = [(j, s) for j, s in kept
                if _distance_to(s, stroke.points) > reach + (s.radius if s.kind == "pin" else 0.0)]
    return kept


def _distance_to(stroke: Stroke, points: Sequence[tuple[float, float]]) -> float:
    """The nearest distance between a stroke's polyline and any of ``points`` (normalised)."""
    best = math.inf
    line = stroke.points if len(stroke.points) > 1 else stroke.points * 2
    for px, py in points:
        for (ax, ay), (bx, by) in zip(line[:-1], line[1:]):
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
            best = min(best, math.hypot(ax + t * dx - px, ay + t * dy - py))
    return best


def _units(point: tuple[float, float], aspect: float) -> np.ndarray:
    return np.array([point[0] * aspect, point[1]])


def _path_length(path: Sequence[tuple[float, float]], aspect: float) -> float:
    pts = [_units(p, aspect) for p in path]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:])))


def _point_along(path: Sequence[tuple[float, float]], fraction: float, aspect: float) -> tuple[float, float]:
    """The point a fraction of the way along a path, by length (normalised coordinates)."""
    if fraction <= 0 or len(path) == 1:
        return path[0]
    total = _path_length(path, aspect)
    if total == 0:
        return path[-1]
    goal, walked = fraction * total, 0.0
    for a, b in zip(path[:-1], path[1:]):
        step = float(np.linalg.norm(_units(b, aspect) - _units(a, aspect)))
        if walked + step >= goal and step > 0:
            t = (goal - walked) / step
            return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        walked += step
    return path[-1]


def _motions(kept: list[tuple[int, Stroke]], aspect: float) -> tuple[list[_Motion], list[_Subject]]:
    pins = [(i, s) for i, s in kept if s.kind == "pin"]
    used: set[int] = set()
    motions: list[_Motion] = []
    for i, stroke in kept:
        if stroke.kind not in ("arrow", "freehand"):
            continue
        path = (stroke.points[0], stroke.points[-1]) if stroke.kind == "arrow" else stroke.points
        if _path_length(path, aspect) < MIN_MOVE:
            continue
        tail = _units(path[0], aspect)
        near = [(float(np.linalg.norm(_units(p.points[0], aspect) - tail)), j, p) for j, p in pins
                if float(np.linalg.norm(_units(p.points[0], aspect) - tail))
                <= (p.radius or DEFAULT_SUBJECT_RADIUS) + 0.05]
        if near:
            _, j, pin = min(near, key=lambda t: t[0])
            used.add(j)
            subject = _Subject(pin.points[0], pin.radius or DEFAULT_SUBJECT_RADIUS, pin.label, j)
        else:
            subject = _Subject(path[0], DEFAULT_SUBJECT_RADIUS, "", None)
        motions.append(_Motion(i, tuple(path), subject))
    still = [_Subject(p.points[0], p.radius or DEFAULT_SUBJECT_RADIUS, p.label, j)
             for j, p in pins if j not in used]
    return motions, still


# -- camera moves ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Camera:
    kind: str                    # push | pull | pan | roll
    text: str
    centre: np.ndarray           # frame-height units
    zoom: float = 1.0            # content scale at the end
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2))  # content shift at the end
    angle: float = 0.0           # content rotation at the end (radians, clockwise on screen)


def _camera(motions: list[_Motion], aspect: float) -> Optional[_Camera]:
    if len(motions) < 3:
        return None
    tails = np.array([_units(m.path[0], aspect) for m in motions])
    heads = np.array([_units(m.path[-1], aspect) for m in motions])
    vectors = heads - tails
    lengths = np.linalg.norm(vectors, axis=1)
    units = vectors / lengths[:, None]
    spread = float(np.linalg.norm(tails.max(axis=0) - tails.min(axis=0)))
    frame_centre = np.array([aspect / 2, 0.5])

    # all parallel and spread over the frame: the frame moves, so the camera does (opposite)
    mean_unit = units.mean(axis=0)
    if np.linalg.norm(mean_unit) > 0.9 and spread > 0.35:
        shift = vectors.mean(axis=0)
        return _Camera("pan", _pan_text(shift), frame_centre, shift=shift)

    centre = tails.mean(axis=0)
    if spread < 0.1:
        # a burst: every arrow leaves (nearly) one point, in different directions
        outward = heads - centre
        outward_unit = outward / np.maximum(np.linalg.norm(outward, axis=1), 1e-9)[:, None]
        if np.linalg.norm(mean_unit) < 0.5 and ((units * outward_unit).sum(axis=1) > 0.7).all():
            text = "camera pushes in"
            if np.linalg.norm(centre - frame_centre) > 0.15:
                text += f" toward the {_place_words(centre / np.array([aspect, 1.0]))}"
            # with no tail distances to scale by, read the arrows as the motion of content
            # half a frame-height out: that far, an arrow's length is the zoom's growth
            return _Camera("push", text, centre, zoom=1.0 + float(lengths.mean()) / 0.5)
        return None
    radial = tails - centre
    radial_len = np.linalg.norm(radial, axis=1)
    if (radial_len < 1e-6).any():
        return None
    radial_unit = radial / radial_len[:, None]
    along = (units * radial_unit).sum(axis=1)
    across = radial_unit[:, 0] * units[:, 1] - radial_unit[:, 1] * units[:, 0]
    if (along > 0.7).all() or (along < -0.7).all():
        grow = float(np.mean(np.linalg.norm(heads - centre, axis=1) / radial_len))
        pushing = grow > 1.0
        text = "camera pushes in" if pushing else "camera pulls back"
        offset = centre - frame_centre
        if pushing and np.linalg.norm(offset) > 0.15:
            text += f" toward the {_place_words(centre / np.array([aspect, 1.0]))}"
        return _Camera("push" if pushing else "pull", text, centre, zoom=max(0.2, grow))
    if (across > 0.7).all() or (across < -0.7).all():
        clockwise = bool((across > 0).all())  # y is down: positive cross is clockwise on screen
        angle = float(np.mean(lengths / radial_len)) * (1 if clockwise else -1)
        # the content turning one way is the camera rolling the other way
        text = f"camera rolls {'counter-clockwise' if clockwise else 'clockwise'}"
        return _Camera("roll", text, centre, angle=angle)
    return None


def _pan_text(shift: np.ndarray) -> str:
    dx, dy = float(shift[0]), float(shift[1])
    parts = []
    if abs(dx) >= 0.5 * abs(dy):
        parts.append(f"pans {'left' if dx > 0 else 'right'}")
    if abs(dy) >= 0.5 * abs(dx):
        parts.append(f"tilts {'up' if dy > 0 else 'down'}")
    return "camera " + " and ".join(parts)


# -- words for subjects ----------------------------------------------------------------------

def _place_words(point: Sequence[float]) -> str:
    x, y = float(point[0]), float(point[1])
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    row = "upper" if y < 1 / 3 else "lower" if y > 2 / 3 else ""
    if row and col:
        return f"{row} {col}"
    if col:
        return col
    if row:
        return "top" if row == "upper" else "bottom"
    return "centre"


def _subject_name(subject: _Subject, several: bool) -> str:
    if subject.label:
        return subject.label
    if not several:
        return "the subject"
    place = _place_words(subject.centre)
    return {"centre": "the subject in the centre", "left": "the subject on the left",
            "right": "the subject on the right", "top": "the subject at the top",
            "bottom": "the subject at the bottom"}.get(place, f"the subject at the {place}")


def _move_words(motion: _Motion, aspect: float) -> str:
    path = motion.path
    start, end = _units(path[0], aspect), _units(path[-1], aspect)
    net = end - start
    length = _path_length(path, aspect)
    distance = float(np.linalg.norm(net))
    if len(path) > 2 and length > 0.2 and distance < 0.25 * length:
        return "circles around and comes back"
    angle = math.degrees(math.atan2(-net[1], net[0]))  # 0 = right, 90 = up
    across = abs(path[-1][0] - path[0][0]) >= 0.4
    sector = int(((angle + 22.5) % 360) // 45)
    words = [
        "moves left to right across the frame" if across else "moves to the right",
        "rises toward the upper right",
        "rises",
        "rises toward the upper left",
        "moves right to left across the frame" if across else "moves to the left",
        "descends toward the lower left",
        "descends",
        "descends toward the lower right",
    ][sector]
    if len(path) > 2 and length > 1.25 * distance:
        words += " along a curving path"
    return words


# -- pictures --------------------------------------------------------------------------------

def _box_blur(a: np.ndarray, k: int) -> np.ndarray:
    """A separable box blur of odd size ``k`` with edge extension (three passes ~ a gaussian)."""
    if k <= 1:
        return a
    r = k // 2
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = a.shape[axis]
        hi = np.take(c, np.arange(k, k + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        a = ((hi - lo) / k).astype(np.float32)
    return a


def _disc(h: int, w: int, centre_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """A soft-edged disc mask (1 inside, falling to 0 over the outer fifth)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xx - centre_px[0], yy - centre_px[1])
    edge = max(1.0, 0.2 * radius_px)
    return np.clip((radius_px - d) / edge, 0.0, 1.0)


def _fill_holes(image: np.ndarray, hole: np.ndarray, radius_px: float) -> np.ndarray:
    """Fill masked areas from their surroundings (normalised convolution: blur the rest)."""
    keep = (1.0 - hole)[..., None]
    k = int(radius_px) * 2 + 1
    num, den = image * keep, keep
    for _ in range(3):
        num, den = _box_blur(num, k), _box_blur(den, k)
    background = num / np.maximum(den, 1e-6)
    return image * keep + background * (1.0 - keep)


def _sample(image: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Bilinear lookup at source coordinates, edges extended."""
    h, w = image.shape[:2]
    sx = np.clip(sx, 0, w - 1)
    sy = np.clip(sy, 0, h - 1)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _camera_frame(image: np.ndarray, camera: _Camera, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    px = h  # frame-height units -> pixels
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = camera.centre[0] * px, camera.centre[1] * px
    zoom = 1.0 + fraction * (camera.zoom - 1.0)
    angle = fraction * camera.angle
    shift_x, shift_y = fraction * camera.shift[0] * px, fraction * camera.shift[1] * px
    # output pixel -> where it comes from: undo the shift, the rotation, then the zoom
    x, y = xx - cx - shift_x, yy - cy - shift_y
    cos, sin = math.cos(-angle), math.sin(-angle)
    x, y = x * cos - y * sin, x * sin + y * cos
    return _sample(image, x / zoom + cx, y / zoom + cy)


def _subjects_frame(image: np.ndarray, motions: list[_Motion], fraction: float,
                    aspect: float, background: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    out = background.copy()
    for motion in motions:
        sx, sy = motion.subject.centre[0] * w, motion.subject.centre[1] * h
        radius = motion.subject.radius * h
        to = _point_along(motion.path, fraction, aspect)
        dx, dy = (to[0] - motion.path[0][0]) * w, (to[1] - motion.path[0][1]) * h
        mask = _disc(h, w, (sx + dx, sy + dy), radius)[..., None]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        moved = _sample(image, xx - dx, yy - dy)
        out = out * (1.0 - mask) + moved * mask
    return out


def keyframe_indexes(steps: int, duration: str = "5s") -> list[int]:
    """``steps`` indexes after 0, evenly spaced to the last slot of the 24 fps grid."""
    last = int(duration.rstrip("s")) * FPS
    return [round(last * k / steps) for k in range(1, steps + 1)]


def propose(strokes: Sequence[Stroke], frame: np.ndarray, prompt: str, *, duration: str = "5s",
            steps: int = 2, include_start: bool = True) -> AnnotationProposal:
    """Strokes on ``frame`` (HxWxC array) -> the keyframes and directions to propose.

    ``steps`` keyframes after the start show the motion's progress (the last at the final slot
    of the grid); ``include_start`` adds the annotated frame itself at index 0.
    """
    if frame.ndim != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
        raise AnnotationError(f"the annotated frame must be an HxWxC image, not shape {frame.shape}")
    if duration not in ("5s", "10s"):
        raise AnnotationError(f"duration {duration!r}: 5s or 10s")
    strokes = [validate(s, index=i) for i, s in enumerate(strokes)]
    h, w = frame.shape[:2]
    aspect = w / h
    kept = in_force(strokes)
    motions, still = _motions(kept, aspect)
    camera = _camera(motions, aspect)

    directions: list[Direction] = []
    if camera is not None:
        directions.append(Direction(camera.text, tuple(m.stroke for m in motions)))
    else:
        several = len(motions) + len(still) > 1
        for motion in motions:
            name = _subject_name(motion.subject, several)
            strokes_used = (motion.stroke,) + ((motion.subject.pin,) if motion.subject.pin is not None else ())
            directions.append(Direction(f"{name} {_move_words(motion, aspect)}", strokes_used))
    for subject in still:
        name = _subject_name(subject, len(motions) + len(still) > 1)
        directions.append(Direction(f"{name} stays in place", (subject.pin,)))

    original = frame.astype(np.float32)
    keyframes: list[ProposedKeyframe] = []
    if include_start:
        keyframes.append(ProposedKeyframe(0, frame.copy(), "the annotated frame"))
    if motions:
        if camera is None:
            hole = np.zeros((h, w), dtype=np.float32)
            for motion in motions:
                hole = np.maximum(hole, _disc(h, w, (motion.subject.centre[0] * w,
                                                     motion.subject.centre[1] * h),
                                              motion.subject.radius * h))
            background = _fill_holes(original, hole, max(2.0, DEFAULT_SUBJECT_RADIUS * h))
        for index in keyframe_indexes(steps, duration):
            fraction = index / (int(duration.rstrip("s")) * FPS)
            if camera is not None:
                image = _camera_frame(original, camera, fraction)
                note = f"{camera.text}: {round(100 * fraction)}% of the way"
            else:
                image = _subjects_frame(original, motions, fraction, aspect, background)
                note = f"subjects {round(100 * fraction)}% along their paths"
            keyframes.append(ProposedKeyframe(index, _like(image, frame), note))
    return AnnotationProposal(prompt, directions, keyframes, [s for _, s in kept],
                              camera.text if camera is not None else None)


def _like(image: np.ndarray, frame: np.ndarray) -> np.ndarray:
    if np.issubdtype(frame.dtype, np.integer):
        info = np.iinfo(frame.dtype)
        return np.clip(np.rint(image), info.min, info.max).astype(frame.dtype)
    return image.astype(frame.dtype)


__all__ = ["Stroke", "Direction", "ProposedKeyframe", "AnnotationProposal", "AnnotationError",
           "propose", "validate", "in_force", "strokes_to_json", "strokes_from_json",
           "keyframe_indexes", "KINDS"]

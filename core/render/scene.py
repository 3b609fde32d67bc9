"""A procedural scene from a prompt: the offline renderer's picture, in scene-linear ACEScg.

The prompt's words choose the time of day (sky, sun or moon, how bright the lamps are), the
setting (water, city, desert, forest, mountains, space), the palette and the subjects (a
balloon, a car with headlights, a boat, lanterns, birds, an orb), and how things move (drift,
race, a pan or a push-in). Everything random comes from one generator seeded by a sha256 of
(seed, prompt), so the same request renders the same pixels in any process, and the frames
are a pure function of their index (they can be rendered out of order, on several threads).

Values are physically plausible HDR: sky around 0.2-1, a sun disc at tens (up to ~50, about
8 stops over mid-grey), lamps and headlights 5-40, specular glints on water and spheres above
1. Each frame is built from row and column vectors broadcast into 2D, and objects only touch
their bounding box, so a 360p frame costs a few milliseconds.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

COLOURS = {
    "red": (0.80, 0.06, 0.05), "crimson": (0.6, 0.02, 0.06), "orange": (0.9, 0.32, 0.04),
    "yellow": (0.85, 0.7, 0.06), "gold": (0.85, 0.55, 0.12), "golden": (0.85, 0.55, 0.12),
    "green": (0.1, 0.55, 0.12), "teal": (0.04, 0.45, 0.42), "cyan": (0.05, 0.6, 0.75),
    "blue": (0.05, 0.15, 0.8), "purple": (0.35, 0.08, 0.6), "violet": (0.4, 0.1, 0.7),
    "pink": (0.9, 0.3, 0.45), "magenta": (0.8, 0.05, 0.55), "white": (0.85, 0.85, 0.85),
    "silver": (0.6, 0.62, 0.65), "black": (0.02, 0.02, 0.02), "brown": (0.3, 0.15, 0.06),
}

TIMES = {
    "night": ("night", "midnight", "moon", "moonlit", "neon", "stars", "starry", "dark"),
    "sunset": ("sunset", "dusk", "evening", "golden", "twilight"),
    "dawn": ("dawn", "sunrise", "morning", "daybreak"),
    "overcast": ("overcast", "fog", "foggy", "mist", "misty", "rain", "rainy", "storm", "grey"),
    "noon": ("noon", "midday", "sunny", "day", "afternoon", "bright", "summer"),
}
SETTINGS = {
    "space": ("space", "galaxy", "nebula", "orbit", "planet", "cosmos"),
    "water": ("ocean", "sea", "harbour", "harbor", "lake", "river", "beach", "water", "bay",
              "coast", "waves"),
    "city": ("city", "street", "skyline", "building", "buildings", "downtown", "alley",
             "town", "rooftop", "tokyo", "neon"),
    "desert": ("desert", "dune", "dunes", "sand", "canyon"),
    "forest": ("forest", "tree", "trees", "jungle", "woods", "meadow", "field", "grass"),
    "mountain": ("mountain", "mountains", "peak", "peaks", "valley", "hills", "snow"),
}
SUBJECTS = {
    "balloon": ("balloon", "balloons"),
    "car": ("car", "cars", "truck", "taxi", "vehicle"),
    "boat": ("boat", "boats", "ship", "sailboat", "yacht"),
    "lantern": ("lantern", "lanterns", "lamp", "lamps", "streetlight", "candle", "fire"),
    "bird": ("bird", "birds", "gull", "gulls", "seagull", "crow"),
    "orb": ("orb", "ball", "sphere", "moon", "planet", "drone", "robot", "person", "figure"),
}
FAST = ("fast", "race", "racing", "rush", "rushing", "speed", "speeding", "chase", "flying")
SLOW = ("slow", "slowly", "drift", "drifting", "float", "floating", "calm", "gentle", "still")
PUSH = ("push", "zoom", "dolly", "approach", "closer")
PAN = ("pan", "panning", "tracking", "track", "sweep", "orbit", "orbiting")
STATIC = ("static", "locked", "lockoff", "tripod")


def prompt_digest(prompt: str, seed: Optional[int]) -> bytes:
    """The scene's identity: never Python's hash(), which changes per process."""
    return hashlib.sha256(f"genplate-offline/1\0{seed or 0}\0{prompt}".encode("utf-8")).digest()


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def _first(words: list[str], table: dict[str, tuple[str, ...]]) -> Optional[str]:
    for w in words:
        for key, names in table.items():
            if w in names:
                return key
    return None


@dataclass
class Subject:
    kind: str
    colour: np.ndarray
    x0: float           # world position at t=0 (x in screen heights, y 0 = top of frame)
    y0: float
    vx: float           # world units per shot
    vy: float
    size: float         # radius in screen heights
    bob: float          # vertical wobble amplitude
    phase: float


@dataclass
class Sky:
    zenith: np.ndarray
    horizon: np.ndarray
    sun_colour: np.ndarray
    sun_intensity: float
    sun_radius: float
    glow: float
    ambient: float      # how much light the ground and subjects get
    lamps: float        # how bright emitters are against this sky


@dataclass
class Scene:
    """Everything a frame needs, decided once from the prompt and seed."""

    width: int
    height: int
    frames: int
    loop: bool
    time_of_day: str
    setting: str
    sky: Sky
    horizon: float
    sun_x: float
    sun_y: float
    pan: float
    push: float
    tilt: float
    palette: np.ndarray
    subjects: list[Subject] = field(default_factory=list)
    # Textures sampled by world position (seeded, smooth noise in 0..1).
    detail: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    cells: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    grain: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    profile_seed: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    vignette: Optional[np.ndarray] = field(default=None, repr=False)

    # -- the camera ------------------------------------------------------------------------

    def t(self, index: int) -> float:
        """Shot time 0..1 for a frame; for a loop, a full cycle that returns to frame 0."""
        if self.frames <= 1:
            return 0.0
        if self.loop:
            return (index % (self.frames - 1)) / (self.frames - 1)
        return index / (self.frames - 1)

    def camera(self, t: float) -> tuple[float, float, float]:
        """(centre x, centre y, zoom) in world units; periodic when the shot loops."""
        if self.loop:
            s = math.sin(2 * math.pi * t)
            return self.pan * 0.5 * s, 0.5 + self.tilt * s, 1.0 + self.push * 0.5 * (1 - math.cos(2 * math.pi * t))
        ease = t * t * (3 - 2 * t)  # a move that eases in and out, like a real dolly
        return self.pan * ease, 0.5 + self.tilt * ease, 1.0 + self.push * ease

    # -- a frame ---------------------------------------------------------------------------

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 (H, W, 3) scene-linear ACEScg."""
        return np.ascontiguousarray(self.planes(index).transpose(1, 2, 0))

    def planes(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 planes (3, H, W): the renderer's own layout.

        Planar because numpy is slow at broadcasting a colour over a trailing axis of 3 (its
        inner loop is 3 long): per-channel operations on contiguous planes were 3x faster.
        """
        W, H = self.width, self.height
        if self.loop and self.frames > 1:
            index %= self.frames - 1  # the last frame of a loop IS the first
        t = self.t(index)
        cx, cy, zoom = self.camera(t)
        aspect = W / H
        xs = cx + ((np.arange(W, dtype=np.float32) + 0.5) / W - 0.5) * np.float32(aspect / zoom)
        ys = cy + ((np.arange(H, dtype=np.float32) + 0.5) / H - 0.5) / np.float32(zoom)
        px = 1.0 / (H * zoom)  # one pixel in world units
        sky = self.sky

        img = np.empty((3, H, W), dtype=np.float32)
        hz = self.horizon
        n_sky = int((ys < hz).sum())

        # Sky: a gradient by row, plus stars where it is dark enough.
        if n_sky:
            s = np.clip(ys[:n_sky] / np.float32(hz), 0.0, 1.0) ** np.float32(1.6)
            for c in range(3):
                rows = sky.zenith[c] * (1 - s) + sky.horizon[c] * s
                img[c, :n_sky] = rows[:, None]
            if self.time_of_day == "night" or self.setting == "space":
                tex = self._sample(self.grain, xs * 0.25, ys[:n_sky] * 0.25, 900.0)
                stars = np.clip(tex - np.float32(0.996), 0.0, None) * np.float32(900.0)
                img[:, :n_sky] += stars

        # The far silhouette (skyline, mountains, dunes, treeline) standing on the horizon.
        if self.setting != "space":
            self._silhouette(img, xs, ys, n_sky)

        # Ground below the horizon.
        if n_sky < H:
            self._ground(img, xs, ys, n_sky, t, px)

        # The sun (or moon) and its glow, over everything in the sky half and haze below.
        self._sun(img, xs, ys, n_sky)

        for subject in self.subjects:
            self._subject(img, subject, xs, ys, t, px)

        # Lens: a soft vignette and grain that moves every frame (seeded by the frame index).
        th, tw = self.grain.shape
        tile = np.roll(self.grain, ((index * 37) % th, (index * 91) % tw), axis=(0, 1))
        grain = np.tile(tile, (H // th + 1, W // tw + 1))[:H, :W]
        grain = grain * np.float32(0.06) + np.float32(0.97)
        grain *= self._vignette()
        img *= grain
        return img

    def _vignette(self) -> np.ndarray:
        if self.vignette is None:
            W, H = self.width, self.height
            vx = 1.0 - 0.25 * ((np.arange(W, dtype=np.float32) / W - 0.5) * 2) ** 2
            vy = 1.0 - 0.2 * ((np.arange(H, dtype=np.float32) / H - 0.5) * 2) ** 2
            self.vignette = np.outer(vy, vx).astype(np.float32)
        return self.vignette

    def _sample(self, tex: np.ndarray, xs: np.ndarray, ys: np.ndarray, scale: float) -> np.ndarray:
        th, tw = tex.shape
        ix = (np.floor(xs * scale).astype(np.int64)) % tw
        iy = (np.floor(ys * scale).astype(np.int64)) % th
        return tex[iy[:, None], ix[None, :]]

    def _profile(self, xs: np.ndarray) -> np.ndarray:
        """Silhouette height above the horizon for each column (world units)."""
        p = self.profile_seed
        if self.setting == "city":
            cell = np.floor(xs * 9.0).astype(np.int64)
            return (0.05 + 0.22 * p[cell % p.size]).astype(np.float32)
        if self.setting == "mountain":
            h = 0.12 + 0.07 * np.sin(xs * 3.1 + p[0] * 6) + 0.04 * np.sin(xs * 7.3 + p[1] * 6) \
                + 0.015 * np.sin(xs * 23.0 + p[2] * 6)
            return h.astype(np.float32)
        if self.setting == "forest":
            return (0.05 + 0.03 * np.abs(np.sin(xs * 40.0 + p[3] * 6))
                    + 0.02 * np.sin(xs * 5.0)).astype(np.float32)
        if self.setting == "desert":
            return (0.03 + 0.02 * np.sin(xs * 2.3 + p[4] * 6)).astype(np.float32)
        return (0.01 + 0.008 * np.sin(xs * 11.0 + p[5] * 6)).astype(np.float32)

    def _silhouette(self, img, xs, ys, n_sky) -> None:
        if not n_sky:
            return
        top = self.horizon - self._profile(xs)
        first = int(np.searchsorted(ys[:n_sky], float(top.min())))
        if first >= n_sky:
            return
        band = ys[first:n_sky]
        mask = band[:, None] >= top[None, :]
        sky = self.sky
        base = (self.palette[1] * 0.25 + 0.05) * sky.ambient
        if self.setting == "mountain":
            base = base + np.float32(0.2 * sky.ambient)
        region = img[:, first:n_sky]
        for c in range(3):
            region[c][mask] = base[c]
        if self.setting == "city":
            # Lit windows: a grid by column and row, each window on or off from a seeded table.
            wx = (xs * 90.0) % 1.0
            wy = (band * 60.0) % 1.0
            cells = self.cells
            on = cells[(np.floor(band * 60.0).astype(np.int64) % cells.shape[0])[:, None],
                       (np.floor(xs * 90.0).astype(np.int64) % cells.shape[1])[None, :]]
            lit = mask & (on > 0.55) & ((wx > 0.25) & (wx < 0.75))[None, :] & \
                ((wy > 0.3) & (wy < 0.75))[:, None]
            level = (0.5 + on[lit]) * np.float32(sky.lamps)
            for c, warm in enumerate((1.0, 0.62, 0.3)):
                region[c][lit] = level * np.float32(warm)

    def _ground(self, img, xs, ys, n_sky, t, px) -> None:
        sky = self.sky
        band = ys[n_sky:]
        depth = np.clip(band - self.horizon, 1e-3, None)  # 0 at the horizon, larger nearby
        region = img[:, n_sky:]
        if self.setting == "water":
            # Water reflects the sky's mirrored gradient; the waves (texture that scrolls with
            # time) break it up, and glints of the sun sit in a column under it.
            mirror = np.clip((self.horizon - depth) / self.horizon, 0, 1) ** 1.6
            waves = self._sample(self.detail, xs * 3.0 + t * 0.3, 1.0 / (depth + 0.02) * 0.05 + t * 0.2, 60.0)
            ripple = waves * np.float32(0.9 * 0.55) + np.float32(0.55 * 0.55)
            spread = 0.04 + depth * 0.8
            # The glint column is smooth: computed on every 4th row and column, then repeated.
            coarse = np.exp(-((xs[None, ::4] - np.float32(self.sun_x)) / spread[::4, None]) ** 2)
            column = np.repeat(np.repeat(coarse, 4, axis=0), 4, axis=1)[:len(band), :len(xs)]
            glint = np.clip(waves - np.float32(0.62), 0, None)
            glint *= column
            glint *= np.float32(sky.sun_intensity * 1.6)
            for c in range(3):
                refl = (sky.zenith[c] * (1 - mirror) + sky.horizon[c] * mirror).astype(np.float32)
                np.multiply(ripple, refl[:, None], out=region[c])
                region[c] += glint * sky.sun_colour[c]
        else:
            ground = {
                "desert": (0.55, 0.36, 0.18), "forest": (0.06, 0.18, 0.04),
                "mountain": (0.5, 0.52, 0.55), "city": (0.08, 0.08, 0.09),
                "space": (0.12, 0.1, 0.09),
            }.get(self.setting, (0.18, 0.2, 0.1))
            tex = self._sample(self.detail, xs * 2.0, 1.0 / (depth + 0.03) * 0.1, 40.0)
            shade = ((0.6 + 0.4 * np.clip(depth / 0.4, 0, 1)) * sky.ambient).astype(np.float32)
            light = tex * np.float32(0.8) + np.float32(0.6)
            light *= shade[:, None]
            streak = None
            if self.setting == "city":
                # Wet street: lamps reflected as streaks when it is dark.
                streak = np.clip(self._sample(self.cells, xs * 0.5, band * 0.01, 300.0) - np.float32(0.93), 0, None)
                streak *= np.float32(sky.lamps * 0.12)
            for c, (g, lamp) in enumerate(zip(ground, (1.0, 0.7, 0.4))):
                np.multiply(light, np.float32(g), out=region[c])
                if streak is not None:
                    region[c] += streak * np.float32(lamp)

    def _sun(self, img, xs, ys, n_sky) -> None:
        sky = self.sky
        if sky.sun_intensity <= 0:
            return
        r = sky.sun_radius
        # Glow as two Gaussians: separable, so each is one outer product of a row and a column
        # (a radial exp() over the whole frame cost more than the rest of the frame).
        dx2 = (xs - np.float32(self.sun_x)) ** 2
        dy2 = (ys - np.float32(self.sun_y)) ** 2
        a, b = np.float32(r * 4.0) ** 2, np.float32(0.35) ** 2
        glow = np.outer(np.exp(-dy2 / a) * np.float32(sky.glow), np.exp(-dx2 / a))
        glow += np.outer(np.exp(-dy2 / b) * np.float32(sky.glow * 0.12), np.exp(-dx2 / b))
        # The disc itself only where it can be (its bounding box), hidden below the horizon.
        i0, i1 = np.searchsorted(xs, [self.sun_x - r * 1.2, self.sun_x + r * 1.2])
        j0, j1 = np.searchsorted(ys, [self.sun_y - r * 1.2, self.sun_y + r * 1.2])
        j1 = min(j1, n_sky)
        if i0 < i1 and j0 < j1:
            d = np.sqrt(dy2[j0:j1, None] + dx2[None, i0:i1])
            disc = np.clip((r - d) / np.float32(r * 0.15) + np.float32(0.5), 0.0, 1.0)
            glow[j0:j1, i0:i1] += disc * np.float32(sky.sun_intensity)
        for c in range(3):
            img[c] += glow * sky.sun_colour[c]

    def _string(self, img, x, top, length, xs, ys, px) -> None:
        """A balloon's string: a dark line hanging (slightly slanted) below it."""
        i0, i1 = np.searchsorted(xs, [x - length * 0.1 - 2 * px, x + 2 * px])
        j0, j1 = np.searchsorted(ys, [top, top + length])
        if i0 >= i1 or j0 >= j1:
            return
        bx = xs[i0:i1][None, :] - np.float32(x)
        by = ys[j0:j1][:, None] - np.float32(top)
        line = np.abs(bx + by * 0.1) < px * 1.1
        for c in range(3):
            img[c, j0:j1, i0:i1][line] = np.float32(0.03)

    def _subject(self, img, s: Subject, xs, ys, t, px) -> None:
        ang = 2 * math.pi * (t + s.phase) if self.loop else 2 * math.pi * (t * 1.5 + s.phase)
        if self.loop:
            x = s.x0 + s.vx * 0.5 * math.sin(2 * math.pi * t)
        else:
            x = s.x0 + s.vx * t
        y = s.y0 + s.vy * (math.sin(2 * math.pi * t) if self.loop else t) + s.bob * math.sin(ang)
        r = s.size
        if s.kind == "balloon":
            self._string(img, x, y + r * 1.2, r * 2.5, xs, ys, px)
        # Bounding box (world units either side of the centre); pixels outside are untouched.
        half_w, half_h = {"balloon": (1.05, 1.3), "orb": (1.05, 1.05), "car": (2.6, 1.2),
                          "boat": (1.6, 1.7), "lantern": (6.0, 6.0), "bird": (1.1, 0.7)}[s.kind]
        i0, i1 = np.searchsorted(xs, [x - r * half_w - 2 * px, x + r * half_w + 2 * px])
        j0, j1 = np.searchsorted(ys, [y - r * half_h - 2 * px, y + r * half_h + 2 * px])
        if i0 >= i1 or j0 >= j1:
            return
        bx = xs[i0:i1][None, :] - np.float32(x)
        by = ys[j0:j1][:, None] - np.float32(y)
        patch = img[:, j0:j1, i0:i1]
        sky = self.sky
        edge = max(px * 1.5, 1e-6)

        def fill(mask, colour) -> None:
            for c in range(3):
                patch[c][mask] = colour[c]

        def add(field, colour) -> None:
            for c in range(3):
                patch[c] += field * np.float32(colour[c])

        if s.kind in ("balloon", "orb"):
            ry = r * (1.2 if s.kind == "balloon" else 1.0)
            d = np.sqrt((bx / r) ** 2 + (by / ry) ** 2)
            cover = np.clip((1.0 - d) * np.float32(r / edge) + np.float32(0.5), 0.0, 1.0)
            # Lambert from the sun's side plus a specular spot: a sphere catching the light.
            lx = np.float32(np.sign(self.sun_x - x) * 0.5 or 0.5)
            nz = np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0))
            lam = np.clip(0.25 + 0.75 * (nz * 0.7 + (bx / r) * lx * 0.7 - (by / ry) * 0.3), 0.05, None)
            lam *= np.float32(0.25 + 0.9 * sky.ambient)
            sd = np.sqrt(((bx / r) - lx * 0.45) ** 2 + ((by / ry) + 0.4) ** 2)
            spec = np.exp(-(sd / 0.12) ** 2) * np.float32(max(sky.sun_intensity * 0.4, 8.0))
            keep = 1.0 - cover
            for c in range(3):
                patch[c] *= keep
                patch[c] += (lam * s.colour[c] + spec) * cover
        elif s.kind == "car":
            body = (np.abs(bx) < r * 1.6) & (by > -r * 0.35) & (by < r * 0.35)
            cabin = (np.abs(bx + r * 0.1) < r * 0.9) & (by > -r * 0.8) & (by <= -r * 0.35)
            paint = s.colour * np.float32(0.3 + 0.7 * sky.ambient)
            fill(body, paint)
            fill(cabin, paint * np.float32(0.35))
            head = (bx - r * 1.55) ** 2 + (by + r * 0.05) ** 2
            add(np.exp(-head / (r * 0.14) ** 2) * np.float32(40.0), (1.0, 0.95, 0.85))
            add(np.exp(-((bx + r * 1.6) ** 2 + by ** 2) / (r * 0.12) ** 2) * np.float32(12.0),
                (1.0, 0.05, 0.02))
        elif s.kind == "boat":
            hull = (by > 0) & (by < r * 0.4) & (np.abs(bx) < r * 1.5 - by * 1.2)
            sail = (bx > -r * 0.05) & (by < 0) & (by > -r * 1.6) & (bx < (by + r * 1.6) * 0.6)
            fill(hull, s.colour * np.float32(0.2 + 0.6 * sky.ambient))
            white = np.float32(0.2 + 0.9 * sky.ambient)
            fill(sail, (white, white, white))
        elif s.kind == "lantern":
            d2 = (bx ** 2 + by ** 2) / np.float32(r * r)
            core = np.clip((1.0 - np.sqrt(d2)) * np.float32(r / edge) + np.float32(0.5), 0.0, 1.0)
            core *= np.float32(30.0)
            core += np.exp(-d2 / 4.0) * np.float32(1.5 + sky.lamps * 0.2)
            add(core, (1.0, 0.55, 0.18))
        elif s.kind == "bird":
            flap = math.sin(ang * 6) * 0.5
            wing = (np.abs(by + np.abs(bx) * flap) < r * 0.12) & (np.abs(bx) < r)
            fill(wing, (0.02, 0.02, 0.02))


# -- building a scene from words -------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, h: int, w: int, falloff: float) -> np.ndarray:
    white = rng.standard_normal((h, w)).astype(np.float32)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(white) / (f ** falloff)
    spec[0, 0] = 0
    out = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return out


def _sky_for(time_of_day: str, setting: str) -> Sky:
    a = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
    if setting == "space":
        return Sky(a(0.0, 0.0, 0.002), a(0.004, 0.003, 0.01), a(1.0, 0.98, 0.95), 50.0, 0.05, 2.0, 0.6, 10.0)
    if time_of_day == "noon":
        return Sky(a(0.12, 0.28, 0.85), a(0.65, 0.78, 1.0), a(1.0, 0.96, 0.88), 50.0, 0.045, 3.0, 1.0, 3.0)
    if time_of_day == "sunset":
        return Sky(a(0.1, 0.12, 0.35), a(1.1, 0.45, 0.15), a(1.0, 0.5, 0.2), 30.0, 0.06, 4.0, 0.45, 6.0)
    if time_of_day == "dawn":
        return Sky(a(0.15, 0.18, 0.45), a(0.9, 0.55, 0.5), a(1.0, 0.72, 0.55), 22.0, 0.055, 3.0, 0.55, 5.0)
    if time_of_day == "overcast":
        return Sky(a(0.35, 0.37, 0.4), a(0.6, 0.62, 0.64), a(0.9, 0.92, 0.95), 0.0, 0.1, 0.0, 0.6, 4.0)
    # night: a moon, and lamps that carry the picture
    return Sky(a(0.002, 0.004, 0.012), a(0.02, 0.03, 0.06), a(0.7, 0.8, 1.0), 4.0, 0.035, 0.5, 0.08, 20.0)


def build_scene(prompt: str, seed: Optional[int], width: int, height: int, frames: int, *,
                loop: bool = False) -> Scene:
    digest = prompt_digest(prompt, seed)
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    words = _words(prompt)
    time_of_day = _first(words, TIMES) or ("noon", "sunset", "dawn", "night", "overcast")[digest[8] % 5]
    setting = _first(words, SETTINGS) or ("water", "city", "desert", "forest", "mountain")[digest[9] % 5]
    sky = _sky_for(time_of_day, setting)

    named = [np.array(COLOURS[w], dtype=np.float32) for w in words if w in COLOURS]
    randoms = [rng.uniform(0.05, 0.85, 3).astype(np.float32) for _ in range(3)]
    palette = np.stack((named + randoms)[:3])

    kinds: list[str] = []
    for w in words:
        for kind, names in SUBJECTS.items():
            if w in names and kind not in kinds:
                kinds.append(kind)
    if not kinds:
        kinds = ["orb"]
    plural = any(w.endswith("s") and any(w in n for n in SUBJECTS.values()) for w in words)

    speed = 1.0
    if any(w in FAST for w in words):
        speed = 3.0
    elif any(w in SLOW for w in words):
        speed = 0.5
    pan = float(rng.uniform(0.15, 0.35)) * (1 if digest[10] % 2 else -1)
    push = float(rng.uniform(0.08, 0.2))
    if any(w in PUSH for w in words):
        push, pan = 0.45, pan * 0.3
    if any(w in PAN for w in words):
        pan, push = pan * 2.5, push * 0.3
    if any(w in STATIC for w in words):
        pan = push = 0.0
    tilt = float(rng.uniform(-0.03, 0.03))

    horizon = {"space": 0.92, "water": 0.62, "city": 0.7, "mountain": 0.68}.get(setting, 0.66)
    sun_low = time_of_day in ("sunset", "dawn")
    sun_y = horizon - (0.06 if sun_low else float(rng.uniform(0.3, 0.45)))
    sun_x = float(rng.uniform(-0.5, 0.5)) + pan * 0.5

    subjects: list[Subject] = []
    colour_i = 0
    for kind in kinds[:4]:
        count = 1 + (int(rng.integers(1, 3)) if plural else 0)
        if kind == "bird":
            count += 2
        for k in range(count):
            colour = palette[colour_i % len(palette)]
            colour_i += 1
            if kind == "car":
                y0, size = horizon + 0.12 + 0.05 * k, 0.05
                vx = 0.6 * speed * (1 if k % 2 == 0 else -1)
            elif kind == "boat":
                y0, size = horizon + 0.05 + 0.04 * k, 0.06
                vx = 0.15 * speed
            elif kind == "bird":
                y0, size = float(rng.uniform(0.15, horizon - 0.2)), 0.02
                vx = 0.4 * speed
            elif kind == "lantern":
                y0, size = float(rng.uniform(0.3, horizon)), 0.015
                vx = 0.05 * speed
            else:
                y0, size = float(rng.uniform(0.3, horizon - 0.1)), float(rng.uniform(0.06, 0.11))
                vx = 0.12 * speed
            x0 = pan * 0.5 + float(rng.uniform(-0.6, 0.6)) - vx * 0.5
            vy = -0.08 * speed if kind == "balloon" else 0.0
            subjects.append(Subject(kind, colour, x0, y0, vx, vy, size,
                                    bob=0.01 if kind in ("balloon", "boat", "lantern", "orb") else 0.003,
                                    phase=float(rng.uniform(0, 1))))

    return Scene(
        width=width, height=height, frames=frames, loop=loop, time_of_day=time_of_day,
        setting=setting, sky=sky, horizon=horizon, sun_x=sun_x, sun_y=sun_y, pan=pan,
        push=push, tilt=tilt, palette=palette, subjects=subjects,
        detail=_smooth_noise(rng, 256, 1024, 1.2),
        cells=rng.uniform(0, 1, (64, 256)).astype(np.float32),
        grain=rng.uniform(0, 1, (256, 256)).astype(np.float32),
        profile_seed=rng.uniform(0, 1, 997).astype(np.float32),
    )

"""Keyframe images for tests that need a real picture file (a shot list's keyframes, a start
frame): random RGB, 8-bit PNG, written with OIIO as a user's paint package would."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio


def write_png(path: Path, seed: int = 1, size: tuple[int, int] = (64, 36)) -> Path:
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(width, height, 3, "uint8"))
    out.write_image(pixels)
    out.close()
    return path

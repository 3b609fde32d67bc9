"""The Y'CbCr -> R'G'B' step, done by OCIO as the first op of the clip's processor.

swscale is not trusted with it (color.md §2.3): it falls back to BT.601 on untagged files,
scales white to 0.996 and clips super-whites even into float. So swscale only upsamples chroma
(4:2:0 -> 4:4:4, matrix-free) and this matrix, with the range offsets in front, is fused into
the OCIO processor, where it runs at full precision and never clips.

Code values: an ``code_bits``-bit signal stored in ``plane_bits``-bit planes, as swscale leaves
it: a 10-bit signal in 16-bit planes is shifted left by 6 (measured: Y 940 -> 60160, full-range
1023 -> 65472), so every level scales by 2**(plane_bits - code_bits).
"""
from __future__ import annotations

from dataclasses import dataclass

import PyOpenColorIO as ocio

from .errors import ColourError

# Kr, Kb of each matrix (ITU-R BT.709, BT.2020 non-constant luminance, BT.601).
MATRICES = {"bt709": (0.2126, 0.0722), "bt2020nc": (0.2627, 0.0593), "bt601": (0.299, 0.114)}


@dataclass(frozen=True)
class YCbCrCoding:
    """How a clip's code values encode R'G'B'."""

    matrix: str  # a key of MATRICES
    full_range: bool
    code_bits: int  # the signal's bit depth (8, 10, 12)
    plane_bits: int  # the planes handed to OCIO (8 or 16)

    def describe(self) -> str:
        return (f"{self.matrix} {'full' if self.full_range else 'limited'} range, "
                f"{self.code_bits}-bit")

    def key(self) -> tuple:
        return (self.matrix, self.full_range, self.code_bits, self.plane_bits)


def coefficients(coding: YCbCrCoding) -> tuple[list[list[float]], list[float]]:
    """(M, off) with R'G'B' = M . (code - off), codes in plane units."""
    if coding.matrix not in MATRICES:
        raise ColourError(f"unknown Y'CbCr matrix {coding.matrix!r}: use one of "
                          f"{', '.join(MATRICES)}")
    if coding.plane_bits < coding.code_bits:
        raise ColourError(f"{coding.code_bits}-bit codes do not fit {coding.plane_bits}-bit planes")
    kr, kb = MATRICES[coding.matrix]
    kg = 1.0 - kr - kb
    a = [[1.0, 0.0, 2.0 * (1.0 - kr)],
         [1.0, -2.0 * (1.0 - kb) * kb / kg, -2.0 * (1.0 - kr) * kr / kg],
         [1.0, 2.0 * (1.0 - kb), 0.0]]
    n = coding.code_bits
    shift = float(2 ** (coding.plane_bits - n))
    if coding.full_range:
        y_scale = c_scale = (2 ** n - 1) * shift
        off = [0.0, 2 ** (n - 1) * shift, 2 ** (n - 1) * shift]
    else:
        unit = 2 ** (n - 8) * shift
        y_scale, c_scale = 219.0 * unit, 224.0 * unit
        off = [16.0 * unit, 128.0 * unit, 128.0 * unit]
    scales = (1.0 / y_scale, 1.0 / c_scale, 1.0 / c_scale)
    m = [[a[r][c] * scales[c] for c in range(3)] for r in range(3)]
    return m, off


def matrix_transform(coding: YCbCrCoding) -> ocio.MatrixTransform:
    """The OCIO MatrixTransform for planes of this coding given as integer input.

    OCIO normalises integer input first (UINT8 by 1/255, UINT16 by 1/65535), so the 3x3 part is
    scaled back by that maximum and the offsets are in 0-1 units.
    """
    m, off = coefficients(coding)
    top = float(2 ** coding.plane_bits - 1)
    m44 = [0.0] * 16
    for r in range(3):
        for c in range(3):
            m44[r * 4 + c] = m[r][c] * top
    m44[15] = 1.0
    offset = [-sum(m[r][c] * off[c] for c in range(3)) for r in range(3)] + [0.0]
    mt = ocio.MatrixTransform()
    mt.setMatrix(m44)
    mt.setOffset(offset)
    return mt


def bit_depth(plane_bits: int):
    if plane_bits == 8:
        return ocio.BIT_DEPTH_UINT8
    if plane_bits == 16:
        return ocio.BIT_DEPTH_UINT16
    raise ColourError(f"planes of {plane_bits} bits are not supported (8 or 16)")

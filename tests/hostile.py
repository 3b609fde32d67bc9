"""Hostile deliveries, built byte by byte: what a misbehaving or malicious service could send.

None of these is a record of Luma's documented behaviour (shared/docs/luma-agents-api.md):
they are test fixtures, each the smallest file that reproduces one failure of issue #14, and
the emulator (luma_emulator.py) serves them when a test asks.
"""
from __future__ import annotations

import io
import struct
import zipfile


def huge_exr(width: int = 30000, height: int = 30000, *, pad: int = 12 * 1024 * 1024) -> bytes:
    """A scanline EXR whose header declares ``width`` x ``height`` RGB half with no pixel data.

    OpenImageIO refuses to open an EXR that claims far more than its file holds ("probably a
    corrupt or malicious header"), so ``pad`` zeros make it big enough to be opened: it then
    reports 30000 x 30000 and reading it would allocate 5 GB. Only a check of the header
    before the read keeps that allocation from happening.
    """
    def attribute(name: str, kind: str, data: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(data)) + data

    # channels sorted by name as OpenEXR keeps them; type 1 = HALF, sampling 1 x 1
    channels = b"".join(c.encode() + b"\0" + struct.pack("<iBBBBii", 1, 0, 0, 0, 0, 1, 1)
                        for c in "BGR") + b"\0"
    box = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = b"\x76\x2f\x31\x01" + struct.pack("<I", 2)
    header += attribute("channels", "chlist", channels)
    header += attribute("compression", "compression", bytes([3]))  # ZIP, 16 lines a chunk
    header += attribute("dataWindow", "box2i", box)
    header += attribute("displayWindow", "box2i", box)
    header += attribute("lineOrder", "lineOrder", bytes([0]))
    header += attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0))
    header += attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
    header += attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))
    header += b"\0"
    chunks = -(-height // 16)
    end = len(header) + 8 * chunks
    return header + struct.pack(f"<{chunks}Q", *([end] * chunks)) + bytes(pad)


def zip_bomb(total: int = 32 * 1024 * 1024, entries: int = 2, name: str = "ray3_aces") -> bytes:
    """A deflated ZIP of EXR-named entries of zeros: honest sizes, a ratio near 1000:1."""
    buf = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(entries):
            with archive.open(f"{name}.{i:04d}.exr", "w", force_zip64=True) as entry:
                for _ in range(total // entries // len(chunk)):
                    entry.write(chunk)
    return buf.getvalue()


def with_empty_frame(frames: list[tuple[str, bytes]], index: int) -> list[tuple[str, bytes]]:
    """The frames of a package with frame ``index`` a zero-byte file under its own name."""
    return [(name, b"" if i == index else data) for i, (name, data) in enumerate(frames)]


def with_truncated_frame(frames: list[tuple[str, bytes]], index: int) -> list[tuple[str, bytes]]:
    """The frames of a package with frame ``index`` cut short: its header whole, its pixels
    not (what a damaged transfer or a broken export leaves; the ZIP around it stays valid)."""
    return [(name, data[: len(data) // 2] if i == index else data)
            for i, (name, data) in enumerate(frames)]


__all__ = ["huge_exr", "zip_bomb", "with_empty_frame", "with_truncated_frame"]

"""The one file hash of the engine: what verifies a download, names an upload once (the Files
API dedupes by it) and records a take's inputs and sources in take.json."""
from __future__ import annotations

import hashlib
import os


def file_sha256(path: os.PathLike | str, *, chunk: int = 4 << 20) -> str:
    """The sha256 of a file, read in chunks (hashlib releases the GIL on each)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()

"""What ingest is asked to do (``IngestOptions``) and how it refuses (``IngestError``): the
same options for a generated take and for `genplate ingest`, checked before any frame is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from genplate.ocio import sources as S

from . import exr as X
from . import outputs as O
from . import video as V


class IngestError(RuntimeError):
    """The delivered files cannot become a take; the message says which file and why."""


class DeliveryDamaged(IngestError):
    """Delivered files that came whole but do not decode (``paths``): downloading them again
    may mend them, so a job fetches them once more before it stops."""

    def __init__(self, message: str, paths) -> None:
        super().__init__(message)
        self.paths = [str(p) for p in paths]


@dataclass
class IngestOptions:
    first_frame: int = 1001
    sdr_mode: str = "display-match"  # display-match | texture (README, Colour)
    sdr_range: str = S.SDR_EXTEND  # SDR display-match beyond 16-235: extend | clip
    working_space: Optional[str] = None  # default: the config's scene_linear role (ACEScg)
    config: Optional[str] = None  # path or ocio:// URI; default $OCIO, host, built-in
    compression: str = X.DEFAULT_COMPRESSION
    pixel_type: str = "half"  # half | float
    hdr_mode: str = "display-match"  # PQ/HLG: inverse HDR view, or texture (100 nits = 1.0)
    assume: str = V.DEFAULT_ASSUME  # what tags an untagged video lacks are taken to be
    source_tags: Optional[str] = None  # overrides the stream's tags ("bt709 full srgb")
    peak_nits: Optional[int] = None  # HDR view to invert (1000/2000/4000); None: from the
    # stream's MaxCLL / mastering metadata, raised when the content is brighter (ingest/hdr.py)
    exact_table: bool = True  # display-match memoised per Y'CbCr triple (bit-identical result)
    host_config: Optional[str] = None  # the config of the host that asked (Nuke, Resolve)
    workers: Optional[int] = None  # default: one per core
    thumbnail_width: int = 480
    outputs: tuple = ()  # extra outputs (outputs.OUTPUTS): aces-archive, dpx10, ...
    # A missing, empty or unreadable frame of an EXR delivery is published as a gap (kept in
    # the numbering, recorded in take.json) instead of refusing the take.
    allow_gaps: bool = False

    def check(self) -> None:
        if self.sdr_mode not in S.SDR_MODES:
            raise IngestError(f"sdr_mode {self.sdr_mode!r}: use {' or '.join(S.SDR_MODES)}")
        if self.sdr_range not in S.SDR_RANGES:
            raise IngestError(f"sdr_range {self.sdr_range!r}: use {' or '.join(S.SDR_RANGES)}")
        if self.hdr_mode not in S.SDR_MODES:
            raise IngestError(f"hdr_mode {self.hdr_mode!r}: use {' or '.join(S.SDR_MODES)}")
        if self.pixel_type not in X.PIXEL_TYPES:
            raise IngestError(f"pixel_type {self.pixel_type!r}: use half or float")
        if self.first_frame < 0:
            raise IngestError(f"first_frame {self.first_frame}: frame numbers start at 0 or more")
        try:
            self.outputs = O.check_outputs(self.outputs)
            X.check_compression(self.compression)
            V.parse_tags(self.assume)
            if self.source_tags:
                V.parse_tags(self.source_tags)
        except (X.ExrError, V.VideoTagError, O.OutputError) as exc:
            raise IngestError(str(exc)) from None

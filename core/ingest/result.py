"""What ingest answers: the files it was given (``SourceFile``) and what it made of them
(``IngestResult``), in the shapes take.json records ("frames", "colour", "sources").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional

from genplate.ocio import config as ocfg
from genplate.ocio import sources as S


@dataclass
class SourceFile:
    path: Path
    kind: str
    bytes: int
    sha256: str = ""
    used: bool = False
    archive: Optional[str] = None  # the zip it came out of (hashed instead of its members)


@dataclass
class IngestResult:
    first: int
    count: int
    fps: Fraction
    width: int
    height: int
    config: ocfg.ConfigInfo
    working_space: str
    chromaticities: Optional[tuple]
    interop_id: Optional[str]
    source_kind: str
    sdr_mode: Optional[str]  # SDR video only
    transform: S.InputTransform
    assumed: list[str]
    sources: list[SourceFile]
    delivery: str  # "video" | "exr"
    compression: str
    pixel_type: str
    timecode: str
    seconds: float
    source_detail: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    # frames published as gaps (--allow-gaps): {"frame", "file", "why"}; none are hidden
    gaps: list[dict] = field(default_factory=list)
    clamped: dict = field(default_factory=dict)  # clamp.WriteGuard.record()
    hdr_peak: Optional[dict] = None  # hdr.HdrPeak.record(): HDR display-match only
    hdr_mode: Optional[str] = None  # HDR video only

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def frames_record(self) -> dict:
        fps = self.fps
        record = {"first": self.first, "last": self.last, "count": self.count,
                  "fps": int(fps) if fps.denominator == 1 else round(float(fps), 3),
                  "fps_rational": [fps.numerator, fps.denominator],
                  "width": self.width, "height": self.height, "timecode": self.timecode}
        if self.gaps:  # the numbering runs first..last; these frame files are absent
            record["gaps"] = list(self.gaps)
        return record

    def colour_record(self) -> dict:
        return {
            "config": self.config.label,
            "config_uri": self.config.uri,
            "config_origin": self.config.origin,
            "config_cache_id": self.config.cache_id,
            "working_space": self.working_space,
            "chromaticities": list(self.chromaticities) if self.chromaticities else None,
            "interop_id": self.interop_id,
            "source_kind": self.source_kind,
            "sdr_mode": self.sdr_mode,
            "hdr_mode": self.hdr_mode,
            "sdr_range": self.transform.sdr_range,
            "mode": self.transform.mode,
            "input_transform": self.transform.describe(),
            "display": self.transform.display,
            "view": self.transform.view,
            "source_space": self.transform.src_space,
            "route": self.transform.route,
            "hdr_peak": self.hdr_peak,
            "clamped": dict(self.clamped),
            "source": self.source_detail,
            "assumed": list(self.assumed),
            "warnings": list(self.warnings),
            "pixel_type": self.pixel_type,
            "compression": self.compression,
            "outputs": list(self.outputs),
        }

    def sources_record(self) -> list[dict]:
        out = []
        for s in self.sources:
            entry = {"path": str(s.path), "kind": s.kind, "bytes": s.bytes,
                     "sha256": s.sha256 or None, "used": s.used}
            if s.archive:
                entry["archive"] = s.archive
            out.append(entry)
        return out

"""What a published take says about itself: where and how a delivery becomes a take
(``PublishSpec``, recorded with each job so a resume publishes it the same way) and take.json,
the provenance record, one schema for generated and ingested takes alike (``publish_record``).
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass
from typing import Optional

from .. import __version__


@dataclass
class PublishSpec:
    """Where and how a job's delivery becomes a take."""

    root: str
    shot: str
    name: str
    kind: str = "take"
    first_frame: int = 1001
    sdr_mode: str = "display-match"
    working_space: Optional[str] = None
    config: Optional[str] = None
    compression: str = "zip:1"
    parent: Optional[dict] = None  # the draft a master was promoted from
    strokes: Optional[list] = None  # annotation strokes that shaped the request
    pixel_type: str = "half"
    hdr_mode: str = "display-match"
    assume: Optional[str] = None  # what an untagged video is taken to be
    source_tags: Optional[str] = None  # overrides the delivery's own colour tags
    peak_nits: Optional[int] = None
    outputs: tuple = ()  # extra outputs beside the EXR frames (archive, dpx, review movies)
    allow_gaps: bool = False  # publish a missing/unreadable EXR frame as a recorded gap
    sdr_range: str = "extend"  # display-match SDR beyond 16-235: extend | clip

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PublishSpec":
        data = dict(data)
        data["outputs"] = tuple(data.get("outputs") or ())
        return cls(**data)

    def ingest_options(self):
        """How ingest turns this take's delivery into frames (the same for a generation and
        for `genplate ingest`)."""
        from ..ingest.options import IngestOptions
        from ..ingest.video import DEFAULT_ASSUME

        return IngestOptions(
            first_frame=self.first_frame, sdr_mode=self.sdr_mode,
            working_space=self.working_space, config=self.config, compression=self.compression,
            pixel_type=self.pixel_type, hdr_mode=self.hdr_mode,
            assume=self.assume or DEFAULT_ASSUME, source_tags=self.source_tags,
            peak_nits=self.peak_nits, outputs=tuple(self.outputs), allow_gaps=self.allow_gaps,
            sdr_range=self.sdr_range)


def publish_record(spec: PublishSpec, staging, result, *, job_id: str, backend: str,
                   remote_id: Optional[str], request: Optional[dict], inputs: dict,
                   estimate_usd: float, times: dict) -> dict:
    """take.json for any take, generated or ingested from files: one schema for both."""
    frames = result.frames_record()
    frames["pattern"] = staging.pattern
    return {
        "schema": "genplate.take/1",
        "shot": spec.shot,
        "name": spec.name,
        "version": staging.version,
        "kind": spec.kind,
        "job_id": job_id,
        "backend": backend,
        "remote_id": remote_id,
        "request": request,
        "inputs": inputs,
        "estimate_usd": estimate_usd,
        "times": {**times, "published": iso_time(time.time())},
        "engine": {"name": "genplate", "version": __version__},
        "frames": frames,
        "colour": result.colour_record(),
        "sources": result.sources_record(),
        "exr": {"compression": spec.compression, "pixel_type": result.pixel_type},
        "thumbnail": "thumbnail.png",
        "parent": spec.parent,
        "strokes": spec.strokes,
        "scores": None,
    }


def iso_time(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")

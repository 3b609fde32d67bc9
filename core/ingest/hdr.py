"""Which HDR view a PQ or HLG delivery goes through, and why (take.json ``colour.hdr_peak``).

The view is picked before the first frame is converted: ``--peak-nits`` if given, else the
stream's HDR10 metadata (MaxCLL, else the mastering display's peak), else 1000 nits. The
decode thread then measures every frame's brightest signal (genplate.ocio.peak) before handing
it to the workers; a frame brighter than the view holds stops the conversion, and the clip is
converted again from its first frame through the smallest view that holds the new peak
(``ViewTooSmall``). So the metadata wins unless the content exceeds it, content without
metadata gets the view it needs, and the price is paid only by clips that needed it: a
measure per frame (a few ms, in the decode thread) and, for a clip whose first frames are
dimmer than a later one, the frames converted before it. Only ``--peak-nits`` is never
overruled; a content peak above it, or above the largest view (4000 nits), is reported.
"""
from __future__ import annotations

from typing import Optional

from genplate.ocio import peak as P
from genplate.ocio import sources as S


class ViewTooSmall(Exception):
    """A frame is brighter than the chosen view holds: convert again through ``view``."""

    def __init__(self, view: int, nits: float) -> None:
        super().__init__(f"content at {nits:.0f} nits needs the {view}-nit view")
        self.view, self.nits = view, nits


def metadata_nits(metadata: dict) -> Optional[float]:
    """The peak HDR10 metadata claims: MaxCLL (what the content reaches), else the mastering
    display's peak (what it could reach)."""
    return metadata.get("max_cll") or metadata.get("mastering_max_nits") or None


class HdrPeak:
    """The view of one HDR clip: chosen, watched frame by frame, and recorded."""

    def __init__(self, probe, option_nits: Optional[int], mode: str) -> None:
        self.metadata = metadata_nits(probe.hdr_metadata)
        self.option = option_nits
        if option_nits:
            self.view, self.chosen_by = int(option_nits), "option"
        elif self.metadata:
            self.view, self.chosen_by = P.view_for(self.metadata), "metadata"
        else:
            self.view, self.chosen_by = P.HDR_VIEWS_NITS[0], "content"
        # texture mode reads HDR as absolute light (100 nits = 1.0): no view, nothing to measure
        self.meter = P.SignalPeak(probe.coding, probe.source_kind) \
            if mode == S.DISPLAY_MATCH else None
        self.conversions = 1

    def watch(self, y, cb, cr) -> None:
        """One frame's 4:4:4 planes, before they are converted (the decode thread)."""
        if self.meter is None:
            return
        self.meter.frame(y, cb, cr)
        nits = self.meter.nits
        if self.option is None and not P.holds(self.view, nits):
            view = P.view_for(nits)
            if view > self.view:
                raise ViewTooSmall(view, nits)

    def grow(self, exc: ViewTooSmall) -> None:
        self.view, self.chosen_by = exc.view, "content"
        self.conversions += 1

    def notes(self) -> tuple[list[str], list[str]]:
        """(assumed, warnings) for take.json."""
        assumed, warnings = [], []
        if self.meter is None:
            return assumed, warnings
        nits = self.meter.nits
        if self.metadata is None and self.option is None:
            assumed.append(f"HDR peak: no MaxCLL or mastering metadata; the view was chosen from "
                           f"the content's measured peak ({nits:.0f} nits)")
        if not P.holds(self.view, nits):
            why = "--peak-nits" if self.chosen_by == "option" else "the largest HDR view"
            warnings.append(f"the content peaks at {nits:.0f} nits, above the {self.view}-nit "
                            f"view ({why}): brighter values come back as that view's white")
        return assumed, warnings

    def record(self) -> Optional[dict]:
        if self.meter is None:
            return None
        return {"measured_nits": round(self.meter.nits, 1),
                "metadata_nits": self.metadata, "view_nits": self.view,
                "chosen_by": self.chosen_by, "conversions": self.conversions}

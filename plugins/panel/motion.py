"""Drawing motion from the panel: open the annotation window and put what it proposes into
the request.

The window itself (annotation.py) knows nothing of the panel; this glue hands it the panel's
context (prompt, duration, where to keep keyframes) and frames to draw on, and turns its "Use"
into the request's prompt, keyframes and strokes file.
"""
from __future__ import annotations

import json
import os
import tempfile


class MotionMixin:
    """Drawing motion for GenplatePanel (a mixin: the panel holds the state and the Qt base).

    Uses the panel's adapter, client, _annotation, _strokes_file, the request fields (prompt,
    keyframes, duration, loop, start_frame, end_frame, root, shot, strokes_row, strokes_note),
    selected_take and _say.
    """

    def open_annotation(self) -> None:
        """The canvas window (non-modal: a modal dialog inside a host's loop freezes it)."""
        if self._annotation is None:
            from .annotation import AnnotationWindow

            grab = self._grab_for_canvas if self.adapter.can_grab_frames() else None
            self._annotation = AnnotationWindow(self.client, self._annotation_context, grab=grab,
                                                take_frame=self._selected_thumbnail)
            self._annotation.used.connect(self._use_annotation)
            self._annotation.resize(820, 760)
        window = self._annotation
        if not window.canvas.frame_path:
            for path in (self.start_frame.path.text().strip(), self._selected_thumbnail()):
                if path and os.path.isfile(path) and window.set_frame(path):
                    break
        window.show()
        window.raise_()
        window.activateWindow()

    def _annotation_context(self) -> dict:
        root, shot = self.root.text().strip(), self.shot.text().strip()
        if root and os.path.isabs(os.path.expanduser(root)) and shot:
            # Beside the shot's takes: a queued job reads these keyframes later, and the take
            # that comes of them names them in its provenance.
            out = os.path.join(os.path.expanduser(root), shot, "annotations")
        else:
            out = os.path.join(tempfile.gettempdir(), "genplate-annotations")
        return {"prompt": self.prompt.toPlainText().strip(),
                "duration": self.duration.currentData(), "out_dir": out}

    def _grab_for_canvas(self) -> str:
        paths = self.adapter.grab_frames(["start"])
        return paths[0] if paths else ""

    def _selected_thumbnail(self) -> str:
        take = self.selected_take()
        return str(take.get("thumbnail") or "") if take else ""

    def _use_annotation(self, text: str) -> None:
        used = json.loads(text)
        self.prompt.setPlainText(used.get("prompt") or "")
        self.keyframes.setText(", ".join(used.get("keyframe_args") or []))
        dropped = []
        # The annotated frame is keyframe 0 now; the engine refuses keyframes with start/end
        # frames or a loop, so those give way (said, not silently).
        for name, picker in (("start frame", self.start_frame), ("end frame", self.end_frame)):
            if picker.path.text().strip():
                picker.path.clear()
                dropped.append(name)
        if self.loop.isChecked():
            self.loop.setChecked(False)
            dropped.append("loop")
        self._set_strokes(str(used.get("strokes_file") or ""), int(used.get("strokes") or 0))
        self._say("the drawn motion is in the request" +
                  (f" (cleared: {', '.join(dropped)}: keyframes replace them)" if dropped else ""))

    def _set_strokes(self, path: str, count: int = 0) -> None:
        self._strokes_file = path
        self.strokes_row.setVisible(bool(path))
        self.strokes_note.setText(f"motion drawn: {count} stroke(s) sent with the request"
                                  if path else "")
        self.strokes_note.setToolTip(path)


__all__ = ["MotionMixin"]

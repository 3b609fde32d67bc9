"""Delivered files become EXR frames in the working space: `convert` is the door
(``ingest(paths, staging, options)``), `video` and `exr` read and write the media, `outputs`
makes the extra outputs (archive, DPX, review movies). It knows nothing of backends or jobs."""

"""Delivered files become EXR frames in the working space: `convert` is the door
(``ingest(paths, staging, options)``), `video` and `exr` read and write the media, `outputs`
makes the extra outputs (archive, DPX, review movies), `hdr` picks an HDR clip's view, `clamp`
keeps inf and NaN out of what is written. It knows nothing of backends or jobs."""

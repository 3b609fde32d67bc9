"""Takes and their versions on disk: reserving a version, publishing it atomically, finding it
again (`take`), and handing takes to hosts without the host (`export_nuke`, `export_otio`)."""

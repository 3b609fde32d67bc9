"""The OCIO config genplate falls back to: OCIO's built-in ACES studio config, pinned by its
full name. Never ``ocio://studio-config-latest``: OpenImageIO's bundled OCIO and PyOpenColorIO
resolve "latest" to different configs (color.md §1.1)."""

BUILTIN_CONFIG = "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6"

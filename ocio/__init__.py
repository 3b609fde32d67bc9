"""Colour for genplate: which OCIO config is in force, what colour space a delivered file is in,
and processors that take it to the working space.

This package never imports ``genplate.core``: it is the colour science, the engine uses it.
"""
from __future__ import annotations

from .builtin import BUILTIN_CONFIG
from .errors import ColourError, ConfigError

__all__ = ["BUILTIN_CONFIG", "ColourError", "ConfigError"]

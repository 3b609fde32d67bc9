"""The two ways colour work fails, each reported by the CLI as one line (by class name)."""
from __future__ import annotations


class ColourError(RuntimeError):
    """A colour conversion cannot be done as asked; the message names what to change."""


class ConfigError(ColourError):
    """The OCIO config cannot be loaded, or lacks a colour space, role, display or view we need."""

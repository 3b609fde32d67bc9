"""genplate inside Nuke: the generate node, Read insertion, and the docked panel.

Importing this package imports nothing from Nuke; the modules that need ``nuke`` import it
themselves, so `genplate install` (outside Nuke) can locate this folder safely.
"""
from __future__ import annotations


def generate(node=None, **kwargs):
    """Generate from a genplate node and wait for the take (works under ``nuke -t``)."""
    from .headless import generate as _generate

    return _generate(node, **kwargs)


__all__ = ["generate"]

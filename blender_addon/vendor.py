"""Make the bundled `motion_core` importable.

The extension zip carries the pure-Python engine in `lib/motion_core` (see build_addon.py); from a source checkout
the repository's own `motion_core` is used. Only numpy-only parts of motion_core are imported in Blender's process.
"""

import os
import sys

LIB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")


def motion_core_parent() -> str:
    """The folder that contains the `motion_core` package (to put on a worker's PYTHONPATH)."""
    if os.path.isdir(os.path.join(LIB_DIR, "motion_core")):
        return LIB_DIR
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # source checkout: the repository root


def ensure_motion_core() -> None:
    """Put motion_core's parent folder on sys.path once (the bundled copy wins over any other install)."""
    parent = motion_core_parent()
    if parent not in sys.path:
        sys.path.insert(0, parent) if parent == LIB_DIR else sys.path.append(parent)

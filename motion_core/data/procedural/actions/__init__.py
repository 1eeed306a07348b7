"""The action kinds of the procedural library, one module per category; importing the package registers them all.

    registry    ActionSpec, ACTION_KINDS and the `action` / `gesture` decorators that fill it
    locomotion  walks, runs, side steps, turns, curves, skipping (gerunds let gestures layer over them)
    gestures    upper-body arm gestures
    jumps       jumps in place and forward, hops, jumping jacks
    legs        kicks, squats, lunges, kneeling, sitting down
    whole_body  standing idle, bows, turning around, spins, dance, looking around, stumbling

Seeded clips depend on the order of the kinds only within locomotion and within gestures (the random mix's layered
bases and gestures), and each of those lives in one module.
"""

from . import locomotion, gestures, jumps, legs, whole_body  # noqa: F401 (importing registers the kinds)
from .registry import ACTION_KINDS, SIDE_NAMES, ActionSpec, action, gesture

__all__ = ["ACTION_KINDS", "SIDE_NAMES", "ActionSpec", "action", "gesture"]

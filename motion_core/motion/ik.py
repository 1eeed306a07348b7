"""Analytic two-bone inverse kinematics (hip -> knee -> ankle, shoulder -> elbow -> wrist). numpy only.

Conventions: positions in metres, any frame (the solver is frame-free); shapes broadcast over leading axes.
Used by the procedural body (`motion_core.data.procedural.body`) and the foot-contact cleanup (`foot_cleanup`).
"""

import numpy as np


def two_bone_ik(base, target, pole, upper, lower):
    """Place the middle joint of two-bone chains. base, target, pole: (..., 3); upper, lower: lengths (..., 1).

    Returns (middle (..., 3), end (..., 3)); the end equals the target when it is reachable, otherwise the closest
    reachable point on the base->target line. The middle joint bends toward `pole` (a direction; only its part
    perpendicular to base->target counts). |middle - base| = upper and |end - middle| = lower always.
    """
    axis = target - base
    dist = np.sqrt((axis * axis).sum(-1, keepdims=True))
    unit = axis / np.maximum(dist, 1e-9)
    dist = np.clip(dist, np.abs(upper - lower) + 1e-4, upper + lower - 1e-5)
    along = (upper * upper - lower * lower + dist * dist) / (2.0 * dist)
    radius = np.sqrt(np.maximum(upper * upper - along * along, 0.0))
    bend = pole - (pole * unit).sum(-1, keepdims=True) * unit
    bend /= np.maximum(np.sqrt((bend * bend).sum(-1, keepdims=True)), 1e-9)
    middle = base + along * unit + radius * bend
    return middle, base + dist * unit

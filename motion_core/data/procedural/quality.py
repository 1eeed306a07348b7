"""Physical plausibility measures for generated clips (used by the tests and the corpus statistics).

All take joints (T, 22, 3) in metres, Y-up, 20 fps, HumanML3D joint order, with the floor at y = 0.
"""

import numpy as np

from motion_core.motion.skeleton import PARENTS

FOOT_JOINTS = (7, 10, 8, 11)  # left ankle, left ball, right ankle, right ball
TOE_JOINTS = (10, 11)


def foot_skate_ratio(joints, contact_height=0.03, slide_per_frame=0.01):
    """Fraction of ground-contact frames where the contacting ball of the foot slides.

    A foot is in contact at frame t when its ball joint is below `contact_height` at t and t+1; it slides when it
    moves more than `slide_per_frame` metres horizontally between them (0.01 m/frame = 0.2 m/s).
    Returns (ratio, mean slide speed in m/s over contact frames).
    """
    toes = joints[:, TOE_JOINTS]                                     # (T, 2, 3)
    low = (toes[:-1, :, 1] < contact_height) & (toes[1:, :, 1] < contact_height)
    slide = np.linalg.norm(toes[1:, :, [0, 2]] - toes[:-1, :, [0, 2]], axis=-1)
    n = low.sum()
    if n == 0:
        return 0.0, 0.0
    return float((slide[low] > slide_per_frame).sum() / n), float(slide[low].mean() * 20.0)


def planted_foot_drift(joints, contact):
    """Largest horizontal per-frame motion (m) of a foot joint while the generator says it is planted.

    contact: (2, T) bool (left, right). Frames where a contact starts or ends are excluded (touchdown / lift).
    """
    worst = 0.0
    for side, (ankle, toe) in enumerate(((7, 10), (8, 11))):
        c = contact[side]
        steady = c[:-1] & c[1:]
        if not steady.any():
            continue
        toe_slide = np.linalg.norm(joints[1:, toe, [0, 2]] - joints[:-1, toe, [0, 2]], axis=-1)
        worst = max(worst, float(toe_slide[steady].max()))
    return worst


def floor_penetration(joints):
    """Lowest joint height (m); negative values pierce the floor."""
    return float(joints[..., 1].min())


def max_joint_speed(joints, fps=20.0):
    """Largest per-joint speed (m/s) over the clip."""
    return float(np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() * fps) if len(joints) > 1 else 0.0


def bone_length_spread(joints):
    """Largest (max - min) of any bone's length over the clip, in metres."""
    vec = joints[:, 1:] - joints[:, np.asarray(PARENTS[1:])]
    lengths = np.linalg.norm(vec, axis=-1)
    return float((lengths.max(0) - lengths.min(0)).max())


def jitter(joints, fps=20.0):
    """Mean joint jerk magnitude (m/s^3), the usual smoothness measure."""
    if len(joints) < 4:
        return 0.0
    jerk = np.diff(joints, n=3, axis=0) * fps ** 3
    return float(np.linalg.norm(jerk, axis=-1).mean())

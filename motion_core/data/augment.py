"""Augmentations of joint-position clips for the training corpus: mirror, speed change, path bending, trimming.

All work on joints (T, 22, 3) in metres, Y-up, +Z forward, HumanML3D 22-joint order, 20 fps, and return new arrays.
Captions are not touched here: mirrored clips get their side words swapped (captions.swap_left_right) and the other
augmentations get captions re-measured from the result (captions.describe_motion), so text always matches motion.
"""

import numpy as np

from motion_core.motion.skeleton import mirror_joints


def mirror(joints):
    """Left/right mirror (x negated, left and right joints swapped), as HumanML3D's `M` files.

    joints: (T, 22, 3) -> (T, 22, 3).
    """
    return np.asarray(mirror_joints(np.asarray(joints)), dtype=np.float32)


def change_speed(joints, factor):
    """Play the clip `factor` times faster (factor > 1 shortens it), resampled by linear interpolation.

    joints: (T, 22, 3) -> (T', 22, 3) with T' = round((T - 1) / factor) + 1. Root speed scales by `factor`; keep
    factor within about 0.75..1.35 so gait stays plausible (cadence and stride change together).
    """
    joints = np.asarray(joints, dtype=np.float32)
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    frames = joints.shape[0]
    if frames < 2:
        raise ValueError(f"need at least 2 frames to change speed, got {frames}")
    new_frames = max(2, int(round((frames - 1) / factor)) + 1)
    times = np.minimum(np.arange(new_frames) * factor, frames - 1)  # (T',) in source frames
    below = np.floor(times).astype(np.int64)
    above = np.minimum(below + 1, frames - 1)
    weight = (times - below).astype(np.float32)[:, None, None]
    return (1.0 - weight) * joints[below] + weight * joints[above]


def bend_path(joints, degrees_per_metre):
    """Curve the walked path: the body turns about the vertical axis in proportion to the distance travelled.

    joints: (T, 22, 3) -> (T, 22, 3). Positive degrees_per_metre bends toward the person's left (+yaw). Each frame is
    rotated rigidly about its own root, so bone lengths and heights are kept; a clip standing in place is unchanged.
    """
    joints = np.asarray(joints, dtype=np.float32)
    root_xz = joints[:, 0, [0, 2]].astype(np.float64)  # (T, 2)
    step = np.diff(root_xz, axis=0)  # (T-1, 2)
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(step, axis=1))])  # (T,)
    yaw = np.radians(degrees_per_metre) * travelled  # (T,)
    cos, sin = np.cos(yaw), np.sin(yaw)

    def rotate(xz, c, s):
        # Rotation about +Y by yaw: x' = x cos + z sin, z' = -x sin + z cos (turns +Z toward +X).
        return np.stack([xz[..., 0] * c + xz[..., 1] * s, -xz[..., 0] * s + xz[..., 1] * c], axis=-1)

    # New root path: each step turned by the yaw reached at its start.
    new_step = rotate(step, cos[:-1], sin[:-1])
    new_root = root_xz[0] + np.concatenate([np.zeros((1, 2)), np.cumsum(new_step, axis=0)])  # (T, 2)
    local = joints[:, :, [0, 2]] - joints[:, :1, [0, 2]]  # (T, 22, 2) pose around the root
    new_local = rotate(local.astype(np.float64), cos[:, None], sin[:, None])
    out = joints.copy()
    out[:, :, [0, 2]] = (new_local + new_root[:, None, :]).astype(np.float32)
    return out


def trim(joints, start_frame, end_frame):
    """Frames [start_frame, end_frame) of a clip. joints: (T, 22, 3) -> (end - start, 22, 3)."""
    if not 0 <= start_frame < end_frame <= len(joints):
        raise ValueError(f"bad trim range {start_frame}..{end_frame} for {len(joints)} frames")
    return np.asarray(joints[start_frame:end_frame], dtype=np.float32)

"""Save 22-joint motion as BVH (for any animation tool) or .npz (for code).

BVH: joints named as `skeleton.JOINT_NAMES`, OFFSETs from the clip's own bone lengths in the T-pose rest directions
(`skeleton.rest_offsets`), rotations from the swing IK (`skeleton.joints_to_rotations`), root position channels
(absolute; root OFFSET 0), Y-up, metres by default (`units="cm"` multiplies lengths by 100), end sites on the feet,
head and wrists. Channels: root `Xposition Yposition Zposition Zrotation Xrotation Yrotation`, others
`Zrotation Xrotation Yrotation`.

NPZ keys:
  joints (T, 22, 3) float32 metres, Y-up, +Z forward;  rotations (T, 22, 4) float32 local quaternions (w, x, y, z);
  root_translation (T, 3) float32 metres;  offsets (22, 3) float32 rest offsets the rotations are meant for;
  fps () float;  joint_names (22,) str;  parents (22,) int;  prompt () str;  seed () int (-1 = none).
  Timelines also: segment_prompts (n,) str; segment_starts (n,) int and segment_ends (n,) int, frames [start, end).
`forward_kinematics(rotations, root_translation, offsets)` reproduces `joints` for rigid skeletons.
"""

from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.bvh import write_bvh
from motion_core.motion.outputs import atomic_output, check_writable
from motion_core.motion.protocol import segment_arrays
from motion_core.motion.rotations import quat_to_euler
from motion_core.motion.skeleton import JOINT_NAMES, PARENTS, REST_DIRECTIONS, joints_to_rotations, rest_offsets

ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
JOINT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
EULER_ORDER = "ZXY"
END_SITE_LENGTH = 0.08  # metres; only draws the leaf bones in viewers, carries no motion
BVH_UNITS = {"m": 1.0, "cm": 100.0}


def _check_joints(joints):
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (len(JOINT_NAMES), 3):
        raise ValueError(f"joints must have shape (T, 22, 3), got {joints.shape}")
    if joints.shape[0] < 1:
        raise ValueError("joints has no frames")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain nan/inf")
    return joints


def motion_to_rotations(joints):
    """Local rotations, root translation and rest offsets for a (T, 22, 3) clip (see skeleton.joints_to_rotations).

    Returns local_quats (T, 22, 4) (w, x, y, z), root (T, 3) metres, offsets (22, 3) metres.
    """
    joints = _check_joints(joints)
    offsets = rest_offsets(joints)
    local_quats, root = joints_to_rotations(joints, offsets=offsets)
    return local_quats, root, offsets


def bvh_tree(joints):
    """The BVH joint tree and motion table for a clip: (names, parents, offsets, channels, motion (T, C)), metres.

    The 22 joints come first in our order, then one end site per leaf joint.
    """
    local_quats, root, offsets = motion_to_rotations(joints)
    parents = list(PARENTS)
    names = list(JOINT_NAMES)
    channels = [ROOT_CHANNELS if p < 0 else JOINT_CHANNELS for p in parents]
    all_offsets = [offsets[j] if parents[j] >= 0 else np.zeros(3) for j in range(len(names))]
    leaves = [j for j in range(len(names)) if j not in parents]
    for leaf in leaves:
        names.append(f"{JOINT_NAMES[leaf]}_end")
        parents.append(leaf)
        channels.append(())
        all_offsets.append(REST_DIRECTIONS[leaf] * END_SITE_LENGTH)
    angles = quat_to_euler(local_quats, EULER_ORDER, degrees=True)  # (T, 22, 3)
    columns = [root, angles[:, 0]] + [angles[:, j] for j in range(1, len(JOINT_NAMES))]
    motion = np.concatenate(columns, axis=1)
    return names, parents, np.asarray(all_offsets), channels, motion


def write_motion_bvh(path, joints, fps=20.0, units="m"):
    """Write a (T, 22, 3) clip (metres, Y-up) as BVH at `fps`."""
    if units not in BVH_UNITS:
        raise MotionError(f"unknown BVH units {units!r}; use one of {', '.join(BVH_UNITS)}")
    names, parents, offsets, channels, motion = bvh_tree(joints)
    scale = BVH_UNITS[units]
    motion = motion.copy()
    motion[:, :3] *= scale
    write_bvh(path, names, parents, offsets * scale, channels, motion, 1.0 / float(fps))


def write_motion_npz(path, joints, fps=20.0, prompt="", seed=None, segments=()):
    """Write a (T, 22, 3) clip as .npz with the keys listed in the module docstring.

    segments: (prompt, first frame, end frame) per timeline segment, or empty (no segment keys are written)."""
    joints = _check_joints(joints)
    local_quats, root, offsets = motion_to_rotations(joints)
    np.savez(
        path,
        **segment_arrays(segments),
        joints=joints.astype(np.float32),
        rotations=local_quats.astype(np.float32),
        root_translation=root.astype(np.float32),
        offsets=offsets.astype(np.float32),
        fps=np.float64(fps),
        joint_names=np.array(JOINT_NAMES),
        parents=np.array(PARENTS, dtype=np.int64),
        prompt=np.array(prompt or ""),
        seed=np.int64(-1 if seed is None else seed),
    )


def save_motion(path, joints, fps=20.0, prompt="", seed=None, units="m", segments=()):
    """Save a (T, 22, 3) clip (metres, Y-up, +Z forward) as .bvh or .npz, chosen by the extension. Returns the path.

    segments: timeline segments (prompt, first frame, end frame), kept in .npz files (BVH has no place for them)."""
    path = Path(path)
    if not fps > 0:
        raise MotionError(f"fps must be positive, got {fps}")
    suffix = path.suffix.lower()
    if suffix not in (".bvh", ".npz"):
        raise MotionError(f"cannot save {path.name}: use a .bvh or .npz file name")
    check_writable(path)
    with atomic_output(path) as tmp:  # a failed write leaves an existing file as it was
        if suffix == ".bvh":
            write_motion_bvh(tmp, joints, fps, units=units)
        else:
            write_motion_npz(tmp, joints, fps, prompt=prompt, seed=seed, segments=segments)
    return path

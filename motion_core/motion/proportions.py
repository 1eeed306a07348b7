"""The motion's proportions on a rig's rest pose: where a rig's joint markers stand when it takes the clip's skeleton.

numpy only (Blender imports this). Motion frame: metres, Y-up, +Z forward, HumanML3D 22-joint order, column vectors.

A rig whose proportions differ from the motion's (Rigify's stock metarig: a torso a fifth shorter for its legs, the
pelvis bone below the hips) can point every limb where the motion does and still not touch where the motion touches.
`proportioned_rest` is the rest skeleton such a rig is stretched to when the user asks for the motion's proportions
(blender_addon.proportions finds the keys that put it there):
- bone lengths are the clip's (`retarget.smpl_rest_joints`) scaled by the ratio of leg lengths, as the root path is;
- the pelvis and the chest keep the clip's own triangles (hips below the pelvis joint, collars beside the chest),
  turned into the rig's frame of that piece (up to the chain child, across from the right child to the left one);
- every other bone keeps the rig's rest direction (its A-pose arms, bent knees: the retargeting turns those anyway);
- the rig keeps its floor: the hip centre stays over the rig's, raised or lowered so the ankles stand at their rest
  height on average, and each foot is pitched so its ball touches the floor where the rig's did.
"""

from typing import Dict

import numpy as np

from motion_core.motion import skeleton
from motion_core.motion.retarget import leg_length, smpl_rest_joints

_NAMES = list(skeleton.JOINT_NAMES)
_BRANCHES = skeleton.HUMANML3D.branch_frames  # joint -> (chain child, left child, right child)
_HIPS = [_NAMES.index("left_hip"), _NAMES.index("right_hip")]
_ANKLES = [_NAMES.index("left_ankle"), _NAMES.index("right_ankle")]
# A foot pitched further than this (of its length, as a drop) would stand on its tip: the ball then stays higher.
_MAX_DROP = 0.95


def _frame(up, across):
    """(3, 3) orthonormal columns (across ⊥ up, up, across × up) from up, across: (3,)."""
    y = up / np.linalg.norm(up)
    x = across - np.dot(across, y) * y
    x = x / np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _piece_turn(rig, body, joint):
    """(3, 3) rotation taking the clip's frame of a branching piece onto the rig's (rest skeletons (22, 3))."""
    up, left, right = _BRANCHES[joint]
    rig_frame = _frame(rig[up] - rig[joint], rig[left] - rig[right])
    body_frame = _frame(body[up] - body[joint], body[left] - body[right])
    return rig_frame @ body_frame.T


def proportioned_rest(rest_at: Dict[str, np.ndarray], joints) -> np.ndarray:
    """The rig's rest markers moved onto the clip's proportions: (22, 3) motion frame, relative to the rig's origin.

    rest_at: joint -> the rig's rest marker (3,), all 22 joints, motion frame relative to the object (its floor at the
    rest feet); joints: (T, 22, 3) the clip. Leg length is kept, so the retargeting's root scale is the same.
    """
    rig = np.array([rest_at[n] for n in _NAMES], dtype=np.float64)  # (22, 3)
    body = smpl_rest_joints(np.asarray(joints, dtype=np.float64))  # (22, 3), the clip's median skeleton
    scale = leg_length(rest_at) / leg_length(dict(zip(_NAMES, body)))
    turns = {j: _piece_turn(rig, body, j) for j in _BRANCHES}

    out = np.zeros((22, 3))
    out[0] = rig[_HIPS].mean(axis=0) - turns[0] @ (body[_HIPS].mean(axis=0) - body[0]) * scale
    for j in range(1, 22):  # PARENTS lists every parent first
        p = skeleton.PARENTS[j]
        if p in turns:  # a child of the pelvis or chest: the clip's triangle, in the rig's frame of that piece
            out[j] = out[p] + turns[p] @ (body[j] - body[p]) * scale
        else:  # a chain bone: the rig's direction, the clip's length
            direction = rig[j] - rig[p]
            out[j] = out[p] + direction / np.linalg.norm(direction) * np.linalg.norm(body[j] - body[p]) * scale
    out[:, 1] += rig[_ANKLES, 1].mean() - out[_ANKLES, 1].mean()  # stand on the rig's floor

    for side in ("left", "right"):  # pitch each foot so its ball is on the floor, the clip's foot length
        ankle, ball = _NAMES.index(f"{side}_ankle"), _NAMES.index(f"{side}_foot")
        length = np.linalg.norm(body[ball] - body[ankle]) * scale
        drop = float(np.clip(out[ankle, 1] - rig[ball, 1], 0.0, _MAX_DROP * length))
        ahead = rig[ball] - rig[ankle]
        ahead[1] = 0.0
        ahead /= max(np.linalg.norm(ahead), 1e-9)
        out[ball] = out[ankle] + ahead * np.sqrt(length ** 2 - drop ** 2) - np.array([0.0, drop, 0.0])
    return out

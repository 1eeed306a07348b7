"""Forward kinematics over any joint tree, the named joints of our 22-joint skeleton, and two-bone IK. numpy only.

Conventions: metres (or the source's units), Y-up, quaternions (w, x, y, z), column vectors. A tree is given by
`parents`: one int per joint, -1 for the root, parents before children. The one FK rule, in either rotation form:

    global[j] = global[parent] * local[j]
    position[j] = position[parent] + rotate(global[parent], offsets[j])

so a joint's rotation moves its children; `offsets[j]` is joint j's offset from its parent in the parent's frame
(a rest offset, or a per-frame translation such as a BVH file's). `skeleton.forward_kinematics` applies it to the
HumanML3D/KIT layouts, `mocap` to BVH/ASF source skeletons, and the procedural body to its trunk; two-bone IK
(`two_bone_ik`, from `ik.py`) places the limbs of the procedural body and the foot-contact cleanup.
"""

import numpy as np

from motion_core.motion.ik import two_bone_ik  # noqa: F401 (re-exported: the kinematics of the body in one place)
from motion_core.motion.rotations import quat_mul, quat_rotate

# Named joints of the HumanML3D 22-joint skeleton (SMPL order; their names are skeleton.JOINT_NAMES, and a test
# checks that the two agree).
(PELVIS, LEFT_HIP, RIGHT_HIP, SPINE1, LEFT_KNEE, RIGHT_KNEE, SPINE2, LEFT_ANKLE, RIGHT_ANKLE, SPINE3, LEFT_FOOT,
 RIGHT_FOOT, NECK, LEFT_COLLAR, RIGHT_COLLAR, HEAD, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW,
 LEFT_WRIST, RIGHT_WRIST) = range(22)  # fmt: skip


def fk_quaternions(parents, local_quats, root_pos, offsets):
    """Joint positions from local rotations given as quaternions.

    Args:
        parents: (J,) ints, -1 for the root, parents before children.
        local_quats: (..., J, 4) float, (w, x, y, z), each joint's rotation relative to its parent (the root's is
            global).
        root_pos: (..., 3) the root's position.
        offsets: (J, 3) or (..., J, 3) offsets from the parent, in the parent's frame (the root's is unused).
    Returns:
        (..., J, 3) positions.
    """
    local_quats = np.asarray(local_quats, dtype=np.float64)
    root_pos = np.asarray(root_pos, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    global_quats = [None] * len(parents)
    positions = [None] * len(parents)
    for j, p in enumerate(parents):  # loop over the chain: each joint needs its parent's global rotation
        if p < 0:
            global_quats[j] = local_quats[..., j, :]
            positions[j] = np.broadcast_to(root_pos, local_quats.shape[:-2] + (3,))
        else:
            positions[j] = positions[p] + quat_rotate(global_quats[p], offsets[..., j, :])
            global_quats[j] = quat_mul(global_quats[p], local_quats[..., j, :])
    return np.stack(positions, axis=-2)


def global_quaternions(parents, local_quats):
    """World rotation per joint from local ones. parents: (J,) as above; local_quats: (..., J, 4) (w, x, y, z)
    -> (..., J, 4)."""
    local_quats = np.asarray(local_quats, dtype=np.float64)
    out = [None] * len(parents)
    for j, p in enumerate(parents):
        out[j] = local_quats[..., j, :] if p < 0 else quat_mul(out[p], local_quats[..., j, :])
    return np.stack(out, axis=-2)


def fk_matrices(parents, rotations, translations):
    """World rotations and positions of a joint tree from local rotation matrices.

    Args:
        parents: (S,) ints, -1 for a root, parents before children.
        rotations: (..., S, 3, 3) local rotations (column vectors).
        translations: (..., S, 3) or (S, 3) offsets from the parent in the parent's frame; a root's is its position.
    Returns:
        (world rotations (..., S, 3, 3), positions (..., S, 3)).
    """
    world_rot = np.empty_like(rotations)
    positions = np.empty(rotations.shape[:-1], dtype=np.result_type(rotations, translations))
    for j, p in enumerate(parents):  # loop over the chain: each joint needs its parent's world transform
        if p < 0:
            world_rot[..., j, :, :] = rotations[..., j, :, :]
            positions[..., j, :] = translations[..., j, :]
        else:
            world_rot[..., j, :, :] = world_rot[..., p, :, :] @ rotations[..., j, :, :]
            positions[..., j, :] = positions[..., p, :] + (world_rot[..., p, :, :] @ translations[..., j, :, None])[
                ..., 0]
    return world_rot, positions

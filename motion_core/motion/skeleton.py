"""The HumanML3D 22-joint skeleton (SMPL's first 22 joints), forward kinematics and joint-position IK.

Conventions: metres, Y-up, +Z forward, +X is the body's left, 20 fps, quaternions (w, x, y, z), column vectors.
Joint order is SMPL's (see `JOINT_NAMES`); `PARENTS` and `KINEMATIC_CHAIN` are HumanML3D's `t2m_kinematic_chain`.

Two rotation conventions live in this project; this module uses the usual one (BVH, Blender, glTF):

    global[j] = global[parent] * local[j]
    position[j] = position[parent] + rotate(global[parent], offsets[j])

so a joint's rotation moves its children. `offsets[j]` is joint j's rest offset from its parent, in the parent's
rest frame. (HumanML3D's own 6D channels store, at joint j, the rotation of the bone parent -> j; that convention
is implemented where it is needed, in `features.py`.)

Rest pose (all local rotations identity) = `REST_DIRECTIONS`: a T-pose facing +Z. Legs straight down, feet forward
(+Z), spine, neck and head straight up, collars and arms out along +-X (left = +X). It differs from HumanML3D's
`RAW_OFFSETS` only for the arms (RAW: hanging down from the collar) and the head (RAW: forward), so that a BVH or rig
built from `rest_offsets` shows the usual T-pose. The swing IK is singular only where a bone points exactly opposite
its rest direction in its parent's frame: for the arms that is across the chest (not overhead), for the legs up
into the body, so everyday motion stays away from it.

`joints_to_rotations(J)` gives local rotations such that `forward_kinematics(q, root, rest_offsets(J))` reproduces J
when J's skeleton is rigid (constant bone lengths, and pelvis -> hips/spine1 and chest -> neck/collars rigid, as in
SMPL-derived and HumanML3D data). `rest_offsets(J)` holds J's own bone lengths; for the children of the pelvis and
of the chest it also keeps J's own (average) shape of those triangles (hips sit lower than the pelvis joint), which a
single rotation per joint needs in order to place three children at once. Where those triangles are not rigid
(joints mapped from other skeletons, generated motion), static offsets leave errors of a few cm at the hips/collars
and everything below them; `local_offsets(J, q)` gives per-frame offsets with which FK is exact for any J.
"""

from dataclasses import dataclass, field

import numpy as np

from motion_core.motion.kinematics import fk_quaternions, global_quaternions
from motion_core.motion.rotations import (
    matrix_to_quat,
    quat_between,
    quat_conjugate,
    quat_fix,
    quat_identity,
    quat_mul,
    quat_rotate,
)

# ----------------------------------------------------------------------------------------------------------------------
# HumanML3D 22-joint constants (facts from HumanML3D's paramUtil.py; names follow SMPL)

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
NUM_JOINTS = 22

# t2m_kinematic_chain: right leg, left leg, spine to head, right arm, left arm.
KINEMATIC_CHAIN = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)


def parents_from_chain(chain, num_joints):
    """Parent index per joint (-1 for the root) from kinematic chains (each chain starts at an existing joint)."""
    parents = [-1] * num_joints
    for links in chain:
        for parent, child in zip(links[:-1], links[1:]):
            parents[child] = parent
    return tuple(parents)


PARENTS = parents_from_chain(KINEMATIC_CHAIN, NUM_JOINTS)

# t2m_raw_offsets: HumanML3D's rest directions (unit vectors from parent to joint). Its rotation features are defined
# against these; note the arms hang down (-Y) and the head points forward (+Z).
RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0],
        [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0],
        [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    ],
    dtype=np.float64,
)

# Our FK/IK rest pose: RAW_OFFSETS with T-pose arms (along +-X) and the head up (see the module docstring).
REST_DIRECTIONS = RAW_OFFSETS.copy()
REST_DIRECTIONS[[16, 18, 20]] = (1.0, 0.0, 0.0)
REST_DIRECTIONS[[17, 19, 21]] = (-1.0, 0.0, 0.0)
REST_DIRECTIONS[15] = (0.0, 1.0, 0.0)

# Bone lengths (metres, joint j to its parent) of HumanML3D's target skeleton 000021. That file is not available here;
# HumanML3D re-targets every clip to it, so any clip's bone lengths equal the target's: these numbers are measured on
# HumanML3D's shipped sample new_joints/012314.npy, frame 0 (constant to 2e-6 m over all its frames).
T2M_BONE_LENGTHS = np.array(
    [
        0.0, 0.103074, 0.109883, 0.131568, 0.393623, 0.390188, 0.143190, 0.432433, 0.425643, 0.057365, 0.143382,
        0.149419, 0.219360, 0.137487, 0.143383, 0.103039, 0.131614, 0.122984, 0.256840, 0.263092, 0.266012, 0.269876,
    ]
)
# Rest offsets of the target skeleton in our T-pose (metres, parent frame).
T2M_OFFSETS = REST_DIRECTIONS * T2M_BONE_LENGTHS[:, None]

# Mirroring (HumanML3D's swap_left_right): negate x and swap these pairs.
LEFT_JOINTS = (1, 4, 7, 10, 13, 16, 18, 20)
RIGHT_JOINTS = (2, 5, 8, 11, 14, 17, 19, 21)

# HumanML3D processing indices (motion_process.py).
FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
FEET_LEFT = (7, 10)  # left ankle, left foot
FEET_RIGHT = (8, 11)
LEG_JOINTS = (5, 8)  # right knee, right ankle: leg length for root scaling in uniform_skeleton


# ----------------------------------------------------------------------------------------------------------------------
# KIT-ML 21-joint constants (HumanML3D's paramUtil.py / motion_process.py; raw KIT units are millimetres)

KIT_NUM_JOINTS = 21
KIT_KINEMATIC_CHAIN = (
    (0, 11, 12, 13, 14, 15),
    (0, 16, 17, 18, 19, 20),
    (0, 1, 2, 3, 4),
    (3, 5, 6, 7),
    (3, 8, 9, 10),
)
KIT_PARENTS = parents_from_chain(KIT_KINEMATIC_CHAIN, KIT_NUM_JOINTS)
KIT_RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [-1, 0, 0],
        [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1], [-1, 0, 0], [0, -1, 0],
        [0, -1, 0], [0, 0, 1], [0, 0, 1],
    ],
    dtype=np.float64,
)
KIT_REST_DIRECTIONS = KIT_RAW_OFFSETS.copy()
KIT_REST_DIRECTIONS[[6, 7]] = (1.0, 0.0, 0.0)
KIT_REST_DIRECTIONS[[9, 10]] = (-1.0, 0.0, 0.0)
KIT_FACE_JOINTS = (11, 16, 5, 8)
KIT_FEET_LEFT = (19, 20)
KIT_FEET_RIGHT = (14, 15)
KIT_LEG_JOINTS = (17, 18)
KIT_LEFT_JOINTS = (5, 6, 7, 11, 12, 13, 14, 15)  # the +X side of the rest pose
KIT_RIGHT_JOINTS = (8, 9, 10, 16, 17, 18, 19, 20)


# ----------------------------------------------------------------------------------------------------------------------
# Layouts: everything the feature code and the IK need about one skeleton


@dataclass(frozen=True)
class SkeletonLayout:
    """One joint layout: topology, rest directions and the indices HumanML3D-style processing uses."""

    name: str
    num_joints: int
    parents: tuple
    kinematic_chain: tuple
    raw_offsets: np.ndarray  # (J, 3) HumanML3D rest directions (the rotation features' reference)
    rest_directions: np.ndarray  # (J, 3) our FK/IK T-pose directions
    face_joints: tuple  # (right hip, left hip, right shoulder, left shoulder) as HumanML3D's process_file reads them
    feet_left: tuple
    feet_right: tuple
    leg_joints: tuple  # two joints whose bone lengths sum to the leg length used for root scaling
    left_joints: tuple
    right_joints: tuple
    # Joints with several children get a full frame: joint -> (chain child = primary +Y axis, +X child, -X child).
    branch_frames: dict = field(default_factory=dict)
    target_bone_lengths: np.ndarray = None  # (J,) or None when the target skeleton is unknown
    feet_threshold: float = 0.002  # squared per-frame foot displacement below which a foot is in contact

    @property
    def feature_dim(self):
        """8 + (J-1)*9 + J*3: 263 for 22 joints, 251 for 21."""
        return 8 + (self.num_joints - 1) * 9 + self.num_joints * 3


HUMANML3D = SkeletonLayout(
    name="humanml3d",
    num_joints=NUM_JOINTS,
    parents=PARENTS,
    kinematic_chain=KINEMATIC_CHAIN,
    raw_offsets=RAW_OFFSETS,
    rest_directions=REST_DIRECTIONS,
    face_joints=FACE_JOINTS,
    feet_left=FEET_LEFT,
    feet_right=FEET_RIGHT,
    leg_joints=LEG_JOINTS,
    left_joints=LEFT_JOINTS,
    right_joints=RIGHT_JOINTS,
    branch_frames={0: (3, 1, 2), 9: (12, 13, 14)},
    target_bone_lengths=T2M_BONE_LENGTHS,
    feet_threshold=0.002,
)

KIT = SkeletonLayout(
    name="kit",
    num_joints=KIT_NUM_JOINTS,
    parents=KIT_PARENTS,
    kinematic_chain=KIT_KINEMATIC_CHAIN,
    raw_offsets=KIT_RAW_OFFSETS,
    rest_directions=KIT_REST_DIRECTIONS,
    face_joints=KIT_FACE_JOINTS,
    feet_left=KIT_FEET_LEFT,
    feet_right=KIT_FEET_RIGHT,
    leg_joints=KIT_LEG_JOINTS,
    left_joints=KIT_LEFT_JOINTS,
    right_joints=KIT_RIGHT_JOINTS,
    branch_frames={0: (1, 11, 16), 3: (4, 5, 8)},
    target_bone_lengths=None,  # KIT's target skeleton 03950 is not available: clips keep their own lengths
    feet_threshold=0.05,  # KIT positions are in millimetres
)

_LAYOUTS = {22: HUMANML3D, 21: KIT, "humanml3d": HUMANML3D, "t2m": HUMANML3D, "kit": KIT}


def get_layout(layout=None, joints=None):
    """A SkeletonLayout from a layout, a name ("humanml3d"/"t2m"/"kit"), a joint count (22/21) or None (22)."""
    if isinstance(layout, SkeletonLayout):
        return layout
    key = layout if layout is not None else (joints if joints is not None else 22)
    if isinstance(key, str):
        key = key.lower()
    if key not in _LAYOUTS:
        raise ValueError(f"unknown skeleton layout {layout if layout is not None else joints!r}; use 22, 21 or a name")
    return _LAYOUTS[key]


# ----------------------------------------------------------------------------------------------------------------------
# Geometry helpers


def bone_lengths(joints, layout=None):
    """Mean bone length per joint (joint to its parent; 0 for the root). joints: (..., T, J, 3) or (J, 3) -> (J,)."""
    joints = np.asarray(joints, dtype=np.float64)
    lay = get_layout(layout, joints=joints.shape[-2])
    parents = np.array(lay.parents)
    lengths = np.linalg.norm(joints[..., 1:, :] - joints[..., parents[1:], :], axis=-1)
    lengths = lengths.reshape(-1, lay.num_joints - 1).mean(axis=0)
    return np.concatenate([[0.0], lengths])


def mirror_joints(joints, layout=None):
    """Left/right mirror image: negate x and swap the left and right joints. joints: (..., J, 3) -> same shape."""
    joints = np.array(joints, copy=True)
    lay = get_layout(layout, joints=joints.shape[-2])
    left, right = list(lay.left_joints), list(lay.right_joints)
    joints[..., left + right, :] = joints[..., right + left, :]
    joints[..., 0] *= -1.0
    return joints


def _frame_from_axes(up, across):
    """Orthonormal frames (..., 3, 3) with columns (x, y, z): y = up, x = across made perpendicular, z = x cross y."""
    y = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-12)
    x = across - np.sum(across * y, axis=-1, keepdims=True) * y
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def _branch_frames(joints, layout):
    """World frame per branching joint: {joint: (..., 3, 3)} from its chain child (+Y) and its +X/-X children."""
    frames = {}
    for joint, (up_child, plus_x, minus_x) in layout.branch_frames.items():
        up = joints[..., up_child, :] - joints[..., joint, :]
        across = joints[..., plus_x, :] - joints[..., minus_x, :]
        frames[joint] = _frame_from_axes(up, across)
    return frames


def rest_offsets(joints, layout=None):
    """Rest offsets (J, 3), metres, that make FK reproduce these joints: the clip's own bone lengths along the T-pose
    `REST_DIRECTIONS`, except the children of the branching joints (pelvis, chest), which keep the clip's own shape
    of those triangles expressed in the joint's frame (averaged over frames, then set to the mean bone length).

    joints: (T, J, 3) or (J, 3), metres. This is what a BVH writer should use as OFFSETs for `joints_to_rotations`.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 2:
        joints = joints[None]
    lay = get_layout(layout, joints=joints.shape[-2])
    lengths = bone_lengths(joints, lay)
    offsets = lay.rest_directions * lengths[:, None]
    frames = _branch_frames(joints, lay)
    for joint, frame in frames.items():
        children = [j for j in range(lay.num_joints) if lay.parents[j] == joint]
        for child in children:
            world = joints[:, child] - joints[:, joint]  # (T, 3)
            local = np.einsum("tji,tj->ti", frame, world).mean(axis=0)  # frame^T @ world
            offsets[child] = local / max(np.linalg.norm(local), 1e-12) * lengths[child]
    return offsets


# ----------------------------------------------------------------------------------------------------------------------
# Forward and inverse kinematics


def forward_kinematics(local_quats, root_pos, offsets=T2M_OFFSETS, layout=None):
    """Joint positions from local rotations: position[j] = position[parent] + rotate(global[parent], offsets[j]).

    local_quats: (..., J, 4) (w, x, y, z), joint rotation relative to its parent (the root's is global);
    root_pos: (..., 3) metres; offsets: (J, 3) or (..., J, 3) rest offsets in the parent frame.
    Returns (..., J, 3) metres, Y-up. (`kinematics.fk_quaternions` over this layout's tree.)
    """
    local_quats = np.asarray(local_quats, dtype=np.float64)
    lay = get_layout(layout, joints=local_quats.shape[-2])
    return fk_quaternions(lay.parents, local_quats, root_pos, offsets)


def joints_to_rotations(joints, offsets=None, layout=None):
    """Swing IK: local joint rotations and root position from joint positions.

    joints: (T, J, 3) metres, Y-up (J = 22, or 21 with the KIT layout).
    offsets: rest offsets (J, 3) the rotations are meant for; default `rest_offsets(joints)`.
    Returns (local_quats (T, J, 4) (w, x, y, z), root_pos (T, 3)) with
    `forward_kinematics(local_quats, root_pos, offsets)` == joints for a rigid skeleton.

    - Pelvis and chest (the joints with several children) get full frames: +Y toward their chain child (spine1, neck),
      twist from their left/right children (hips, collars), so yaw and twist are defined.
    - Every other joint with a child gets the shortest-arc swing from its child's rest direction to the actual bone
      direction, in its parent's frame (no twist). End joints (feet, head, wrists) keep the identity.
    - Signs are made continuous over time (`quat_fix`): no quaternion flips between frames.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3:
        raise ValueError(f"joints must have shape (T, J, 3), got {joints.shape}")
    lay = get_layout(layout, joints=joints.shape[1])
    if offsets is None:
        offsets = rest_offsets(joints, lay)
    offsets = np.asarray(offsets, dtype=np.float64)
    num_frames, num = joints.shape[:2]
    children = [[c for c in range(num) if lay.parents[c] == j] for j in range(num)]

    world_frames = _branch_frames(joints, lay)
    global_quats = np.zeros((num_frames, num, 4))
    local_quats = np.zeros((num_frames, num, 4))
    for j in range(num):
        p = lay.parents[j]
        parent_global = global_quats[:, p] if p >= 0 else quat_identity((num_frames,))
        if j in world_frames:
            # The rest offsets of the children define the rest frame; map it onto the current frame.
            up_child, plus_x, minus_x = lay.branch_frames[j]
            rest_frame = _frame_from_axes(offsets[up_child], offsets[plus_x] - offsets[minus_x])
            g = matrix_to_quat(world_frames[j] @ rest_frame.T)
            local = quat_mul(quat_conjugate(parent_global), g)
        elif children[j]:
            child = children[j][0]
            bone = joints[:, child] - joints[:, j]
            bone_in_parent = quat_rotate(quat_conjugate(parent_global), bone)
            local = quat_between(np.broadcast_to(offsets[child], bone.shape), bone_in_parent)
        else:
            local = quat_identity((num_frames,))
        local = quat_fix(local)
        local_quats[:, j] = local
        global_quats[:, j] = quat_mul(parent_global, local)
    return local_quats, joints[:, 0].copy()


def local_offsets(joints, local_quats, layout=None):
    """Per-frame offsets that make FK exact for any joints: each joint's position relative to its parent, in the
    parent's current frame. joints: (T, J, 3); local_quats: (T, J, 4) from `joints_to_rotations` -> (T, J, 3).

    `forward_kinematics(local_quats, root, local_offsets(joints, local_quats))` == joints even where the pelvis or
    chest triangle is not rigid (real imports: the mapped hips/collars move against spine1/neck by a few cm). For a
    clip with constant bone lengths only the children of the branching joints vary over time, so a BVH writer can
    emit position channels for just those joints (hips, spine1, neck, collars) to become exact.
    """
    joints = np.asarray(joints, dtype=np.float64)
    lay = get_layout(layout, joints=joints.shape[-2])
    parents = list(lay.parents[1:])
    parent_global = global_rotations(local_quats, lay)[..., parents, :]
    relative = joints[..., 1:, :] - joints[..., parents, :]
    offsets = np.zeros_like(joints)
    offsets[..., 1:, :] = quat_rotate(quat_conjugate(parent_global), relative)
    return offsets


def offsets_from_lengths(lengths, layout=None):
    """T-pose rest offsets (J, 3) from bone lengths (J,): `rest_directions * lengths`."""
    lengths = np.asarray(lengths, dtype=np.float64)
    lay = get_layout(layout, joints=lengths.shape[-1])
    return lay.rest_directions * lengths[..., None]


def global_rotations(local_quats, layout=None):
    """World rotation per joint from local ones. local_quats: (..., J, 4) (w, x, y, z) -> (..., J, 4)."""
    local_quats = np.asarray(local_quats, dtype=np.float64)
    lay = get_layout(layout, joints=local_quats.shape[-2])
    return global_quaternions(lay.parents, local_quats)


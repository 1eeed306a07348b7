"""Retargeting: 22-joint positions -> per-bone rotations for an arbitrary armature, given its rest pose.

numpy only (Blender imports this). Everything here works in one frame, the *motion frame*: metres, Y-up, +Z forward,
HumanML3D 22-joint SMPL order, quaternions (w, x, y, z), column vectors. The Blender side converts the target rig's
rest pose into this frame (blender_addon.rig does the Z-up conversion) and hands back the results unchanged, because
pose-local rotations do not depend on which global frame they were computed in.

Recipe (see docs/reference/blender-addon-platform.md §6.3-6.4):
1. `skeleton.joints_to_rotations` turns the joints into SMPL-rest-relative rotations; composing them along the
   kinematic tree gives each SMPL bone's world rotation W_j (rest -> posed).
2. The target rig's rest pose can differ (A-pose arms, other bone rolls, extra bones). For each mapped bone we measure
   the rest-pose difference A_b, the rotation taking the SMPL rest frame of that bone to the target's rest frame
   (shortest arc for chain bones; full two-vector frames for pelvis and chest, which have several children).
   The target bone's world rotation is then T_b = W_j · A_b^-1: it points the target bone exactly where the SMPL bone
   points, whatever its rest pose.
3. Pose-local rotation (what Blender stores in `rotation_quaternion`): L_b = R_b^-1 · T_parent^-1 · T_b · R_b, with
   R_b the bone's rest orientation (Bone.matrix_local), T_parent the target parent's world rotation.
   Unmapped bones and mapped leaves follow their parent (identity local rotation).
4. The root bone's location follows the pelvis, scaled by the ratio of the target's leg length to the motion's.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from motion_core.motion import rotations as rot
from motion_core.motion import skeleton

_NAMES = skeleton.JOINT_NAMES
# SMPL joints whose bone orientation is a full frame (two vectors), not a swing: they have several children.
# joint -> (primary child, left joint, right joint) defining up = child - joint, across = left - right.
_FRAME_JOINTS = {_NAMES[j]: tuple(_NAMES[k] for k in children)
                 for j, children in skeleton.HUMANML3D.branch_frames.items()}
# The child a chain bone points at (bone j = joint j -> this child): the only child, or a branching joint's chain
# child. Leaves (head, wrists, feet) have none.
PRIMARY_CHILD = {_NAMES[parent]: _NAMES[skeleton.HUMANML3D.branch_frames.get(parent, (j,))[0]]
                 for j, parent in enumerate(skeleton.PARENTS) if parent >= 0}


@dataclass
class RigRest:
    """A target armature's rest pose in the motion frame (metres, Y-up).

    bone_names: B names, every parent before its children.
    parents: (B,) int, index into bone_names, -1 for roots.
    heads: (B, 3) rest head positions.
    rotations: (B, 4) rest orientations (w, x, y, z), bone frame -> motion frame (bone Y axis = head -> tail).
    """

    bone_names: List[str]
    parents: np.ndarray
    heads: np.ndarray
    rotations: np.ndarray

    def index(self, name: str) -> int:
        return self.bone_names.index(name)


@dataclass
class Retargeted:
    """Keys for one armature.

    bone_names: K keyed bones (the mapped ones), rig order.
    rotations: (T, K, 4) pose-local quaternions (w, x, y, z), hemisphere-continuous over time.
    root_bone: the bone whose location carries the root motion.
    root_location: (T, 3) that bone's pose location, in its rest frame, metres (divide by the object's scale).
    scale: target leg length / motion leg length, applied to the root path.
    """

    bone_names: List[str]
    rotations: np.ndarray
    root_bone: str
    root_location: np.ndarray
    scale: float


def _frame(up, across):
    """Orthonormal frames from an up and an across vector. up, across: (..., 3) -> (..., 3, 3), columns x, y, z.

    y = up exactly, x = across made perpendicular to it, z = x × y: the convention of skeleton.joints_to_rotations,
    so the chain child (spine1, neck) is matched exactly and the across pair (hips, collars) as well as the clip's
    own triangle allows.
    """
    y = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    x = across - np.sum(across * y, axis=-1, keepdims=True) * y
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def smpl_world_rotations(joints):
    """World rotations of the 22 SMPL bones (SMPL rest -> posed) and the clip's root positions.

    joints: (T, 22, 3) motion frame. Returns (world (T, 22, 4) (w, x, y, z), root_pos (T, 3)).
    Bone j runs from joint j to its children; world[j] rotates it from the SMPL rest pose to frame t.
    """
    local, root_pos = skeleton.joints_to_rotations(np.asarray(joints, dtype=np.float64))
    return skeleton.global_rotations(local), root_pos


def smpl_rest_joints(joints):
    """A T-pose rest skeleton with the clip's own proportions: (22, 3) motion frame, pelvis at the origin.

    Built from `skeleton.rest_offsets`, so the rest geometry of the hips and collars matches the clip's own shape and
    an SMPL armature made from it follows the clip exactly. joints: (T, 22, 3).
    """
    offsets = skeleton.rest_offsets(np.asarray(joints, dtype=np.float64))
    return skeleton.forward_kinematics(rot.quat_identity((22,)), np.zeros(3), offsets)


def a_pose_rest_joints(joints, arm_drop_deg=40.0):
    """`smpl_rest_joints` with both arms lowered by `arm_drop_deg` about the forward axis at the shoulders: the A-pose
    rest of rigs such as Mixamo characters, used to build test and demo rigs. joints: (T, 22, 3) -> (22, 3)."""
    rest = smpl_rest_joints(joints)
    names = list(skeleton.JOINT_NAMES)
    for side, sign in (("left", -1.0), ("right", 1.0)):
        q = rot.quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.radians(arm_drop_deg) * sign)
        pivot = rest[names.index(f"{side}_shoulder")].copy()
        for part in ("elbow", "wrist"):
            i = names.index(f"{side}_{part}")
            rest[i] = pivot + rot.quat_rotate(q, rest[i] - pivot)
    return rest


def _smpl_rest_frames(joints, world):
    """Per SMPL joint, the rest orientation of its bone as a direction (chain bones) or a frame (pelvis, chest).

    Measured from the clip itself (posed vectors rotated back by world^-1), so any rest convention of
    joints_to_rotations works. Returns dict joint index -> (3,) unit direction or (3, 3) frame.
    """
    names = list(skeleton.JOINT_NAMES)
    inv = rot.quat_inv(world)
    out = {}
    for name, child in PRIMARY_CHILD.items():
        j = names.index(name)
        if name in _FRAME_JOINTS:
            up_name, left, right = _FRAME_JOINTS[name]
            up = rot.quat_rotate(inv[:, j], joints[:, names.index(up_name)] - joints[:, j]).mean(axis=0)
            across = rot.quat_rotate(inv[:, j], joints[:, names.index(left)] - joints[:, names.index(right)]).mean(0)
            out[j] = _frame(up, across)
        else:
            d = rot.quat_rotate(inv[:, j], joints[:, names.index(child)] - joints[:, j]).mean(axis=0)
            out[j] = d / max(np.linalg.norm(d), 1e-9)
    return out


def _target_rest_frame(name, rig, bone_of_joint, b):
    """The target bone's rest direction / frame in the motion frame, from the heads of the bones mapped to the SMPL
    children (the bone's own Y axis when the child is not mapped)."""
    head = rig.heads[b]
    child = PRIMARY_CHILD[name]
    if child in bone_of_joint:
        d = rig.heads[bone_of_joint[child]] - head
    else:
        d = rot.quat_rotate(rig.rotations[b], np.array([0.0, 1.0, 0.0]))
    if name in _FRAME_JOINTS:
        _, left, right = _FRAME_JOINTS[name]
        if left in bone_of_joint and right in bone_of_joint:
            across = rig.heads[bone_of_joint[left]] - rig.heads[bone_of_joint[right]]
            return _frame(d, across)
        return None  # no across information: fall back to a swing below
    return d / max(np.linalg.norm(d), 1e-9)


def leg_length(points_by_joint: Dict[str, np.ndarray]) -> Optional[float]:
    """Mean hip->knee->ankle length over the two legs, or None when a leg joint is missing."""
    lengths = []
    for side in ("left", "right"):
        names = [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]
        if not all(n in points_by_joint for n in names):
            continue
        p = [points_by_joint[n] for n in names]
        lengths.append(np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1]))
    return float(np.mean(lengths)) if lengths else None


def retarget(joints, rig: RigRest, bone_map: Dict[str, str], root_motion: bool = True) -> Retargeted:
    """Rotations and root motion that make `rig` follow the 22-joint clip.

    joints: (T, 22, 3) motion frame (metres, Y-up), HumanML3D order.
    rig: the target's rest pose in the same frame.
    bone_map: SMPL joint name (skeleton.JOINT_NAMES) -> target bone name; "pelvis" is required.
    root_motion: False keeps the pelvis over the rig origin (height still follows the clip).
    Returns Retargeted (see there).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise ValueError(f"joints must be (T, 22, 3), got {joints.shape}")
    if "pelvis" not in bone_map:
        raise ValueError("bone_map must map 'pelvis' (the root bone)")
    names = list(skeleton.JOINT_NAMES)
    unknown = sorted(set(bone_map) - set(names))
    if unknown:
        raise ValueError(f"bone_map has unknown joint names {unknown}")
    bone_of_joint = {j: rig.index(b) for j, b in bone_map.items()}
    joint_of_bone = {b: names.index(j) for j, b in bone_of_joint.items()}

    world, _ = smpl_world_rotations(joints)  # (T, 22, 4)
    smpl_rest = _smpl_rest_frames(joints, world)
    frames = joints.shape[0]
    n_bones = len(rig.bone_names)

    # 2. Target world rotations T_b (T, B, 4), parents first.
    target_world = np.empty((frames, n_bones, 4))
    keyed = []
    for b in range(n_bones):
        p = int(rig.parents[b])
        parent_world = target_world[:, p] if p >= 0 else rot.quat_identity((frames,))
        j = joint_of_bone.get(b)
        if j is None or j not in smpl_rest:  # unmapped, or a mapped leaf: follow the parent
            target_world[:, b] = parent_world
            if j is not None:
                keyed.append(b)
            continue
        keyed.append(b)
        name = names[j]
        target_rest = _target_rest_frame(name, rig, bone_of_joint, b)
        source_rest = smpl_rest[j]
        if isinstance(target_rest, np.ndarray) and target_rest.shape == (3, 3):
            diff = rot.matrix_to_quat(target_rest @ source_rest.T)  # A_b: SMPL rest frame -> target rest frame
        else:
            if target_rest is None:  # frame joint without across info: swing the up axis only
                target_rest = rot.quat_rotate(rig.rotations[b], np.array([0.0, 1.0, 0.0]))
            source_dir = source_rest[:, 1] if source_rest.ndim == 2 else source_rest
            diff = rot.quat_between(source_dir, target_rest)
        target_world[:, b] = rot.quat_mul(world[:, j], rot.quat_inv(diff))

    # 3. Pose-local rotations L_b = R_b^-1 · T_parent^-1 · T_b · R_b.
    keyed = sorted(set(keyed))
    rest = rig.rotations
    local = np.empty((frames, len(keyed), 4))
    for k, b in enumerate(keyed):
        p = int(rig.parents[b])
        delta = target_world[:, b] if p < 0 else rot.quat_mul(rot.quat_inv(target_world[:, p]), target_world[:, b])
        local[:, k] = rot.quat_mul(rot.quat_inv(rest[b]), rot.quat_mul(delta, rest[b]))
    local = rot.quat_fix(rot.quat_normalize(local), axis=0)

    # 4. Root motion, scaled by leg length so a shorter rig takes shorter steps.
    motion_leg = _median_leg_length(joints)
    rig_leg = leg_length({j: rig.heads[b] for j, b in bone_of_joint.items()})
    scale = rig_leg / motion_leg if (rig_leg and motion_leg) else 1.0
    pelvis = joints[:, 0] * scale
    if not root_motion:
        pelvis = pelvis.copy()
        pelvis[:, [0, 2]] = 0.0
    root = bone_of_joint["pelvis"]
    offset = pelvis - rig.heads[root]  # (T, 3) motion frame
    root_location = rot.quat_rotate(rot.quat_inv(rest[root]), offset)
    return Retargeted(
        bone_names=[rig.bone_names[b] for b in keyed],
        rotations=local.astype(np.float32),
        root_bone=rig.bone_names[root],
        root_location=root_location.astype(np.float32),
        scale=float(scale),
    )


def _median_leg_length(joints) -> Optional[float]:
    """The clip's hip->knee->ankle length (mean of both legs) from `skeleton.bone_lengths`, the lengths an SMPL rig
    made by `smpl_rest_joints` gets, so such a rig keeps the clip's root path unscaled. joints: (T, 22, 3)."""
    names = list(skeleton.JOINT_NAMES)
    lengths = skeleton.bone_lengths(joints)
    legs = [lengths[names.index(f"{side}_knee")] + lengths[names.index(f"{side}_ankle")] for side in ("left", "right")]
    return float(np.mean(legs))

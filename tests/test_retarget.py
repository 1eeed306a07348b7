"""Retargeting (numpy only): a clip made by FK must be reproduced by the target rig's own FK, whatever its rest pose.

The target's posed joints are evaluated with Blender's pose rule written out in numpy (no bpy here):
orientation Q_b = Q_parent · R_parent^-1 · R_b · L_b, head_b = head_parent + Q_parent · R_parent^-1 · (rest offset).
"""

import numpy as np
import pytest

from motion_core.motion import rotations as rot
from motion_core.motion import skeleton
from motion_core.motion.retarget import RigRest, a_pose_rest_joints, retarget, smpl_rest_joints

NAMES = list(skeleton.JOINT_NAMES)


def smooth_clip(frames=60, seed=0):
    """A rigid clip: smooth random local rotations on the T2M skeleton + a walking root. (T, 22, 3)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, frames)[:, None, None]
    amp = rng.uniform(0.1, 0.6, size=(1, 22, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 22, 3))
    local = rot.axis_angle_to_quat(amp * np.sin(t + phase))
    root = np.stack([0.3 * np.sin(t[:, 0, 0]), 0.9 + 0.02 * np.cos(2 * t[:, 0, 0]), 0.8 * t[:, 0, 0]], axis=-1)
    return skeleton.forward_kinematics(local, root, skeleton.T2M_OFFSETS)


def orientation(direction, roll):
    """Rest orientation (w, x, y, z) with the bone Y axis along `direction`, spun by `roll` radians about it."""
    swing = rot.quat_between(np.array([0.0, 1.0, 0.0]), direction)
    return rot.quat_mul(swing, rot.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), roll))


def build_rig(bones, rng):
    """bones: list of (name, parent, head (3,), tail (3,)) parents first -> RigRest with random bone rolls."""
    names = [b[0] for b in bones]
    parents = np.array([names.index(b[1]) if b[1] else -1 for b in bones])
    heads = np.array([b[2] for b in bones], dtype=np.float64)
    rots = np.array([orientation(np.asarray(b[3]) - np.asarray(b[2]), rng.uniform(-np.pi, np.pi)) for b in bones])
    return RigRest(bone_names=names, parents=parents, heads=heads, rotations=rots)


def pose_rig(rig, result):
    """Posed heads (T, B, 3) of `rig` driven by `result` (unkeyed bones stay at rest relative to their parent)."""
    frames = result.rotations.shape[0]
    local = np.tile(rot.quat_identity((1, len(rig.bone_names))), (frames, 1, 1))
    for k, name in enumerate(result.bone_names):
        local[:, rig.index(name)] = result.rotations[:, k]
    posed_q = np.zeros((frames, len(rig.bone_names), 4))
    posed_h = np.zeros((frames, len(rig.bone_names), 3))
    for b, p in enumerate(rig.parents):
        if p < 0:
            to_parent, base = rot.quat_identity((frames,)), np.zeros((frames, 3))
        else:
            to_parent = rot.quat_mul(posed_q[:, p], rot.quat_inv(rig.rotations[p]))  # rest -> posed, parent space
            base = posed_h[:, p] - rot.quat_rotate(to_parent, rig.heads[p])
        posed_q[:, b] = rot.quat_mul(to_parent, rot.quat_mul(rig.rotations[b], local[:, b]))
        loc = result.root_location if rig.bone_names[b] == result.root_bone else np.zeros((frames, 3))
        posed_h[:, b] = base + rot.quat_rotate(to_parent, rig.heads[b] + rot.quat_rotate(rig.rotations[b], loc))
    return posed_h


def smpl_layout(rest):
    """SMPL-22 bones on rest joints (22, 3): head at each joint, tail toward the first child (or up for leaves)."""
    bones = []
    for j, name in enumerate(NAMES):
        children = [c for c in range(22) if skeleton.PARENTS[c] == j]
        tail = rest[children[-1] if name in ("pelvis", "spine3") else children[0]] if children else rest[j] + [0, 0.05, 0]
        p = skeleton.PARENTS[j]
        bones.append((name, NAMES[p] if p >= 0 else None, rest[j], tail))
    return bones


def test_smpl_rig_with_random_rolls_reproduces_the_clip():
    joints = smooth_clip()
    rng = np.random.default_rng(1)
    rig = build_rig(smpl_layout(smpl_rest_joints(joints)), rng)
    result = retarget(joints, rig, {n: n for n in NAMES})
    posed = pose_rig(rig, result)
    assert result.scale == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(posed, joints, atol=1e-5)


def a_pose_mixamo_rig(joints, rng, arm_drop_deg=40.0):
    """A Mixamo-named rig with the clip's bone lengths but an A-pose (arms dropped), an extra root bone above the hips,
    random rolls and a HeadTop_End leaf. Returns (rig, bone_map)."""
    rest = a_pose_rest_joints(joints, arm_drop_deg)
    # Mixamo's bone names, written out here so this test stays independent of the add-on's presets
    mixamo = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
              "head": "Head"}
    for side, cap in (("left", "Left"), ("right", "Right")):
        mixamo.update({f"{side}_hip": f"{cap}UpLeg", f"{side}_knee": f"{cap}Leg", f"{side}_ankle": f"{cap}Foot",
                       f"{side}_foot": f"{cap}ToeBase", f"{side}_collar": f"{cap}Shoulder",
                       f"{side}_shoulder": f"{cap}Arm", f"{side}_elbow": f"{cap}ForeArm",
                       f"{side}_wrist": f"{cap}Hand"})
    bones = [("Root", None, np.zeros(3), np.array([0.0, 0.0, 0.2]))]
    for name, parent, head, tail in smpl_layout(rest):
        bones.append(("mixamorig:" + mixamo[name], "mixamorig:" + mixamo[parent] if parent else "Root", head, tail))
    bones.append(("mixamorig:HeadTop_End", "mixamorig:Head", rest[15] + [0, 0.2, 0], rest[15] + [0, 0.25, 0]))
    rig = build_rig(bones, rng)
    return rig, {j: "mixamorig:" + b for j, b in mixamo.items()}


def test_a_pose_rig_with_other_rolls_reproduces_the_clip():
    joints = smooth_clip(seed=3)
    rig, bone_map = a_pose_mixamo_rig(joints, np.random.default_rng(2))
    result = retarget(joints, rig, bone_map)
    posed = pose_rig(rig, result)
    order = [rig.index(bone_map[n]) for n in NAMES]
    np.testing.assert_allclose(posed[:, order], joints, atol=1e-5)
    assert "mixamorig:HeadTop_End" not in result.bone_names  # unmapped bones are not keyed


def test_root_translation_scales_with_leg_length_and_in_place_pins_it():
    joints = smooth_clip(seed=4)
    rest = smpl_rest_joints(joints) * 0.5  # a half-size rig
    rig = build_rig(smpl_layout(rest), np.random.default_rng(5))
    result = retarget(joints, rig, {n: n for n in NAMES})
    assert result.scale == pytest.approx(0.5, rel=1e-6)
    posed = pose_rig(rig, result)
    np.testing.assert_allclose(posed[:, 0], joints[:, 0] * 0.5, atol=1e-6)
    pinned = pose_rig(rig, retarget(joints, rig, {n: n for n in NAMES}, root_motion=False))
    np.testing.assert_allclose(pinned[:, 0, [0, 2]], 0.0, atol=1e-6)
    np.testing.assert_allclose(pinned[:, 0, 1], joints[:, 0, 1] * 0.5, atol=1e-6)


def test_rotations_are_unit_and_continuous():
    joints = smooth_clip(frames=120, seed=6)
    rig = build_rig(smpl_layout(smpl_rest_joints(joints)), np.random.default_rng(7))
    q = retarget(joints, rig, {n: n for n in NAMES}).rotations
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    assert (np.sum(q[1:] * q[:-1], axis=-1) > 0).all()


def test_bad_maps_are_rejected():
    joints = smooth_clip(frames=5)
    rig = build_rig(smpl_layout(smpl_rest_joints(joints)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="pelvis"):
        retarget(joints, rig, {"left_hip": "left_hip"})
    with pytest.raises(ValueError, match="unknown joint"):
        retarget(joints, rig, {"pelvis": "pelvis", "tail": "pelvis"})
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        retarget(joints[:, :10], rig, {"pelvis": "pelvis"})


def test_rig_with_split_limbs_and_unmapped_twist_bones():
    """Rigify / UE style: each limb bone is split in two (the second half unmapped, like DEF-thigh.L.001), and an
    unmapped root sits above the hips. The mapped joints still land on the clip's joints."""
    joints = smooth_clip(seed=8)
    rest = smpl_rest_joints(joints)
    bones = [("root", None, np.zeros(3), np.array([0.0, 0.0, 0.3]))]
    bone_map = {}
    split = {"left_hip", "right_hip", "left_knee", "right_knee", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow"}
    last_of = {}  # joint -> the bone its children attach to
    for name, parent, head, tail in smpl_layout(rest):
        parent_bone = last_of[parent] if parent else "root"
        bone = f"DEF-{name}"
        bone_map[name] = bone
        if name in split:
            middle = (np.asarray(head) + np.asarray(tail)) / 2
            bones.append((bone, parent_bone, head, middle))
            bones.append((bone + ".001", bone, middle, tail))
            last_of[name] = bone + ".001"
        else:
            bones.append((bone, parent_bone, head, tail))
            last_of[name] = bone
    rig = build_rig(bones, np.random.default_rng(9))
    result = retarget(joints, rig, bone_map)
    posed = pose_rig(rig, result)
    order = [rig.index(bone_map[n]) for n in NAMES]
    np.testing.assert_allclose(posed[:, order], joints, atol=1e-5)
    assert not any(b.endswith(".001") or b == "root" for b in result.bone_names)

"""Retargeting (numpy only): a clip made by FK must be reproduced by the target rig's own FK, whatever its rest pose.

The target's posed joints are evaluated with Blender's pose rule written out in numpy (no bpy here):
orientation Q_b = Q_parent · R_parent^-1 · R_b · L_b, head_b = head_parent + Q_parent · R_parent^-1 · (rest offset).
"""

import numpy as np
import pytest

from motion_core.motion import rotations as rot
from motion_core.motion import skeleton
from motion_core.errors import MotionError
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
        name = rig.bone_names[b]
        if name in result.location_bones:
            loc = result.locations[:, result.location_bones.index(name)]
        else:
            loc = np.zeros((frames, 3))
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
    result = retarget(joints, rig, {n: n for n in NAMES}, match_feet=False)
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
    result = retarget(joints, rig, bone_map, match_feet=False)
    posed = pose_rig(rig, result)
    order = [rig.index(bone_map[n]) for n in NAMES]
    np.testing.assert_allclose(posed[:, order], joints, atol=1e-5)
    assert "mixamorig:HeadTop_End" not in result.bone_names  # unmapped bones are not keyed


def test_root_translation_scales_with_leg_length_and_in_place_pins_it():
    joints = smooth_clip(seed=4)
    rest = smpl_rest_joints(joints) * 0.5  # a half-size rig
    rig = build_rig(smpl_layout(rest), np.random.default_rng(5))
    result = retarget(joints, rig, {n: n for n in NAMES}, match_feet=False)
    assert result.scale == pytest.approx(0.5, rel=1e-6)
    posed = pose_rig(rig, result)
    np.testing.assert_allclose(posed[:, 0], joints[:, 0] * 0.5, atol=1e-6)
    pinned = pose_rig(rig, retarget(joints, rig, {n: n for n in NAMES}, root_motion=False, match_feet=False))
    hip_centre = (pinned[:, 1] + pinned[:, 2]) / 2
    rest_centre = (rig.heads[1] + rig.heads[2]) / 2
    np.testing.assert_allclose(hip_centre[:, [0, 2]] - rest_centre[[0, 2]], 0.0, atol=1e-6)
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
    result = retarget(joints, rig, bone_map, match_feet=False)
    posed = pose_rig(rig, result)
    order = [rig.index(bone_map[n]) for n in NAMES]
    np.testing.assert_allclose(posed[:, order], joints, atol=1e-5)
    assert not any(b.endswith(".001") or b == "root" for b in result.bone_names)


# ---------------------------------------------------------------------------------------- rigs unlike the clip's body

def standing_body():
    """A body (22, 3) standing on the floor (y = 0) with proportions unlike the T2M skeleton's: longer legs, shorter
    arms, the pelvis joint 6 cm above the hip joints, feet flat (ankles 8.5 cm, balls 2 cm high)."""
    p = {"pelvis": (0.0, 0.99, 0.01), "spine1": (0.0, 1.09, 0.0), "spine2": (0.0, 1.21, 0.0),
         "spine3": (0.0, 1.34, 0.0), "neck": (0.0, 1.50, 0.0), "head": (0.0, 1.60, 0.03)}
    for side, s in (("left", 1.0), ("right", -1.0)):
        p.update({f"{side}_hip": (0.09 * s, 0.93, 0.0), f"{side}_knee": (0.09 * s, 0.50, 0.015),
                  f"{side}_ankle": (0.09 * s, 0.085, -0.02), f"{side}_foot": (0.09 * s, 0.02, 0.12),
                  f"{side}_collar": (0.06 * s, 1.43, 0.0), f"{side}_shoulder": (0.18 * s, 1.43, -0.01),
                  f"{side}_elbow": (0.45 * s, 1.43, -0.01), f"{side}_wrist": (0.71 * s, 1.43, -0.01)})
    return np.array([p[n] for n in NAMES])


def walk():
    from motion_core.data.procedural.library import make_clip

    clip = make_clip("walk", np.random.default_rng(7))
    return clip.joints.astype(np.float64), clip.contact


def limb_angles(posed, joints, order):
    """Angles (degrees) between the rig's and the clip's thighs, shins, upper arms and forearms over all frames."""
    out = []
    for side in ("left", "right"):
        for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist")):
            i, k = NAMES.index(f"{side}_{a}"), NAMES.index(f"{side}_{b}")
            u, v = posed[:, order[k]] - posed[:, order[i]], joints[:, k] - joints[:, i]
            cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
            out.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.concatenate(out)


def foot_errors(posed, joints, rig, scale, side):
    """(T,) height error of a foot's lower point (heel down: the ankle, on tiptoe: the ball): the rig's height minus
    its rest height raised by the clip's lift of that point, scaled."""
    lifts, errors = [], []
    for part in ("ankle", "foot"):
        j = NAMES.index(f"{side}_{part}")
        lift = joints[:, j, 1] - joints[:, j, 1].min()
        lifts.append(lift)
        errors.append(posed[:, j, 1] - (rig.heads[j, 1] + lift * scale))
    return np.where(lifts[0] <= lifts[1], errors[0], errors[1])


def test_other_proportions_keep_limb_directions_and_feet_on_the_floor():
    """A rig standing on its floor with other proportions: limbs point where the clip's do, and during the clip's
    planted-foot frames the ankles sit at their rest height (+ the scaled heel lift) within 1 cm; without the floor
    pass they would not (the pelvis joint sits 6 cm above the hips here, 9 cm on the clip)."""
    joints, contact = walk()
    rig = build_rig(smpl_layout(standing_body()), np.random.default_rng(11))
    order = [rig.index(n) for n in NAMES]
    result = retarget(joints, rig, {n: n for n in NAMES})
    posed = pose_rig(rig, result)
    assert limb_angles(posed, joints, order).max() < 1.85  # the floor pass bends a leg by at most 1.8°
    errors = np.concatenate([foot_errors(posed, joints, rig, result.scale, side)[contact[s]]
                             for s, side in enumerate(("left", "right"))])
    assert np.abs(errors).max() < 0.01, np.abs(errors).max()
    # The hip centre follows the clip's, scaled, horizontally.
    centre = (posed[:, 1] + posed[:, 2]) / 2
    np.testing.assert_allclose(centre[:, [0, 2]], joints[:, 1:3].mean(axis=1)[:, [0, 2]] * result.scale, atol=1e-6)


def controls_rig(rest, rng):
    """A Rigify-like rig: animated controls whose heads are not on the joints (the lower spine control is flipped,
    pivoting at its top; a torso master sits mid-pelvis, the hips hang from an unmapped mechanism bone), and deform
    bones on the joints, each rigidly attached to its control. Returns (rig, control map, markers, followers)."""
    bones = [("root", None, np.zeros(3), np.array([0.0, 0.0, 0.3]))]
    mid = (rest[0] + rest[3]) / 2
    bones.append(("torso", "root", mid, mid + [0.0, 0.0, 0.2]))
    # lower spine FK, flipped: head at spine1, pointing down to the pelvis
    bones.append(("spine_fk", "torso", rest[3], rest[0]))
    bones.append(("MCH-thigh_parent.L", "spine_fk", rest[1], rest[1] + [0.0, -0.1, 0.0]))
    bones.append(("MCH-thigh_parent.R", "spine_fk", rest[2], rest[2] + [0.0, -0.1, 0.0]))
    control = {"pelvis": "spine_fk"}
    parent_of = {"pelvis": "spine_fk", "left_hip": "MCH-thigh_parent.L", "right_hip": "MCH-thigh_parent.R"}
    for name, parent, head, tail in smpl_layout(rest):
        if name == "pelvis":
            continue
        bone = f"{name}_fk"
        parent_bone = parent_of.get(name) if name in ("left_hip", "right_hip") else f"{parent}_fk"
        if parent == "pelvis" and name == "spine1":
            parent_bone = "torso"
        bones.append((bone, parent_bone, head, tail))
        control[name] = bone
    markers = {}
    for name, _, head, tail in smpl_layout(rest):
        bones.append((f"DEF-{name}", control[name], head, tail))
        markers[name] = f"DEF-{name}"
    rig = build_rig(bones, rng)
    return rig, control, markers, {"torso": "pelvis"}


def test_controls_rig_with_markers_and_a_torso_root():
    joints = smooth_clip(seed=12)
    rig, control, markers, followers = controls_rig(smpl_rest_joints(joints), np.random.default_rng(13))
    result = retarget(joints, rig, control, markers=markers, followers=followers, root_bone="torso",
                      match_feet=False)
    assert result.location_bones == ["torso"] and "torso" in result.bone_names
    posed = pose_rig(rig, result)
    order = [rig.index(markers[n]) for n in NAMES]
    np.testing.assert_allclose(posed[:, order], joints, atol=1e-5)
    with pytest.raises(ValueError, match="follow the pelvis"):
        retarget(joints, rig, control, markers=markers, root_bone="torso")


def test_deform_bones_hanging_from_still_bones_get_locations():
    """Rigify's deform thighs and arms hang from mechanism bones: baked alone, they need location keys too."""
    joints = smooth_clip(seed=14)
    rest = smpl_rest_joints(joints)
    bones = [("root", None, np.zeros(3), np.array([0.0, 0.0, 0.3])), ("ORG-spine", "root", rest[0], rest[3])]
    for name, parent, head, tail in smpl_layout(rest):
        hang = name in ("pelvis", "left_hip", "right_hip", "left_collar", "left_shoulder")
        bones.append((f"DEF-{name}", "ORG-spine" if hang else f"DEF-{parent}", head, tail))
    rig = build_rig(bones, np.random.default_rng(15))
    bone_map = {n: f"DEF-{n}" for n in NAMES}
    result = retarget(joints, rig, bone_map, match_feet=False)
    assert result.location_bones[0] == "DEF-pelvis"
    assert sorted(result.location_bones[1:]) == ["DEF-left_collar", "DEF-left_hip", "DEF-left_shoulder",
                                                 "DEF-right_hip"]
    posed = pose_rig(rig, result)
    np.testing.assert_allclose(posed[:, [rig.index(bone_map[n]) for n in NAMES]], joints, atol=1e-5)


def test_degenerate_rest_directions_name_the_bones():
    joints = smooth_clip(frames=5)
    rest = smpl_rest_joints(joints)
    rest[6] = rest[3]  # spine2 on top of spine1, like Rigify's spine_fk.001 / spine_fk.002 heads
    rig = build_rig(smpl_layout(rest), np.random.default_rng(0))
    with pytest.raises(MotionError, match="'spine1' and 'spine2' start at the same point"):
        retarget(joints, rig, {n: n for n in NAMES})


def test_resample_to_scene_rates():
    """20 fps keys resampled to 24 and 29.97 fps: one key per target frame over the same duration, rotations slerped
    (unit, continuous), locations linear, a last key past the end holding the final pose; frames that coincide keep
    their values."""
    from motion_core.motion.retarget import resample

    joints = smooth_clip(frames=41, seed=16)
    rig = build_rig(smpl_layout(smpl_rest_joints(joints)), np.random.default_rng(17))
    result = retarget(joints, rig, {n: n for n in NAMES}, match_feet=False)
    for rate, count in ((24.0, 49), (30 / 1.001, 61), (20.0, 41)):  # 2 s: 48, 59.94 -> 60, 40 frames on
        out = resample(result, 20.0, rate)
        assert out.rotations.shape == (count, 22, 4) and out.locations.shape == (count, 1, 3)
        np.testing.assert_allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-5)
        assert (np.sum(out.rotations[1:] * out.rotations[:-1], axis=-1) > 0).all()
    np.testing.assert_allclose(resample(result, 20.0, 30 / 1.001).rotations[-1], result.rotations[-1], atol=1e-6)
    out = resample(result, 20.0, 24.0)
    np.testing.assert_allclose(out.rotations[::6], result.rotations[::5], atol=1e-6)  # 0.25 s steps coincide
    np.testing.assert_allclose(out.locations[3], (result.locations[2] + result.locations[3]) / 2, atol=1e-6)


def test_resampled_clip_keeps_the_feet_on_the_floor_at_every_frame():
    """The walk at 24 fps, its joint positions resampled and retargeted at that rate with the 20 fps clip's leg scale:
    one frame per 1/24 s through the last pose, the 20 fps frames where the times coincide, the root path at the
    clip's scale, and the rig's planted feet on its floor (within 1 cm) at every 24 fps frame, where slerping keys
    retargeted at 20 fps sinks them between the clip's frames."""
    from motion_core.motion.retarget import leg_scale, resample, resample_joints, resample_times

    joints, contact = walk()
    rig = build_rig(smpl_layout(standing_body()), np.random.default_rng(11))
    bone_map = {n: n for n in NAMES}
    times = resample_times(len(joints), 20.0, 24.0)
    np.testing.assert_allclose(times, np.arange(len(times)) / 1.2)
    assert 0 <= times[-1] - (len(joints) - 1) < 20.0 / 24.0
    at_24 = resample_joints(joints, 20.0, 24.0)
    assert at_24.shape == (len(times), 22, 3)
    np.testing.assert_allclose(at_24[::6], joints[::5][:len(at_24[::6])])  # 0.25 s steps coincide
    np.testing.assert_allclose(resample_joints(joints, 20.0, 20.0), joints)
    scale = leg_scale(joints, rig, bone_map)
    assert scale == pytest.approx(retarget(joints, rig, bone_map).scale)

    around = np.clip(times, 0, len(joints) - 1)  # a foot is planted where it is at both 20 fps frames around
    planted = contact[:, np.floor(around + 1e-6).astype(int)] & contact[:, np.ceil(around - 1e-6).astype(int)]

    def feet(result):
        posed = pose_rig(rig, result)
        return np.concatenate([foot_errors(posed, at_24, rig, scale, side)[planted[s]]
                               for s, side in enumerate(("left", "right"))])

    result = retarget(at_24, rig, bone_map, scale=scale)
    assert result.scale == scale
    assert np.abs(feet(result)).max() < 0.01, np.abs(feet(result)).max()
    slerped = resample(retarget(joints, rig, bone_map), 20.0, 24.0)
    assert feet(slerped).min() < -0.003  # the planted foot below the floor between 20 fps frames

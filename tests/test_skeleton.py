"""Skeleton constants, mirroring, forward kinematics and the swing IK (joints -> rotations -> joints)."""

import numpy as np
import pytest

from motion_core.motion import skeleton as S
from motion_core.motion.rotations import (
    axis_angle_to_quat,
    quat_between,
    quat_conjugate,
    quat_from_axis_angle,
    quat_identity,
    quat_mul,
    quat_rotate,
)


def angle_between_quats(a, b):
    """Rotation angle (radians) between unit quaternions, elementwise over (..., 4)."""
    return 2.0 * np.arccos(np.clip(np.abs(np.sum(a * b, axis=-1)), 0.0, 1.0))


def realistic_offsets(layout=S.HUMANML3D, lengths=None):
    """T-pose offsets whose pelvis/chest children sit off the axes (hips below the pelvis), like real skeletons."""
    if lengths is None:
        lengths = S.T2M_BONE_LENGTHS if layout is S.HUMANML3D else np.r_[0.0, np.full(20, 0.2)]
    offsets = layout.rest_directions * np.asarray(lengths)[:, None]
    for joint, (up, plus_x, minus_x) in layout.branch_frames.items():
        for child, direction in ((plus_x, (0.6, -0.75, -0.2)), (minus_x, (-0.65, -0.72, -0.2))):
            if joint == 0:
                offsets[child] = np.array(direction) / np.linalg.norm(direction) * lengths[child]
            else:  # collars: sideways and up
                d = np.array((direction[0], -direction[1] * 0.8, -0.1))
                offsets[child] = d / np.linalg.norm(d) * lengths[child]
        offsets[up] = np.array([0.0, 1.0, 0.05]) / np.linalg.norm([0.0, 1.0, 0.05]) * lengths[up]
    return offsets


def synthetic_motion(frames=120, seed=0, layout=S.HUMANML3D, turns=1.25):
    """Rigid-skeleton motion by FK: smooth random joint swings, a walking, turning root. -> (joints, quats, offsets)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 20.0
    num = layout.num_joints
    axes = rng.normal(size=(num, 3))
    amplitude = rng.uniform(0.2, 0.7, size=num)
    frequency = rng.uniform(0.3, 1.2, size=num)
    phase = rng.uniform(0, 2 * np.pi, size=num)
    axis_angle = (amplitude * np.sin(2 * np.pi * frequency * t + phase))[..., None] * axes / np.linalg.norm(
        axes, axis=-1, keepdims=True
    )
    quats = axis_angle_to_quat(axis_angle)  # (T, J, 4)
    yaw = np.linspace(0, 2 * np.pi * turns, frames)
    root_rot = axis_angle_to_quat(np.stack([0.1 * np.sin(t[:, 0]), yaw, 0.05 * np.cos(t[:, 0])], axis=-1))
    quats[:, 0] = root_rot
    root = np.stack([np.sin(yaw) * 1.5, 0.9 + 0.03 * np.sin(6 * t[:, 0]), np.cos(yaw) * 1.5], axis=-1)
    offsets = realistic_offsets(layout)
    joints = S.forward_kinematics(quats, root, offsets, layout=layout)
    return joints, quats, offsets


def test_constants_match_humanml3d_reference():
    assert len(S.JOINT_NAMES) == 22 and S.JOINT_NAMES[0] == "pelvis" and S.JOINT_NAMES[21] == "right_wrist"
    assert S.JOINT_NAMES[9] == "spine3" and S.JOINT_NAMES[15] == "head"
    assert S.PARENTS == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
    assert all(S.PARENTS[j] < j for j in range(1, 22))
    assert S.RAW_OFFSETS.shape == (22, 3) and S.T2M_OFFSETS.shape == (22, 3)
    np.testing.assert_allclose(np.linalg.norm(S.RAW_OFFSETS[1:], axis=-1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(S.T2M_OFFSETS, axis=-1), S.T2M_BONE_LENGTHS)
    # Every joint but the root appears exactly once as a chain child.
    children = sorted(c for chain in S.KINEMATIC_CHAIN for c in chain[1:])
    assert children == list(range(1, 22))
    assert sorted(S.LEFT_JOINTS + S.RIGHT_JOINTS) == sorted(set(S.LEFT_JOINTS + S.RIGHT_JOINTS))
    for left, right in zip(S.LEFT_JOINTS, S.RIGHT_JOINTS):
        assert S.JOINT_NAMES[left].replace("left", "right") == S.JOINT_NAMES[right]
    assert S.HUMANML3D.feature_dim == 263 and S.KIT.feature_dim == 251
    assert S.KIT_PARENTS[11] == 0 and S.KIT_PARENTS[5] == 3 and len(S.KIT_PARENTS) == 21


def test_t2m_bone_lengths_match_the_humanml3d_sample(humanml3d_sample_dir):
    joints = np.load(humanml3d_sample_dir / "new_joints" / "012314.npy")
    np.testing.assert_allclose(S.bone_lengths(joints), S.T2M_BONE_LENGTHS, atol=5e-6)


def test_rest_pose_is_a_t_pose_facing_plus_z():
    rest = S.forward_kinematics(quat_identity((1, 22)), np.zeros((1, 3)), S.T2M_OFFSETS)[0]
    left_wrist, right_wrist = rest[20], rest[21]
    assert left_wrist[0] > 0.6 and right_wrist[0] < -0.6  # arms out along +-X, left = +X
    np.testing.assert_allclose(left_wrist[1], rest[16][1])  # horizontal arms
    assert rest[10][2] > rest[7][2]  # feet point forward (+Z)
    assert rest[15][1] > rest[12][1] > rest[9][1] > rest[0][1] > rest[4][1] > rest[7][1]  # Y-up


def test_mirror_swaps_sides_and_is_an_involution():
    joints, _, _ = synthetic_motion(20)
    mirrored = S.mirror_joints(joints)
    np.testing.assert_allclose(S.mirror_joints(mirrored), joints)
    np.testing.assert_allclose(mirrored[:, 1, 0], -joints[:, 2, 0])
    np.testing.assert_allclose(mirrored[:, 20], joints[:, 21] * np.array([-1, 1, 1]))
    np.testing.assert_allclose(mirrored[:, 0, 1:], joints[:, 0, 1:])


def test_forward_kinematics_matches_a_manual_chain():
    rng = np.random.default_rng(1)
    quats = axis_angle_to_quat(rng.normal(size=(3, 22, 3)))
    root = rng.normal(size=(3, 3))
    joints = S.forward_kinematics(quats, root, S.T2M_OFFSETS)
    # Left arm by hand: pelvis -> spine1 -> spine2 -> spine3 -> left_collar -> left_shoulder.
    g = quats[:, 0]
    pos = root
    for j in (3, 6, 9, 13, 16):
        pos = pos + quat_rotate(g, S.T2M_OFFSETS[j])
        g = quat_mul(g, quats[:, j])
    np.testing.assert_allclose(joints[:, 16], pos, atol=1e-12)
    np.testing.assert_allclose(S.bone_lengths(joints), S.T2M_BONE_LENGTHS, atol=1e-12)


@pytest.mark.parametrize("layout", [S.HUMANML3D, S.KIT], ids=["humanml3d", "kit"])
def test_ik_then_fk_reproduces_synthetic_rigid_motion(layout):
    joints, _, offsets = synthetic_motion(150, seed=2, layout=layout)
    quats, root = S.joints_to_rotations(joints, layout=layout)
    assert quats.shape == (150, layout.num_joints, 4) and root.shape == (150, 3)
    # With the clip's own rest offsets, and with the offsets it was built from (same shape, different layout).
    np.testing.assert_allclose(S.forward_kinematics(quats, root, S.rest_offsets(joints, layout)), joints, atol=1e-9)
    quats2, root2 = S.joints_to_rotations(joints, offsets=offsets, layout=layout)
    np.testing.assert_allclose(S.forward_kinematics(quats2, root2, offsets), joints, atol=1e-9)


def test_ik_then_fk_reproduces_the_humanml3d_sample(humanml3d_sample_dir):
    joints = np.load(humanml3d_sample_dir / "new_joints" / "012314.npy").astype(np.float64)
    quats, root = S.joints_to_rotations(joints)
    error = np.abs(S.forward_kinematics(quats, root, S.rest_offsets(joints)) - joints).max()
    assert error < 1e-5, error  # float32 input: bone lengths vary by ~1e-6 over the clip


def test_ik_has_no_sign_flips_and_full_frames_define_pelvis_yaw():
    joints, true_quats, _ = synthetic_motion(150, seed=3, turns=2.0)
    quats, _ = S.joints_to_rotations(joints)
    assert np.all(np.sum(quats[1:] * quats[:-1], axis=-1) >= 0)
    # Pelvis frame: the synthetic rest frame is +Y toward a slightly forward-leaning spine1; the true root rotation
    # differs from ours by one constant rotation.
    difference = quat_mul(quat_conjugate(true_quats[:, 0]), quats[:, 0])
    spread = angle_between_quats(difference, difference[:1])
    assert spread.max() < 1e-9
    # End joints keep the identity.
    np.testing.assert_allclose(np.abs(quats[:, [10, 11, 15, 20, 21], 0]), 1.0)


def test_ik_is_smooth_when_the_arms_go_overhead():
    """Both upper arms sweep from hanging down to 3 degrees off straight up and back, through a diagonal plane.
    An arm rest direction of straight down would put the swing's singular direction (opposite the rest direction)
    right on this path and make the shoulder rotation jump (~40 degrees per frame); ours must change about as
    smoothly as the bone does."""
    frames = 81
    lift = np.concatenate([np.linspace(0, np.pi, 41), np.linspace(np.pi, 0, 41)[1:]])
    axis = np.array([np.cos(np.radians(30)), 0.0, np.sin(np.radians(30))])
    start = quat_rotate(quat_from_axis_angle(np.cross(axis, [0, 1, 0]), np.radians(3)), [0, -1, 0])
    arm = quat_rotate(quat_from_axis_angle(axis, lift), start)  # (T, 3) upper-arm direction, left side
    quats = quat_identity((frames, 22))
    quats[:, 16] = quat_between(np.broadcast_to([1.0, 0, 0], arm.shape), arm)
    quats[:, 17] = quat_between(np.broadcast_to([-1.0, 0, 0], arm.shape), arm * [-1, 1, 1])
    joints = S.forward_kinematics(quats, np.tile([0, 0.9, 0], (frames, 1)), realistic_offsets())
    ours, root = S.joints_to_rotations(joints)
    np.testing.assert_allclose(S.forward_kinematics(ours, root, S.rest_offsets(joints)), joints, atol=1e-9)
    step = angle_between_quats(ours[1:], ours[:-1])  # (T-1, 22)
    bone_step = np.arccos(np.clip(np.sum(arm[1:] * arm[:-1], axis=-1), -1, 1)).max()
    assert step.max() < 1.5 * bone_step, (np.degrees(step.max()), np.degrees(bone_step))


def test_bone_lengths_and_offsets_from_lengths():
    joints, _, offsets = synthetic_motion(10)
    lengths = S.bone_lengths(joints)
    np.testing.assert_allclose(lengths, np.linalg.norm(offsets, axis=-1), atol=1e-12)
    np.testing.assert_allclose(S.offsets_from_lengths(S.T2M_BONE_LENGTHS), S.T2M_OFFSETS)
    assert S.bone_lengths(joints[0]).shape == (22,)
    with pytest.raises(ValueError):
        S.get_layout(joints=17)


def test_local_offsets_make_fk_exact_for_non_rigid_branch_triangles():
    joints, _, _ = synthetic_motion(60, seed=5)
    wobble = 0.03 * np.sin(np.arange(60) / 5.0)[:, None]
    joints = joints.copy()
    joints[:, [1, 4, 7, 10]] += wobble[:, None] * np.array([0.0, 1.0, 0.5])  # the left leg slides against the pelvis
    quats, root = S.joints_to_rotations(joints)
    static_error = np.abs(S.forward_kinematics(quats, root, S.rest_offsets(joints)) - joints).max()
    assert static_error > 0.01  # one rotation cannot place a deforming triangle...
    offsets = S.local_offsets(joints, quats)
    np.testing.assert_allclose(S.forward_kinematics(quats, root, offsets), joints, atol=1e-9)  # ...per-frame can
    # Single-child bones keep their rest offsets: only the pelvis/chest children vary.
    varying = np.ptp(offsets, axis=0).max(axis=-1) > 1e-9
    assert set(np.flatnonzero(varying)) <= {1, 2, 3, 12, 13, 14}
    assert varying[1]

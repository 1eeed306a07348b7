"""kinematics.py: the one FK (quaternion and matrix forms) gives exactly what the three FKs it replaced gave.

The references below are the FK code of skeleton.py, mocap.py and the procedural body as it was before issue 14
(commit 12224c1), copied verbatim; the new code must match them bit for bit on the CMU test files and on procedural
clips of every kind.
"""

import numpy as np
import pytest

from conftest import TEST_DATA
from motion_core.data.procedural import ACTION_KINDS, library, sample_random_clip
from motion_core.data.procedural import body as B
from motion_core.motion import kinematics, skeleton
from motion_core.motion.mocap import import_motion, read_source
from motion_core.motion.rotations import quat_mul, quat_rotate

CMU = TEST_DATA / "cmu"
FILES = sorted(CMU.glob("bvh-*/*.bvh")) + [CMU / "amc" / "35_01.amc"]


def _skeleton_fk_before(local_quats, root_pos, offsets, parents):
    local_quats = np.asarray(local_quats, dtype=np.float64)
    root_pos = np.asarray(root_pos, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    num = len(parents)
    global_quats = [None] * num
    positions = [None] * num
    global_quats[0] = local_quats[..., 0, :]
    positions[0] = np.broadcast_to(root_pos, local_quats.shape[:-2] + (3,))
    for j in range(1, num):  # parents come before children in both layouts
        p = parents[j]
        positions[j] = positions[p] + quat_rotate(global_quats[p], offsets[..., j, :])
        global_quats[j] = quat_mul(global_quats[p], local_quats[..., j, :])
    return np.stack(positions, axis=-2)


def _global_rotations_before(local_quats, parents):
    local_quats = np.asarray(local_quats, dtype=np.float64)
    out = [local_quats[..., 0, :]]
    for j in range(1, len(parents)):
        out.append(quat_mul(out[parents[j]], local_quats[..., j, :]))
    return np.stack(out, axis=-2)


def _mocap_world_transforms_before(parents, rotations, translations):
    world_rot = np.empty_like(rotations)
    positions = np.empty_like(translations)
    for j, p in enumerate(parents):
        if p < 0:
            world_rot[:, j] = rotations[:, j]
            positions[:, j] = translations[:, j]
        else:
            world_rot[:, j] = world_rot[:, p] @ rotations[:, j]
            positions[:, j] = positions[:, p] + (world_rot[:, p] @ translations[:, j, :, None])[..., 0]
    return world_rot, positions


def _solve_pose_before(tracks):
    """body.solve_pose before issue 14 (its trunk by hand-written FK with joint numbers)."""
    t = tracks.n_frames
    joints = np.empty((t, 22, 3))
    # One batched call for pelvis, spine1..3 and neck rotations: (5, T, 3, 3).
    spine_w = np.array([0.25, 0.35, 0.40])[:, None]
    yaw = np.concatenate([(tracks.heading + tracks.pelvis[:, 2])[None], spine_w * tracks.spine[:, 2],
                          tracks.neck[:, 2][None]])
    pitch = np.concatenate([tracks.pelvis[:, 0][None], spine_w * tracks.spine[:, 0], tracks.neck[:, 0][None]])
    side = np.concatenate([tracks.pelvis[:, 1][None], spine_w * tracks.spine[:, 1], tracks.neck[:, 1][None]])
    local = B.body_matrix(yaw, pitch, side)
    r_pelvis = local[0]
    hip_offsets = np.stack([r_pelvis @ B.REST_OFFSETS[1], r_pelvis @ B.REST_OFFSETS[2]])  # (2, T, 3)

    # Lower the pelvis where needed so both legs reach (smooth, so no velocity kinks at the limit).
    root = tracks.root.copy()
    ankle = tracks.ankle
    hips_xz = root[None, :, [0, 2]] + hip_offsets[:, :, [0, 2]]
    horizontal = ankle[:, :, [0, 2]] - hips_xz
    vertical = np.sqrt(np.maximum(B.LEG_REACH[:, None] ** 2 - (horizontal * horizontal).sum(-1), 0.01))
    # Only planted feet must be reached; a swing foot may fall short (IK pulls it in) without visible harm.
    slack = 0.15 * (1.0 - np.stack([B._widen(tracks.contact[s], 2) for s in range(2)]))
    limit = (ankle[:, :, 1] + vertical - hip_offsets[:, :, 1] + slack).min(0)
    # Smooth the drop: widen it (max filter) and blur it, so the pelvis never jerks at the reach limit.
    drop = B._smooth_drop(root[:, 1] - B.soft_min(root[:, 1], limit))
    root[:, 1] -= drop
    joints[:, 0] = root

    # Trunk, head and collars: forward kinematics.
    rotation = r_pelvis
    parent_pos = root
    for i, joint in enumerate((3, 6, 9)):
        joints[:, joint] = parent_pos + rotation @ B.REST_OFFSETS[joint]
        rotation = rotation @ local[1 + i]
        parent_pos = joints[:, joint]
    r_chest = rotation
    joints[:, 12] = joints[:, 9] + r_chest @ B.REST_OFFSETS[12]
    joints[:, 15] = joints[:, 12] + (r_chest @ local[4]) @ B.REST_OFFSETS[15]
    for s, (collar, shoulder) in enumerate(((13, 16), (14, 17))):
        joints[:, collar] = joints[:, 9] + r_chest @ B.REST_OFFSETS[collar]
        # Shrug: the collar rotates about the chest's forward axis.
        angle = tracks.collar[:, s] * B.SIDE_SIGN[s]
        ox, oy, oz = B.REST_OFFSETS[shoulder]
        c, sn = np.cos(angle), np.sin(angle)
        raised = np.stack([c * ox - sn * oy, sn * ox + c * oy, np.full(t, oz)], -1)
        joints[:, shoulder] = joints[:, collar] + B._apply(r_chest, raised)

    # Arms (both at once): wrist targets in the chest frame -> two-bone IK.
    shoulders = joints[:, [16, 17]].transpose(1, 0, 2)                          # (2, T, 3)
    targets = shoulders + B._apply(r_chest[None], tracks.hand)
    poles = B._apply(r_chest[None], tracks.elbow_pole)
    elbows, wrists = B.two_bone_ik(shoulders, targets, poles, B.UPPER_ARM[:, None, None], B.FOREARM[:, None, None])
    joints[:, [18, 19]] = elbows.transpose(1, 0, 2)
    joints[:, [20, 21]] = wrists.transpose(1, 0, 2)

    # Legs (both at once): hips from the pelvis, knees by IK toward the pole, feet along yaw / pitch.
    hips = root[None] + hip_offsets
    if tracks.knee_pole is not None:
        knee_poles = tracks.knee_pole
    else:
        knee_poles = (B.foot_direction(tracks.foot_yaw, np.zeros_like(tracks.foot_yaw))
                      + 0.3 * r_pelvis[None, :, :, 2])
    knees, ankles = B.two_bone_ik(hips, ankle, knee_poles, B.THIGH[:, None, None], B.SHIN[:, None, None])
    toes = ankles + B.FOOT[:, None, None] * B.foot_direction(tracks.foot_yaw,
                                                             B.FOOT_REST_PITCH[:, None] + tracks.foot_pitch)
    joints[:, [1, 2]] = hips.transpose(1, 0, 2)
    joints[:, [4, 5]] = knees.transpose(1, 0, 2)
    joints[:, [7, 8]] = ankles.transpose(1, 0, 2)
    joints[:, [10, 11]] = toes.transpose(1, 0, 2)
    return joints.astype(np.float32)


def test_named_joints_follow_the_skeleton_order():
    assert [getattr(kinematics, name.upper()) for name in skeleton.JOINT_NAMES] == list(range(skeleton.NUM_JOINTS))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_matrix_fk_matches_the_mocap_fk_it_replaced(path):
    source = read_source(path)
    rotations, translations = source.transforms()
    world_rot, positions = kinematics.fk_matrices(source.parents, rotations, translations)
    old_rot, old_positions = _mocap_world_transforms_before(source.parents, rotations, translations)
    assert np.array_equal(world_rot, old_rot) and np.array_equal(positions, old_positions)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_quaternion_fk_matches_the_skeleton_fk_it_replaced(path):
    joints = import_motion(path).joints.astype(np.float64)
    quats, root = skeleton.joints_to_rotations(joints)
    for offsets in (skeleton.rest_offsets(joints), skeleton.local_offsets(joints, quats)):
        assert np.array_equal(skeleton.forward_kinematics(quats, root, offsets),
                              _skeleton_fk_before(quats, root, offsets, skeleton.PARENTS))
    assert np.array_equal(skeleton.global_rotations(quats), _global_rotations_before(quats, skeleton.PARENTS))


def test_quaternion_fk_on_the_kit_layout():
    rng = np.random.default_rng(0)
    quats = rng.normal(size=(9, skeleton.KIT_NUM_JOINTS, 4))
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    root, offsets = rng.normal(size=(9, 3)), skeleton.KIT.rest_directions
    assert np.array_equal(skeleton.forward_kinematics(quats, root, offsets, layout="kit"),
                          _skeleton_fk_before(quats, root, offsets, skeleton.KIT_PARENTS))


def test_procedural_body_matches_its_own_fk_it_replaced(monkeypatch):
    tracks = []
    solve = library.solve_pose
    monkeypatch.setattr(library, "solve_pose", lambda t: tracks.append(t) or solve(t))
    for kind in ACTION_KINDS:
        library.generate_clip(kind, np.random.default_rng(0))
    for seed in range(12):  # chains and gestures over locomotion too
        sample_random_clip(np.random.default_rng(seed))
    assert len(tracks) > len(ACTION_KINDS)
    for t in tracks:
        assert np.array_equal(B.solve_pose(t), _solve_pose_before(t))

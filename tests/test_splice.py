"""motion_core.motion.splice: the yaw fit recovers a known rigid move, spliced frames meet the original with the same
position (exactly) and velocity (to the generated motion's own acceleration), in float64."""

import numpy as np
import pytest

from motion_core.data.procedural import generate_clip
from motion_core.motion.splice import apply_yaw, splice_after, splice_between, yaw_fit


@pytest.fixture(scope="module")
def walk():
    joints, _ = generate_clip("walk", np.random.default_rng(7))
    return np.asarray(joints, np.float64)


@pytest.fixture(scope="module")
def jacks():
    joints, _ = generate_clip("jumping_jacks", np.random.default_rng(3))
    return np.asarray(joints, np.float64)


def test_yaw_fit_recovers_a_rigid_move(walk):
    pivot = np.array([0.3, 0.0, -1.0])
    moved = apply_yaw(walk[10], 2.5, pivot, np.array([1.0, 0.1, -2.0]))
    angle, offset = yaw_fit(walk[10], moved, pivot)
    assert angle == pytest.approx(2.5, abs=1e-12)
    np.testing.assert_allclose(apply_yaw(walk[10], angle, pivot, offset), moved, atol=1e-12)
    # a quarter turn takes +X to +Z (the docstring's direction)
    np.testing.assert_allclose(apply_yaw(np.array([[1.0, 0.0, 0.0]]), np.pi / 2, np.zeros(3), np.zeros(3)),
                               [[0.0, 0.0, 1.0]], atol=1e-12)


def test_a_rigidly_moved_copy_splices_back_to_the_original(walk):
    moved = apply_yaw(walk, 0.7, np.zeros(3), np.array([3.0, 0.02, 1.0]))
    np.testing.assert_allclose(splice_between(walk, moved, 20, 60), walk, atol=1e-9)
    np.testing.assert_allclose(splice_after(walk[:30], moved), walk[29:], atol=1e-9)


def _velocity_jump(joints, frame):
    return np.abs((joints[frame + 1] - joints[frame]) - (joints[frame] - joints[frame - 1])).max()


def test_other_motion_meets_both_seams(walk, jacks):
    T = min(len(walk), len(jacks))
    original, other = walk[:T], apply_yaw(jacks[:T], -2.0, np.zeros(3), np.array([-4.0, 0.05, 7.0]))
    first, last = 25, T - 30
    out = splice_between(original, other, first, last)
    np.testing.assert_array_equal(out[:first + 1], original[:first + 1])
    np.testing.assert_array_equal(out[last:], original[last:])
    accel = np.abs(np.diff(np.concatenate([original, other]), n=2, axis=0)).max()  # the clips' own
    for frame in (first, last):
        assert _velocity_jump(out, frame) <= 1.5 * accel
    step = np.abs(np.diff(np.concatenate([original, other]), axis=0)).max()
    assert np.abs(np.diff(out[first:last + 1], axis=0)).max() <= 1.5 * step  # nothing jumps inside either


def test_continuation_starts_at_the_last_given_pose(walk, jacks):
    given = walk[:40]
    other = apply_yaw(jacks[:90], 1.0, np.zeros(3), np.array([2.0, -0.03, 0.0]))
    out = splice_after(given, other)
    assert out.shape == (90 - 39, 22, 3)
    np.testing.assert_array_equal(out[0], given[-1])
    joined = np.concatenate([given, out[1:]])
    accel = np.abs(np.diff(np.concatenate([walk, jacks]), n=2, axis=0)).max()
    assert _velocity_jump(joined, 39) <= 1.5 * accel


def test_continuation_keeps_the_given_floor(walk, jacks):
    """Given frames standing 12 cm higher than the generated ones (a rig with other feet): the new frames end up on
    the given floor (within FLOOR_TOLERANCE), frame 0 stays the given pose, and a floor already shared is left alone."""
    from motion_core.motion.splice import FLOOR_TOLERANCE, floor_height

    given = walk[:40] + np.array([0.0, 0.12, 0.0])
    out = splice_after(given, jacks[:120])
    np.testing.assert_array_equal(out[0], given[-1])
    assert abs(floor_height(out[20:]) - floor_height(given)) <= FLOOR_TOLERANCE + 1e-9
    assert abs(floor_height(splice_after(walk[:40], jacks[:120])[20:]) - floor_height(jacks)) < 0.02


def test_rotations_meet_the_kept_ones_and_carry_their_twist():
    """splice_rotations: frame 0 and n-1 are the kept rotations (up to sign), a constant twist on the kept ones is
    carried through the span unchanged, the series is hemisphere-continuous from the kept sign."""
    from motion_core.motion import rotations as rot
    from motion_core.motion.splice import splice_offsets, splice_rotations

    rng = np.random.default_rng(0)
    axis = rng.normal(size=(3, 3))
    generated = rot.quat_from_axis_angle(axis[None], np.linspace(0, 1.5, 21)[:, None])  # (21, 3, 4)
    twist = rot.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), 0.7)
    kept_a, kept_b = -rot.quat_mul(generated[0], twist), rot.quat_mul(generated[-1], twist)  # A on the other sign
    out = splice_rotations(generated, kept_a, kept_b)
    np.testing.assert_allclose(out[0], kept_a, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(out[-1] * kept_b, axis=-1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(out * rot.quat_mul(generated, twist), axis=-1)), 1.0, atol=1e-12)
    assert (np.sum(out[1:] * out[:-1], axis=-1) > 0).all()
    values = rng.normal(size=(11, 2, 3))
    moved = splice_offsets(values, values[0] + 1.0, values[-1] - 2.0)
    np.testing.assert_allclose(moved[[0, -1]], [values[0] + 1.0, values[-1] - 2.0], atol=1e-12)

"""Rotation helpers: seeded float64 round trips, named corner cases, conventions pinned by hand-made rotations."""

import itertools

import numpy as np
import pytest

from motion_core.motion import rotations as R


def random_quats(n, seed=0):
    return R.quat_normalize(np.random.default_rng(seed).normal(size=(n, 4)))


def same_rotation(q1, q2):
    """|q1 . q2| = 1 for equal rotations (double cover)."""
    return np.abs(np.abs(np.sum(q1 * q2, axis=-1)) - 1.0)


def rodrigues(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


# Rotations by pi about 26 axes (all non-zero vectors with entries in {-1, 0, 1}): the hard case for matrix_to_quat.
AXES_26 = [np.array(v, float) for v in itertools.product((-1, 0, 1), repeat=3) if any(v)]


def test_convention_quarter_turn_about_y_takes_z_to_x():
    q = R.quat_from_axis_angle([0, 1, 0], np.pi / 2)
    np.testing.assert_allclose(q, [np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0], atol=1e-12)
    np.testing.assert_allclose(R.quat_rotate(q, [0, 0, 1]), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(q) @ np.array([0, 0, 1.0]), [1, 0, 0], atol=1e-12)


def test_quat_mul_order_matches_matrix_product():
    a, b = random_quats(50, 1), random_quats(50, 2)
    np.testing.assert_allclose(
        R.quat_to_matrix(R.quat_mul(a, b)), R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=1e-12
    )
    v = np.random.default_rng(3).normal(size=(50, 3))
    np.testing.assert_allclose(R.quat_rotate(R.quat_mul(a, b), v), R.quat_rotate(a, R.quat_rotate(b, v)), atol=1e-12)


def test_inverse_and_conjugate():
    q = random_quats(100)
    np.testing.assert_allclose(R.quat_mul(q, R.quat_inv(q)), R.quat_identity((100,)), atol=1e-12)
    scaled = 3.0 * q  # quat_inv handles non-unit quaternions, the conjugate does not
    np.testing.assert_allclose(R.quat_mul(scaled, R.quat_inv(scaled)), R.quat_identity((100,)), atol=1e-12)
    np.testing.assert_allclose(R.quat_conjugate(q), R.quat_inv(q), atol=1e-12)


def test_rotate_matches_matrix_and_broadcasts():
    q = random_quats(7)[:, None, :]  # (7, 1, 4)
    v = np.random.default_rng(4).normal(size=(1, 5, 3))
    out = R.quat_rotate(q, v)
    assert out.shape == (7, 5, 3)
    np.testing.assert_allclose(out, np.einsum("aij,abj->abi", R.quat_to_matrix(q[:, 0]), np.broadcast_to(v, (7, 5, 3))))
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(np.broadcast_to(v, out.shape), axis=-1))


def test_matrix_quat_round_trip_random():
    q = random_quats(2000, 5)
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)
    back = R.matrix_to_quat(m)
    assert np.all(back[:, 0] >= 0)
    assert same_rotation(back, q).max() < 1e-12


@pytest.mark.parametrize("angle", [np.pi, np.pi - 1e-7, 1e-9, 0.0])
def test_matrix_to_quat_corner_angles_about_26_axes(angle):
    for axis in AXES_26:
        m = rodrigues(axis, angle)
        q = R.matrix_to_quat(m)
        np.testing.assert_allclose(R.quat_to_matrix(q), m, atol=1e-10)
        np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-12)


def test_matrix_to_quat_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        R.matrix_to_quat(np.zeros((3, 4)))


def test_quat_between_general_parallel_antiparallel():
    rng = np.random.default_rng(6)
    u = rng.normal(size=(500, 3))
    v = rng.normal(size=(500, 3)) * 3.0
    q = R.quat_between(u, v)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(R.quat_rotate(q, unit(u)), unit(v), atol=1e-12)
    # Shortest arc: the rotation axis is perpendicular to both.
    assert np.abs(np.sum(q[:, 1:] * u, axis=-1)).max() < 1e-12
    # Parallel gives the identity; antiparallel gives a 180 degree turn with a finite result.
    np.testing.assert_allclose(R.quat_between(u, 2 * u), R.quat_identity((500,)), atol=1e-12)
    flipped = R.quat_between(u, -u)
    assert np.all(np.isfinite(flipped))
    np.testing.assert_allclose(R.quat_rotate(flipped, unit(u)), -unit(u), atol=1e-12)
    for axis in AXES_26:
        np.testing.assert_allclose(R.quat_rotate(R.quat_between(axis, -axis), axis), -axis, atol=1e-12)
    # A zero vector has no direction: identity, not NaN.
    np.testing.assert_allclose(R.quat_between([0, 0, 0], [1, 0, 0]), [1, 0, 0, 0])


def test_axis_angle_round_trip_and_small_angles():
    rng = np.random.default_rng(7)
    axis_angle = rng.normal(size=(500, 3))
    axis_angle *= (rng.uniform(0, np.pi - 1e-3, 500) / np.linalg.norm(axis_angle, axis=-1))[:, None]
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(axis_angle)), axis_angle, atol=1e-10)
    tiny = np.array([1e-9, -2e-9, 3e-10])
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(tiny)), tiny, rtol=1e-6)
    for axis in AXES_26[:5]:
        m = rodrigues(axis, 0.7)
        np.testing.assert_allclose(R.quat_to_matrix(R.quat_from_axis_angle(axis, 0.7)), m, atol=1e-12)


def test_slerp_endpoints_midpoint_and_shorter_arc():
    q0 = R.quat_from_axis_angle([0, 1, 0], 0.2)
    q1 = R.quat_from_axis_angle([0, 1, 0], 1.4)
    assert same_rotation(R.quat_slerp(q0, q1, 0.0), q0) < 1e-12
    assert same_rotation(R.quat_slerp(q0, q1, 1.0), q1) < 1e-12
    assert same_rotation(R.quat_slerp(q0, q1, 0.25), R.quat_from_axis_angle([0, 1, 0], 0.5)) < 1e-12
    # -q1 is the same rotation: interpolation must still take the short way.
    assert same_rotation(R.quat_slerp(q0, -q1, 0.5), R.quat_from_axis_angle([0, 1, 0], 0.8)) < 1e-12
    # Vectorised t, and nearly equal inputs stay finite.
    out = R.quat_slerp(q0, q0 + 1e-12, np.linspace(0, 1, 5))
    assert out.shape == (5, 4) and np.all(np.isfinite(out))


def test_quat_fix_removes_sign_flips_along_time():
    t = np.linspace(0, 4 * np.pi, 200)
    q = R.quat_from_axis_angle(np.array([0.3, 1.0, 0.2]), t)  # passes 2 pi: the sign of q flips
    q = np.stack([q, R.quat_standardize(q)], axis=1)  # (T, 2, 4), second column forced to w >= 0 (jumps)
    fixed = R.quat_fix(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) >= 0)
    assert same_rotation(fixed, q).max() < 1e-12
    np.testing.assert_allclose(fixed[0], q[0])
    # Time along another axis.
    fixed_1 = R.quat_fix(np.swapaxes(q, 0, 1), axis=1)
    np.testing.assert_allclose(np.swapaxes(fixed_1, 0, 1), fixed)


def test_6d_round_trip_and_gram_schmidt():
    q = random_quats(500, 8)
    d6 = R.quat_to_6d(q)
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(d6[:, :3], m[:, :, 0])  # first two COLUMNS (HumanML3D cont6d)
    np.testing.assert_allclose(d6[:, 3:], m[:, :, 1])
    np.testing.assert_allclose(R.sixd_to_matrix(d6), m, atol=1e-12)
    assert same_rotation(R.sixd_to_quat(d6), q).max() < 1e-12
    noisy = d6 * 1.7 + np.random.default_rng(9).normal(scale=0.05, size=d6.shape)
    mn = R.sixd_to_matrix(noisy)
    np.testing.assert_allclose(mn @ np.swapaxes(mn, -1, -2), np.broadcast_to(np.eye(3), mn.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mn), 1.0, atol=1e-12)
    # The first column keeps the direction of the first input vector.
    first = noisy[:, :3] / np.linalg.norm(noisy[:, :3], axis=-1, keepdims=True)
    np.testing.assert_allclose(mn[:, :, 0], first, atol=1e-12)


ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]


@pytest.mark.parametrize("order", ORDERS)
def test_euler_intrinsic_definition_and_round_trip(order):
    rng = np.random.default_rng(10)
    angles = rng.uniform(-np.pi, np.pi, size=(300, 3))
    angles[:, 1] = rng.uniform(-np.pi / 2 + 1e-3, np.pi / 2 - 1e-3, 300)
    basis = {"X": [1, 0, 0], "Y": [0, 1, 0], "Z": [0, 0, 1]}
    k = 17
    expected = (
        rodrigues(basis[order[0]], angles[k, 0])
        @ rodrigues(basis[order[1]], angles[k, 1])
        @ rodrigues(basis[order[2]], angles[k, 2])
    )
    m = R.euler_to_matrix(angles, order)
    np.testing.assert_allclose(m[k], expected, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(R.euler_to_quat(angles, order)), m, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_euler(m, order), angles, atol=1e-9)
    np.testing.assert_allclose(R.quat_to_euler(R.euler_to_quat(angles, order), order), angles, atol=1e-9)
    degrees = np.rad2deg(angles)
    np.testing.assert_allclose(R.euler_to_matrix(degrees, order.lower(), degrees=True), m, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_euler(m, order, degrees=True), degrees, atol=1e-7)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_gimbal_lock_still_reproduces_the_matrix(order):
    angles = np.array([[0.3, np.pi / 2, -0.8], [1.1, -np.pi / 2, 0.4]])
    m = R.euler_to_matrix(angles, order)
    back = R.matrix_to_euler(m, order)
    np.testing.assert_allclose(R.euler_to_matrix(back, order), m, atol=1e-9)


def test_euler_against_scipy_when_available():
    rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    angles = np.random.default_rng(11).uniform(-3, 3, size=(100, 3))
    for order in ORDERS:  # scipy: upper case = intrinsic
        np.testing.assert_allclose(
            R.euler_to_matrix(angles, order), rotation.from_euler(order, angles).as_matrix(), atol=1e-12
        )


@pytest.mark.parametrize("order", ["XYX", "XY", "ABC", 3])
def test_euler_rejects_bad_orders(order):
    with pytest.raises(ValueError):
        R.euler_to_matrix(np.zeros(3), order)


@pytest.mark.parametrize("order", ["ZYX", "YXZ", "XZY"])
def test_euler_continuous_keeps_rotations_and_removes_jumps(order):
    """A slow turn through gimbal lock and past ±180°: the continuous angles give the same rotations and never step
    by more than the rotation itself moves (no 2π wraps, no flips to the other solution)."""
    t = np.linspace(0.0, 1.0, 400)
    axes = np.stack([np.sin(3 * t), np.ones_like(t), np.cos(2 * t)], axis=-1)
    q = R.quat_fix(R.quat_from_axis_angle(axes / np.linalg.norm(axes, axis=-1, keepdims=True), 7.0 * t), axis=0)
    raw = R.quat_to_euler(q, order)
    smooth = R.euler_continuous(raw[:, None])[:, 0]  # (T, 1, 3) -> (T, 3), a batch axis after time
    np.testing.assert_allclose(np.abs(np.sum(R.euler_to_quat(smooth, order) * q, -1)), 1.0, atol=1e-9)
    assert np.abs(np.diff(smooth, axis=0)).max() < 0.3
    assert np.abs(np.diff(raw, axis=0)).max() > 3.0  # the raw angles did jump


def test_euler_continuous_through_gimbal_lock():
    """A turn about the middle axis past 90°: the usual solution folds back (b = 180° - angle, a and c jump by 180°);
    the continuous one keeps turning."""
    angle = np.radians(np.linspace(0.0, 170.0, 60))
    q = R.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), angle)
    raw = R.quat_to_euler(q, "ZYX")
    assert np.abs(np.diff(raw[:, 0])).max() > 3.0
    smooth = R.euler_continuous(raw)
    np.testing.assert_allclose(np.abs(np.sum(R.euler_to_quat(smooth, "ZYX") * q, -1)), 1.0, atol=1e-9)
    assert np.abs(np.diff(smooth, axis=0)).max() < 0.1

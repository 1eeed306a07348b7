"""Two-bone IK: bone lengths always kept, reachable targets met exactly, the bend follows the pole (float64)."""

import numpy as np

from motion_core.motion.ik import two_bone_ik


def test_reachable_targets_are_met_with_both_lengths_kept():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(500, 3))
    upper, lower = np.full((500, 1), 0.4), np.full((500, 1), 0.35)
    direction = rng.normal(size=(500, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    target = base + direction * rng.uniform(0.1, 0.74, size=(500, 1))
    middle, end = two_bone_ik(base, target, rng.normal(size=(500, 3)), upper, lower)
    np.testing.assert_allclose(end, target, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(middle - base, axis=-1), 0.4, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(end - middle, axis=-1), 0.35, atol=1e-9)


def test_out_of_reach_stops_on_the_line_with_lengths_kept():
    base = np.zeros((1, 3))
    middle, end = two_bone_ik(base, np.array([[0.0, -2.0, 0.0]]), np.array([[0.0, 0.0, 1.0]]), 0.4, 0.35)
    np.testing.assert_allclose(end, [[0.0, -0.75, 0.0]], atol=1e-4)
    assert abs(np.linalg.norm(middle) - 0.4) < 1e-9 and abs(np.linalg.norm(end - middle) - 0.35) < 1e-9


def test_knee_bends_toward_the_pole():
    base, target = np.zeros((1, 3)), np.array([[0.0, -0.6, 0.0]])
    middle, _ = two_bone_ik(base, target, np.array([[0.0, 0.3, 1.0]]), 0.4, 0.35)  # pole's part along the leg ignored
    assert middle[0, 2] > 0.1 and abs(middle[0, 0]) < 1e-12

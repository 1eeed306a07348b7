"""motion_core.metrics against answers known in closed form."""

import numpy as np
import pytest

from motion_core import metrics


def _random_covariance(rng, dim):
    a = rng.standard_normal((dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def test_fid_of_identical_sets_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 16))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(1)
    cov = _random_covariance(rng, 8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    # same covariance: only the means differ
    assert metrics.frechet_distance(mu1, cov, mu2, cov) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-9)
    # commuting (diagonal) covariances: sum of (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.1, 3.0, 8), rng.uniform(0.1, 3.0, 8)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(a), mu1, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_fid_grows_with_a_mean_shift():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4000, 4))
    y = rng.standard_normal((4000, 4))
    near = metrics.fid(x, y)
    assert near < 0.02  # two samples of one Gaussian
    shift = np.array([2.0, 0, 0, 0])
    assert metrics.fid(x, x + shift) == pytest.approx(4.0, rel=1e-9)  # same covariance, means 2 apart
    assert metrics.fid(x, y + shift) > 3.0


def test_r_precision_of_a_perfect_encoder_is_one():
    rng = np.random.default_rng(3)
    motions = rng.standard_normal((96, 8))
    top = metrics.r_precision(motions, motions, top_k=3, batch_size=32, rng=rng)
    np.testing.assert_allclose(top, [1.0, 1.0, 1.0])


def test_r_precision_of_a_wrong_and_a_random_encoder():
    rng = np.random.default_rng(4)
    motions = rng.standard_normal((64, 8))
    # every text sits on the next pair's motion: its own motion is never the nearest
    texts = np.roll(motions, 1, axis=0)
    assert metrics.r_precision(texts, motions, batch_size=32)[0] == 0.0
    # random embeddings: top-k hit rate is k/32 on average
    texts, motions = rng.standard_normal((32 * 400, 8)), rng.standard_normal((32 * 400, 8))
    top = metrics.r_precision(texts, motions, top_k=3, batch_size=32, rng=rng)
    np.testing.assert_allclose(top, np.array([1, 2, 3]) / 32, atol=0.01)


def test_r_precision_drops_the_partial_batch():
    rng = np.random.default_rng(5)
    motions = rng.standard_normal((40, 4))
    texts = motions.copy()
    texts[32:] += 100.0  # only the dropped last 8 pairs are wrong
    assert metrics.r_precision(texts, motions, batch_size=32)[0] == 1.0
    with pytest.raises(ValueError):
        metrics.r_precision(texts[:31], motions[:31], batch_size=32)


def test_matching_distance_diversity_multimodality():
    rng = np.random.default_rng(6)
    motions = rng.standard_normal((400, 5))
    offset = np.zeros(5)
    offset[2] = 2.0
    assert metrics.matching_distance(motions + offset, motions) == pytest.approx(2.0)
    assert metrics.diversity(np.ones((400, 5)), 300, rng) == 0.0
    # distances scale linearly with the embeddings (same pairs drawn from the same seed)
    one = metrics.diversity(motions, 300, np.random.default_rng(9))
    two = metrics.diversity(2 * motions, 300, np.random.default_rng(9))
    assert two == pytest.approx(2 * one)
    same = np.repeat(rng.standard_normal((10, 1, 5)), 30, axis=1)
    assert metrics.multimodality(same, 10, rng) == 0.0
    # generations alternate between two points 3 apart: a pair is 3 apart or 0 apart, half the time each
    two_points = np.zeros((200, 30, 5))
    two_points[:, 1::2, 0] = 3.0
    assert metrics.multimodality(two_points, 10, np.random.default_rng(1)) == pytest.approx(1.5, abs=0.1)
    with pytest.raises(ValueError):
        metrics.diversity(motions[:100], 300, rng)


def test_mean_ci95():
    result = metrics.mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert result["mean"] == 2.5
    assert result["ci95"] == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)


def _standing(frames=40):
    """(T, 22, 3): every joint at 1 m height except the feet (10, 11) and ankles (7, 8), near the floor."""
    joints = np.zeros((frames, 22, 3))
    joints[..., 1] = 1.0
    joints[:, [7, 8], 1] = 0.08
    joints[:, [10, 11], 1] = 0.02
    joints[:, 11, 0] = 0.2
    return joints


def test_foot_skate_of_a_planted_foot_is_zero():
    joints = _standing()
    joints[:, :9, 2] += np.linspace(0, 1, 40)[:, None]  # the body moves, the toes stay planted
    assert metrics.foot_skate_ratio(joints) == 0.0


def test_foot_skate_of_a_sliding_foot_is_one():
    joints = _standing()
    joints[:, 10, 2] = np.arange(40) * 0.05  # 1 m/s at 20 fps along the floor
    assert metrics.foot_skate_ratio(joints, fps=20.0) == 1.0
    # the same motion in the air is a swing, not a skate
    joints[:, 10, 1] = 0.3
    assert metrics.foot_skate_ratio(joints, fps=20.0) == 0.0
    # sliding half the time
    joints[:, 10, 1] = 0.02
    joints[20:, 10, 2] = joints[20, 10, 2]
    assert metrics.foot_skate_ratio(joints, fps=20.0) == pytest.approx(20 / 39)


def test_floor_penetration():
    joints = _standing()
    assert metrics.floor_penetration(joints) == 0.0
    joints[:10, 10, 1] = -0.05
    assert metrics.floor_penetration(joints) == pytest.approx(0.05 * 10 / 40)


def test_jitter_of_polynomial_paths():
    t = np.arange(50) / 20.0
    joints = np.zeros((50, 22, 3))
    joints[..., 0] = (3.0 * t + 0.5 * t ** 2)[:, None]  # constant acceleration: no jerk
    assert metrics.jitter(joints) == pytest.approx(0.0, abs=1e-9)
    joints[..., 0] = (t ** 3)[:, None]  # jerk = 6 m/s^3 everywhere
    assert metrics.jitter(joints, fps=20.0) == pytest.approx(6.0, rel=1e-6)


def test_physical_metrics_average_over_clips():
    still = _standing()
    sliding = _standing()
    sliding[:, 10, 2] = np.arange(40) * 0.05
    result = metrics.physical_metrics([still, sliding])
    assert result["foot_skate"] == pytest.approx(0.5)
    assert result["penetration"] == 0.0

"""The jitter low-pass (motion_core.motion.jitter): tremor off, action on, and what generation applies."""

import numpy as np

from motion_core import metrics
from motion_core.motion.jitter import JITTER_SIGMA_FRAMES, remove_jitter

FPS = 20.0


def _swinging_arm(frames=120, hz=2.0, buzz=0.0, seed=0):
    """A still body whose right wrist swings side to side at `hz` (a wave), plus white noise of `buzz` metres."""
    rng = np.random.default_rng(seed)
    joints = np.tile(np.linspace(0.0, 1.6, 22)[None, :, None] * np.array([0.0, 1.0, 0.0]), (frames, 1, 1))
    t = np.arange(frames) / FPS
    joints[:, 21, 0] += 0.2 * np.sin(2 * np.pi * hz * t)
    return joints + buzz * rng.standard_normal(joints.shape)


def test_tremor_goes_and_the_swing_stays():
    clean, noisy = _swinging_arm(), _swinging_arm(buzz=0.004)
    filtered = remove_jitter(noisy)
    assert metrics.jitter(filtered, FPS) < 0.7 * metrics.jitter(noisy, FPS)  # white noise: 0.64 measured
    swing, before = remove_jitter(clean)[20:-20, 21, 0], clean[20:-20, 21, 0]
    assert 0.95 < np.abs(swing).max() / np.abs(before).max() < 0.97  # a 2 Hz wave keeps 96% at sigma 0.5 frames
    assert JITTER_SIGMA_FRAMES == 0.5


def test_constant_frames_stay_put_and_shapes_are_kept():
    joints = _swinging_arm()
    joints[:, :12] = joints[0, :12]  # a planted lower body stays exactly where it was
    batch = np.stack([joints, joints])
    out = remove_jitter(batch)
    assert out.shape == batch.shape and out.dtype == np.float64
    assert remove_jitter(batch.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(out[:, :, :12], batch[:, :, :12], atol=1e-12)
    np.testing.assert_array_equal(remove_jitter(joints, sigma=0), joints)
    np.testing.assert_array_equal(remove_jitter(joints[:1]), joints[:1])  # one frame: nothing to filter


def test_steady_travel_is_kept_exactly_to_the_last_frame():
    """A body walking at constant velocity has no jerk; held ends would bend its path at the first and last frames."""
    frames = 60
    joints = _swinging_arm(frames, hz=0.0)
    joints += (np.arange(frames) / FPS * 1.3)[:, None, None] * np.array([0.0, 0.0, 1.0])  # 1.3 m/s forward
    np.testing.assert_allclose(remove_jitter(joints), joints, atol=1e-9)
    assert metrics.jitter(remove_jitter(joints), FPS) < 1e-6

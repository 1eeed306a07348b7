"""motion_core.motion.seam_smoothing: the low-pass around timeline seams, on synthetic motion."""

import numpy as np

from motion_core.motion.seam_smoothing import FADE_FRAMES, FULL_FRAMES, seam_weights, smooth_seams
from motion_core.motion.timeline import frame_jerk, seam_smoothness

FPS = 20.0
SEAMS = [70, 140]


def _motion(frames=200, joints=3):
    """Smooth synthetic motion (T, J, 3): a slow sway and a walk forward, each joint a little apart."""
    t = np.arange(frames) / FPS
    base = np.stack([np.sin(t), 0.2 * np.cos(2 * t), 0.5 * t], -1)
    return base[:, None] + 0.1 * np.arange(joints)[None, :, None]


def test_weights_are_full_near_a_seam_and_fade_to_zero():
    weight = seam_weights(200, SEAMS)
    reach = FULL_FRAMES + FADE_FRAMES
    for seam in SEAMS:
        np.testing.assert_array_equal(weight[seam - FULL_FRAMES:seam + FULL_FRAMES + 1], 1.0)
        assert weight[seam + reach] == 0.0 and weight[seam - reach] == 0.0
        assert np.all(np.diff(weight[seam:seam + reach + 1]) <= 0)  # falls steadily away from the seam
    assert weight[:70 - reach].sum() == 0 and weight[140 + reach:].sum() == 0
    assert seam_weights(50, []).sum() == 0


def test_a_sharp_seam_loses_its_jerk_and_frames_away_from_seams_stay_bit_for_bit():
    joints = _motion()
    joints[140:, 1] += 0.03  # a 3-cm pop of one joint at the second seam, the kind of edge the filter takes off
    before = seam_smoothness(joints, SEAMS, FPS)
    out = smooth_seams(joints, SEAMS)
    after = seam_smoothness(out, SEAMS, FPS)
    assert after["seam_max"] < 0.5 * before["seam_max"], (before, after)
    assert after["ratio"] < before["ratio"]
    far = seam_weights(len(joints), SEAMS) == 0
    np.testing.assert_array_equal(out[far], joints[far])  # untouched, not merely close
    assert np.abs(out - joints).max() < 0.03  # a low-pass, not a new motion
    assert np.abs(frame_jerk(out, FPS)[far[3:]]).max() <= np.abs(frame_jerk(joints, FPS)).max()


def test_smooth_motion_is_left_nearly_as_it_was():
    joints = _motion()
    out = smooth_seams(joints, SEAMS)
    assert np.abs(out - joints).max() < 2e-3  # slow motion passes the seam Gaussian almost unchanged
    assert seam_smoothness(out, SEAMS, FPS)["ratio"] < 1.2


def test_no_seams_means_no_change():
    joints = _motion()
    np.testing.assert_array_equal(smooth_seams(joints, []), joints)

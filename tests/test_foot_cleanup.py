"""Foot-contact cleanup: sliding feet get pinned, bones keep their lengths, blends do not pop, clean motion stays.

Clips are procedural (motion_core.data.procedural, seeded) passed through the 263-d features and back, so their contact
channels are HumanML3D's own labels. "Sliding" input (`bench_foot_cleanup.slide_feet`) adds a horizontal sinusoid to
each leg's ankle and ball (half of it on the knee): the feet slide under a correct body, the way a generator's feet
skate.
"""

import json

import numpy as np
import pytest

from motion_core.bench_foot_cleanup import slide_feet
from motion_core.cli import main as cli_main
from motion_core.data.procedural import generate_clip
from motion_core.metrics import foot_skate_ratio, jitter
from motion_core.motion.features import joints_to_features, recover_from_ric
from motion_core.motion.foot_cleanup import (CLEARANCE, CONTACT_JOINTS, MAX_ROOT_SHIFT, clean_foot_contacts,
                                             contact_mask)
from motion_core.motion.skeleton import PARENTS

FEET = list(CONTACT_JOINTS)


def _clip(kind, seed):
    """(joints (T, 22, 3) float64 as recovered from features, contact channels (T, 4))."""
    joints, _ = generate_clip(kind, np.random.default_rng(seed))
    features = joints_to_features(joints)
    return recover_from_ric(features), features[:, -4:]


def _bone_lengths(joints):
    """(T, 21) length of every bone in every frame."""
    return np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1)


# ------------------------------------------------------------------------------------------------- contact mask


def test_contact_mask_hysteresis_holds_a_hovering_channel():
    values = np.array([0.2, 0.65, 0.55, 0.45, 0.52, 0.35, 0.5, 0.58, 0.2])[:, None]
    # on at 0.65, kept through 0.55 / 0.45 / 0.52 (between 0.4 and 0.6), off at 0.35, still off at 0.5 / 0.58
    assert contact_mask(values, min_frames=1, min_gap=1)[:, 0].tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0]


def test_contact_mask_removes_one_frame_blips_and_gaps():
    blip = np.array([0, 0, 0, 1, 0, 0, 0], float)
    gap = np.array([1, 1, 1, 0, 1, 1, 1], float)
    edges = np.array([1, 0, 0, 0, 0, 1, 1], float)  # a 1-frame contact at the start is a blip too
    mask = contact_mask(np.stack([blip, gap, edges], -1))
    assert not mask[:, 0].any()
    assert mask[:, 1].all()
    assert mask[:, 2].tolist() == [0, 0, 0, 0, 0, 1, 1]


# ------------------------------------------------------------------------------------------------- sliding input


@pytest.mark.parametrize("kind,seed", [("walk", 0), ("walk", 1), ("run", 2), ("jog", 1), ("sneak", 3)])
def test_sliding_feet_are_pinned_with_bones_kept_and_no_pops(kind, seed):
    clean, contacts = _clip(kind, seed)
    sliding = slide_feet(clean)
    out = clean_foot_contacts(sliding, contacts)

    before, after = foot_skate_ratio(sliding), foot_skate_ratio(out)
    assert before > 0.3
    # Pinned feet catch up with the body through the air (the clearance step), not along the floor: measured 0.000 on
    # these clips (before the clearance step 0.06-0.13, mostly take-off and landing frames; the clean clips 0.01-0.05).
    assert after < 0.02, (before, after)
    # The catch-up lifts a ball no higher than CLEARANCE (a ball already higher keeps its height; 1 cm of slack for
    # the root correction, which a swinging foot follows).
    assert (out[:, [10, 11], 1] <= np.maximum(sliding[:, [10, 11], 1], CLEARANCE) + 0.01).all()
    # Inside contact spans the balls of the feet stand still.
    planted = contact_mask(contacts)[:, [1, 3]]
    steady = planted[:-2] & planted[1:-1] & planted[2:]  # (T-2, 2) a contact frame with contact on both sides
    speed = np.linalg.norm(np.diff(out[:, [10, 11]], axis=0)[..., [0, 2]], axis=-1)[:-1]  # (T-2, 2) m/frame
    speed_before = np.linalg.norm(np.diff(sliding[:, [10, 11]], axis=0)[..., [0, 2]], axis=-1)[:-1]
    assert np.median(speed[steady]) < 0.003 < 0.01 < np.median(speed_before[steady])

    # Every bone keeps its length in every frame (two-bone IK with the frame's own lengths, the body moved rigidly).
    np.testing.assert_allclose(_bone_lengths(out), _bone_lengths(sliding), atol=1e-9)
    # Blends: no joint moves faster in one frame than the fastest joint of the input did (2 cm of slack), and the
    # root moves at most MAX_ROOT_SHIFT.
    jump_before = np.linalg.norm(np.diff(sliding, axis=0), axis=-1).max()
    jump_after = np.linalg.norm(np.diff(out, axis=0), axis=-1).max()
    assert jump_after < jump_before + 0.02
    assert np.linalg.norm(out[:, 0] - sliding[:, 0], axis=-1).max() <= MAX_ROOT_SHIFT + 1e-9
    assert jitter(out) < 1.5 * jitter(sliding)


def test_every_bone_keeps_its_length_when_lengths_vary_per_frame():
    """Generated joints do not keep constant bone lengths; the cleanup keeps each frame's own."""
    clean, contacts = _clip("walk", 4)
    rng = np.random.default_rng(0)
    noisy = slide_feet(clean) + rng.normal(scale=0.01, size=clean.shape)
    out = clean_foot_contacts(noisy, contacts)
    assert np.abs(out - noisy).max() > 0.03  # something was pinned
    np.testing.assert_allclose(_bone_lengths(out), _bone_lengths(noisy), atol=1e-9)


# ------------------------------------------------------------------------------------------------- clean input


@pytest.mark.parametrize("kind", ["walk", "run", "jog", "sneak", "walk_backwards", "side_step_left", "turn_left",
                                  "walk_circle", "jump_in_place", "kick_left", "squat", "skip"])
def test_clean_procedural_motion_barely_changes(kind):
    clean, contacts = _clip(kind, 1)
    out = clean_foot_contacts(clean, contacts)
    moved = np.linalg.norm(out[:, FEET] - clean[:, FEET], axis=-1)  # (T, 4) ankles and balls
    # Measured on seeds 0-3 of walk/run/jog/sneak: at most 4.1 cm (a heel-strike frame), 0.4 cm on average.
    assert moved.max() < 0.05 and moved.mean() < 0.005, (moved.max(), moved.mean())
    assert foot_skate_ratio(out) <= foot_skate_ratio(clean) + 0.02  # a frame or two either way
    assert jitter(out) < 1.15 * jitter(clean)


def test_no_contacts_leave_the_motion_unchanged():
    clean, contacts = _clip("walk", 0)
    sliding = slide_feet(clean)
    for channels in (np.zeros_like(contacts), np.full_like(contacts, 0.3)):
        np.testing.assert_array_equal(clean_foot_contacts(sliding, channels), sliding)


def test_a_glide_in_contact_is_left_as_it_came():
    """The body travels 3 m with every contact channel on (the shipped model's failure): no plant, no change."""
    clean, _ = _clip("stand", 0)
    T = len(clean)
    glide = clean + np.stack([np.zeros(T), np.zeros(T), np.linspace(0.0, 3.0, T)], -1)[:, None]
    out = clean_foot_contacts(glide, np.ones((T, 4)))
    np.testing.assert_array_equal(out, glide)


def test_hovering_feet_come_down_to_the_floor_and_the_pelvis_with_them():
    clean, contacts = _clip("stand", 0)
    hovering = clean + np.array([0.0, 0.08, 0.0])  # the whole body 8 cm up: balls at 8 cm, ankles at 14 cm
    out = clean_foot_contacts(hovering, contacts)
    assert out[:, [10, 11], 1].max() <= 0.025 + 1e-6 and out[:, [7, 8], 1].max() <= 0.08 + 1e-6  # floor bands
    # A standing leg is nearly straight, so it cannot reach 6 cm lower: the root correction brings the body down.
    drop = hovering[:, 0, 1] - out[:, 0, 1]
    assert 0.03 < drop.mean() and drop.max() <= MAX_ROOT_SHIFT + 1e-9
    np.testing.assert_allclose(_bone_lengths(out), _bone_lengths(hovering), atol=1e-9)


# ------------------------------------------------------------------------------------------------- interface


def test_batches_feature_rows_and_dtype():
    walk, walk_contacts = _clip("walk", 0)
    run, run_contacts = _clip("run", 0)
    T = min(len(walk), len(run))
    joints = np.stack([slide_feet(walk[:T]), slide_feet(run[:T])]).astype(np.float32)  # (2, T, 22, 3)
    contacts = np.stack([walk_contacts[:T - 1], run_contacts[:T - 1]])  # (2, T-1, 4): a feature file's rows
    out = clean_foot_contacts(joints, contacts)
    assert out.shape == joints.shape and out.dtype == np.float32
    padded = np.concatenate([contacts, contacts[:, -1:]], axis=1)
    for v in range(2):
        np.testing.assert_allclose(out[v], clean_foot_contacts(joints[v], padded[v]), atol=1e-6)


@pytest.mark.parametrize("joints_shape,contacts_shape", [((10, 21, 3), (10, 4)), ((10, 22, 3), (10, 2)),
                                                         ((10, 22, 3), (7, 4)), ((2, 10, 22, 3), (10, 4))])
def test_bad_shapes_raise_value_error(joints_shape, contacts_shape):
    with pytest.raises(ValueError):
        clean_foot_contacts(np.zeros(joints_shape), np.zeros(contacts_shape))


def test_bench_feet_prints_one_json_object(capsys):
    assert cli_main(["bench", "feet", "--seeds", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    walk = report["procedural"]["kinds"]["walk"]
    assert walk["sliding"]["foot_skate_after"] < 0.5 * walk["sliding"]["foot_skate_before"]
    assert walk["clean"]["feet_moved_max_m"] < 0.05 and "model" not in report

"""Procedural motion library: every kind generates plausible motion, captions, chains, layers, determinism."""

import re
import subprocess
import sys

import numpy as np
import pytest

from motion_core.data.corpus import mirror_kind
from motion_core.data.procedural import (ACTION_KINDS, caption_paraphrases, generate_chain, generate_clip,
                                         generate_layered, make_chain, make_clip, make_layered, sample_random_clip,
                                         swap_left_right)
from motion_core.data.procedural.captions import PLACES, SPEED_WORDS, SUBJECTS, TIMES, caption_variants, fill
from motion_core.data.procedural.library import CAPTIONS_PER_CLIP, clip_captions
from motion_core.data.procedural.quality import (bone_length_spread, floor_penetration, foot_skate_ratio,
                                                 max_joint_speed, planted_foot_drift)
from motion_core.motion.skeleton import PARENTS, T2M_OFFSETS

SEEDS = (0, 1, 2)
# Peak joint speed a human reaches: a sprinter's swinging foot ~15 m/s, everything else well under 10 m/s.
SPEED_LIMIT = {"sprint": 17.0, "run": 12.0}
DEFAULT_SPEED_LIMIT = 10.0


def _facing(joints):
    """Yaw (rad) of the body at each frame from the hips and shoulders, 0 = +Z, positive toward +X."""
    across = (joints[:, 1] - joints[:, 2]) + (joints[:, 16] - joints[:, 17])
    forward = np.stack([across[:, 2], np.zeros(len(across)), -across[:, 0]], -1)
    return np.arctan2(forward[:, 0], forward[:, 2])


def test_at_least_40_kinds_in_every_category():
    assert len(ACTION_KINDS) >= 40
    categories = {spec.category for spec in ACTION_KINDS.values()}
    assert {"locomotion", "jumps", "arms", "legs", "whole_body", "idle"} <= categories


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_kind_is_physically_plausible(kind):
    lengths = np.linalg.norm(T2M_OFFSETS, axis=-1)[1:]
    for seed in SEEDS:
        clip = make_clip(kind, np.random.default_rng(seed))
        joints = clip.joints
        assert joints.dtype == np.float32 and joints.ndim == 3 and joints.shape[1:] == (22, 3)
        assert 30 <= len(joints) <= 196, (kind, seed, len(joints))
        assert np.isfinite(joints).all()
        assert floor_penetration(joints) >= -0.01, (kind, seed)
        assert joints[..., 1].min() < 0.05, "feet should touch the floor"
        assert bone_length_spread(joints) < 1e-4, (kind, seed)
        bones = np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1)
        np.testing.assert_allclose(bones.mean(0), lengths, atol=1e-4)
        assert max_joint_speed(joints) < SPEED_LIMIT.get(kind, DEFAULT_SPEED_LIMIT), (kind, seed)
        ratio, _ = foot_skate_ratio(joints)
        assert ratio < 0.05, (kind, seed, ratio)
        assert planted_foot_drift(joints, clip.contact) < 0.012, (kind, seed)
        assert len(clip.captions) >= 1 and all(c.endswith(".") for c in clip.captions)


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_twenty_paraphrases_per_kind(kind):
    variants = caption_paraphrases(kind)
    assert len(variants) >= 20
    assert len(set(variants)) == len(variants)
    phrases, _ = ACTION_KINDS[kind].phrases(ACTION_KINDS[kind].sample(np.random.default_rng(0)))
    assert len(set(phrases)) >= 8, "at least 8 distinct verb phrases before subject variation"
    assert all("{" not in v for v in variants), variants[:3]


def _subjectless(caption):
    """A caption without its subject (the longest subject it starts with) and its full stop."""
    text = caption.rstrip(".")
    subject = max((s for s in SUBJECTS if text.startswith(s + " ")), key=len)
    return text[len(subject) + 1:]


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_captions_vary_across_clips(kind):
    """The captions of 20 clips of one kind: >= 60 distinct, and >= 45 distinct once the subject is taken off (verbs
    and framing vary, not only who moves), so a role or a reason in a prompt is something the model has seen."""
    spec = ACTION_KINDS[kind]
    captions = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        captions += clip_captions(kind, spec.sample(rng), rng)
    assert len(captions) == 20 * CAPTIONS_PER_CLIP
    assert len(set(captions)) >= 60, len(set(captions))
    assert len({_subjectless(c) for c in captions}) >= 45, sorted({_subjectless(c) for c in captions})
    assert all("{" not in c and "  " not in c and c.endswith(".") for c in captions)


def test_framing_names_no_side():
    """Subjects, places and times are the same for a clip and its mirror: swapping sides must leave them alone."""
    for text in SUBJECTS + TIMES + tuple(p for table in PLACES.values() for p in table):
        assert swap_left_right(text) == text, text


def _left_first(text):
    """Naming both sides says the same in either order: "to the right and to the left" -> "to the left and ..."."""
    return re.sub(r"\bright\b(.*)\bleft\b", r"left\1right", text)


def _filled(spec, params):
    """Every phrase and context of a clip, filled."""
    phrases, words = spec.phrases(params)
    contexts = spec.contexts(params) if spec.contexts else []
    return {_left_first(fill(t, words)) for t in list(phrases) + list(contexts)}


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_mirrored_captions_are_captions_of_the_mirrored_clip(kind):
    """swap_left_right over every phrase and context of a clip gives exactly those of its mirror: the mirrored kind
    (wave_left -> wave_right) with the other side (side 0 <-> 1; punch's 2, both fists, stays)."""
    mirrored_kind = mirror_kind(kind)
    for seed in range(6):
        params = ACTION_KINDS[kind].sample(np.random.default_rng(seed))
        mirrored = dict(params)
        if params.get("side") in (0, 1):
            mirrored["side"] = 1 - params["side"]
        swapped = {_left_first(swap_left_right(t)) for t in _filled(ACTION_KINDS[kind], params)}
        assert swapped == _filled(ACTION_KINDS[mirrored_kind], mirrored), (kind, params)


def test_same_seed_same_clip_and_different_seed_differs():
    a = generate_clip("walk", np.random.default_rng(7))
    b = generate_clip("walk", np.random.default_rng(7))
    c = generate_clip("walk", np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert a[0].shape != c[0].shape or not np.allclose(a[0], c[0])
    r1 = sample_random_clip(np.random.default_rng(3))
    r2 = sample_random_clip(np.random.default_rng(3))
    np.testing.assert_array_equal(r1[0], r2[0])
    assert r1[1] == r2[1]


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_every_kind_is_deterministic(kind):
    a, b = make_clip(kind, np.random.default_rng(3)), make_clip(kind, np.random.default_rng(3))
    np.testing.assert_array_equal(a.joints, b.joints)
    np.testing.assert_array_equal(a.contact, b.contact)
    assert (a.captions, a.params) == (b.captions, b.params)


def test_random_mix_pools_keep_their_order():
    """sample_random_clip indexes these lists with seeded draws: a reordering changes every seeded layered clip.

    Each pool is registered by one module (actions/locomotion.py, actions/gestures.py); new kinds go at the end.
    """
    bases = [k for k, s in ACTION_KINDS.items() if s.gerunds and s.category == "locomotion"]
    gestures = [k for k, s in ACTION_KINDS.items() if s.upper_body]
    assert bases == ["walk", "jog", "run", "sprint", "sneak", "march", "limp", "side_step_left", "side_step_right",
                     "walk_backwards", "turn_left", "turn_right", "walk_curve", "walk_circle", "start_stop", "skip"]
    assert gestures == ["wave_right", "wave_left", "wave_both", "clap", "raise_arms", "point", "punch", "throw",
                        "stretch", "arm_circles"]


def test_parameters_change_the_motion():
    slow, _ = generate_clip("walk", np.random.default_rng(0), speed="slow", duration=6.0, start_moving=True,
                            end_moving=True)
    fast, captions = generate_clip("walk", np.random.default_rng(0), speed="fast", duration=6.0, start_moving=True,
                                   end_moving=True)
    dist = lambda j: np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]])  # noqa: E731
    assert dist(fast) > 1.3 * dist(slow)
    assert dist(slow) / 6.0 > 0.6
    assert not any("slowly" in c for c in captions)

    left, _ = generate_clip("side_step_left", np.random.default_rng(1))
    right, _ = generate_clip("side_step_right", np.random.default_rng(1))
    assert left[-1, 0, 0] - left[0, 0, 0] > 0.4      # +X is the person's left
    assert right[-1, 0, 0] - right[0, 0, 0] < -0.4
    back, _ = generate_clip("walk_backwards", np.random.default_rng(1))
    assert back[-1, 0, 2] - back[0, 0, 2] < -0.5

    for kind, sign in (("turn_left", 1), ("turn_right", -1)):
        joints, _ = generate_clip(kind, np.random.default_rng(2), angle=90.0)
        turned = np.degrees(np.angle(np.exp(1j * (_facing(joints)[-5:].mean() - _facing(joints)[:5].mean()))))
        assert 60 < sign * turned < 120, (kind, turned)

    jump, _ = generate_clip("jump_in_place", np.random.default_rng(0), height=0.25, count=1)
    both_feet_up = np.minimum(jump[:, [7, 10], 1].min(1), jump[:, [8, 11], 1].min(1))
    assert both_feet_up.max() > 0.15

    sit, captions = generate_clip("sit_down_stand_up", np.random.default_rng(0), stand_up=False)
    assert sit[-1, 0, 1] < 0.7 and sit[0, 0, 1] > 0.85
    assert all("stand" not in c for c in captions)

    wave, captions = generate_clip("wave_right", np.random.default_rng(0), count=3)
    assert (wave[:, 21, 1] > wave[:, 15, 1]).any()          # right wrist above the head
    assert not (wave[:, 20, 1] > wave[:, 12, 1]).any()      # left wrist stays down
    assert all("right" in c for c in captions if "hand" in c)


def test_chain_is_continuous_and_captioned_with_then():
    clip = make_chain(["walk", "sit_down_stand_up"], np.random.default_rng(4))
    joints = clip.joints
    assert len(joints) <= 196
    assert max_joint_speed(joints) < DEFAULT_SPEED_LIMIT
    assert foot_skate_ratio(joints)[0] < 0.05
    assert planted_foot_drift(joints, clip.contact) < 0.012
    assert all(("then" in c or "after that" in c) for c in clip.captions)
    assert joints[-40:, 0, 1].min() < 0.75    # ends up sitting (or on the way)
    # Actions that start with a different stance (wide side-step stance after a lunge) step into it, not slide.
    for kinds in (["lunge", "side_step_left"], ["dance", "start_stop"], ["kneel", "side_step_right"]):
        clip = make_chain(kinds, np.random.default_rng(9))
        assert foot_skate_ratio(clip.joints)[0] < 0.02, kinds
        assert planted_foot_drift(clip.joints, clip.contact) < 0.012, kinds
    _, captions = generate_chain(["walk", "turn_left", "wave_right"], np.random.default_rng(5))
    assert all(c.count(",") >= 1 for c in captions)


def test_layered_gesture_over_walk():
    clip = make_layered("walk", "wave_right", np.random.default_rng(6), duration=6.0)
    joints = clip.joints
    assert (joints[:, 21, 1] > joints[:, 15, 1]).any()
    assert np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]) > 2.0
    assert foot_skate_ratio(joints)[0] < 0.05
    assert all(("while" in c or "same time" in c or "along the way" in c) for c in clip.captions)
    with pytest.raises(ValueError):
        generate_layered("walk", "squat", np.random.default_rng(0))


def test_random_mix_covers_modes_and_lengths():
    rng = np.random.default_rng(11)
    modes = set()
    for _ in range(30):
        joints, captions, meta = sample_random_clip(rng, min_s=2.0, max_s=9.8)
        assert 40 <= len(joints) <= 196
        assert captions and np.isfinite(joints).all()
        assert meta["contact"].shape == (2, len(joints)) or meta["contact"].shape[1] <= len(joints)
        modes.add(meta["mode"])
    assert modes == {"single", "chain", "layered"}


def test_swap_left_right_words():
    assert swap_left_right("a person waves with the left hand, then turns right.") == \
        "a person waves with the right hand, then turns left."
    assert swap_left_right("Left foot; walks clockwise") == "Right foot; walks counterclockwise"
    assert swap_left_right("circles counterclockwise") == "circles clockwise"
    assert swap_left_right("leftover") == "leftover"
    # One swap for procedural and CMU captions, with every side word either used to know.
    assert swap_left_right("steps leftwards, turning anti-clockwise, then rightward") == \
        "steps rightwards, turning clockwise, then leftward"
    assert swap_left_right("turns counter-clockwise, anticlockwise, to the LEFT") == \
        "turns clockwise, clockwise, to the RIGHT"


def test_procedural_captions_share_the_caption_tables():
    from motion_core.data import captions
    from motion_core.data.procedural import captions as procedural_captions

    assert swap_left_right is captions.swap_left_right
    assert procedural_captions.COUNT_WORDS is captions.COUNT_WORDS
    assert (captions.COUNT_WORDS[3], captions.NUMBER_WORDS[3]) == ("three times", "three")


def test_features_round_trip_keeps_the_motion():
    features = pytest.importorskip("motion_core.motion.features")
    joints, _ = generate_clip("jog", np.random.default_rng(0))
    vec = features.joints_to_features(joints)
    assert vec.shape == (len(joints) - 1, 263) and np.isfinite(vec).all()
    back = features.features_to_joints(vec)
    # Recovered motion travels as far as the original.
    orig = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
    rec = np.linalg.norm(back[-1, 0, [0, 2]] - back[0, 0, [0, 2]])
    assert abs(orig - rec) < 0.1 * orig + 0.1


def test_library_never_imports_torch():
    code = "import sys, motion_core.data.procedural; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_knees_and_elbows_bend_the_human_way():
    rng = np.random.default_rng(21)
    for _ in range(25):
        joints, _, _ = sample_random_clip(rng)
        for hip, knee, ankle, toe in ((1, 4, 7, 10), (2, 5, 8, 11)):
            # The knee sits in front of the hip-ankle line (seen along the foot), never behind it.
            mid = 0.5 * (joints[:, hip] + joints[:, ankle])
            forward = joints[:, toe] - joints[:, ankle]
            forward[:, 1] = 0.0
            length = np.linalg.norm(forward, axis=-1)
            valid = length > 0.05  # a foot pointing straight down (toes tucked while kneeling) has no "forward"
            ahead = ((joints[:, knee] - mid) * forward).sum(-1)[valid] / length[valid]
            assert ahead.min() > -0.03
        for shoulder, elbow, wrist in ((16, 18, 20), (17, 19, 21)):
            upper = joints[:, shoulder] - joints[:, elbow]
            lower = joints[:, wrist] - joints[:, elbow]
            cos = (upper * lower).sum(-1) / np.linalg.norm(upper, axis=-1) / np.linalg.norm(lower, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).min() > 25.0  # forearm never folds into the arm


def test_side_parameters_move_the_named_side():
    rng = np.random.default_rng
    kick, _ = generate_clip("kick_left", rng(0))
    assert kick[:, 7, 1].max() > kick[:, 8, 1].max() + 0.2
    hop, captions = generate_clip("hop_on_one_leg", rng(0), side=0)
    assert hop[:, 8, 1].mean() > hop[:, 7, 1].mean() + 0.05   # hopping on the left: the right foot is held up
    assert all("right" not in c for c in captions)
    lunge, _ = generate_clip("lunge", rng(0), side=1)
    assert lunge[:, 8, 2].max() - lunge[0, 8, 2] > 0.4 > lunge[:, 7, 2].max() - lunge[0, 7, 2]
    kneel, _ = generate_clip("kneel", rng(0), side=0, stand_up=False)
    assert kneel[-1, 4, 1] < 0.12 < kneel[-1, 5, 1]
    point, _ = generate_clip("point", rng(0), side=1, direction="forward")
    reach = lambda w: np.linalg.norm(point[:, w] - point[:, 0], axis=-1).max()  # noqa: E731
    assert point[:, 21, 2].max() - point[:, 0, 2].max() > 0.3 and reach(21) > reach(20) + 0.1


def test_slot_alternatives_are_drawn_per_caption_and_all_listed():
    words = {"adv": ("slowly", "at a relaxed pace"), "dir": "left"}
    assert fill("walks {dir} {adv}", words) == "walks left slowly"  # no rng: the first alternative
    rng = np.random.default_rng(0)
    drawn = {fill("walks {dir} {adv}", words, rng) for _ in range(40)}
    assert drawn == {"walks left slowly", "walks left at a relaxed pace"}
    variants = caption_variants(["walks {dir} {adv}", "turns {dir}"], words)
    assert "a person walks left at a relaxed pace." in variants and "a person turns left." in variants
    assert len(variants) == 3 * len(SUBJECTS)  # two fills of the first phrase, one of the second


def test_fast_backward_walks_are_said_fast():
    clip = make_clip("walk_backwards", np.random.default_rng(3), speed="fast")
    fast = set(SPEED_WORDS["fast"])
    assert any(word in caption for caption in clip.captions for word in fast), clip.captions

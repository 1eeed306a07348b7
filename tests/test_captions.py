"""Captions: motion traits measured on synthetic clips, mirror word swap, POS tags and the text-line round trip."""

import dataclasses

import numpy as np
import pytest

from motion_core.data import captions
from motion_core.data.cmu_corpus import description_captions
from motion_core.motion.rotations import axis_angle_to_quat
from motion_core.motion.skeleton import PARENTS, forward_kinematics

FPS = 20.0


def synthetic_walk(seconds=4.0, speed=1.3, turn_deg_per_s=0.0, sideways=False, jump_at=None):
    """A stick figure swinging its legs while its root moves along +Z (or +X) and yaws; joints (T, 22, 3).

    The rest pose faces +Z with feet on the floor; jump_at=(first, last) frames lifts the whole body 0.25 m.
    """
    frames = int(seconds * FPS)
    t = np.arange(frames) / FPS
    local = np.zeros((frames, 22, 4))
    local[..., 0] = 1.0
    swing = 0.4 * np.sin(2 * np.pi * 1.0 * t)
    local[:, 1] = axis_angle_to_quat(np.stack([swing, 0 * t, 0 * t], -1))  # left hip about X
    local[:, 2] = axis_angle_to_quat(np.stack([-swing, 0 * t, 0 * t], -1))
    yaw = np.radians(turn_deg_per_s) * t
    local[:, 0] = axis_angle_to_quat(np.stack([0 * t, yaw, 0 * t], -1))
    root = np.zeros((frames, 3))
    heading = np.stack([np.sin(yaw), np.cos(yaw)], -1)  # facing direction (x, z)
    direction = np.stack([heading[:, 1], -heading[:, 0]], -1) if sideways else heading  # sideways = to the left
    root[:, [0, 2]] = np.cumsum(direction * speed / FPS, axis=0)
    joints = forward_kinematics(local, root)
    joints[..., 1] -= joints[..., 1].min()
    if jump_at is not None:
        joints[jump_at[0]:jump_at[1], :, 1] += 0.25
    assert PARENTS[0] == -1
    return joints.astype(np.float32)


def test_forward_walk_is_measured_as_walking_forward():
    traits = captions.describe_motion(synthetic_walk(speed=1.3))
    assert traits.travel == "forward"
    assert traits.speed_mps == pytest.approx(1.3, rel=0.1)
    assert abs(traits.turn_deg) < 5
    assert traits.jumps == 0


@pytest.mark.parametrize("turn, side", [(45.0, "left"), (-45.0, "right")])
def test_turn_direction_follows_yaw_sign(turn, side):
    traits = captions.describe_motion(synthetic_walk(seconds=4.0, turn_deg_per_s=turn))
    assert traits.turn_deg == pytest.approx(4.0 * turn, abs=10)
    clauses = captions.trait_clauses(traits, np.random.default_rng(0))
    assert any(side in c or "around" in c for c in clauses)


def test_sideways_and_standing_and_jump():
    assert captions.describe_motion(synthetic_walk(speed=0.8, sideways=True)).travel == "left"
    still = captions.describe_motion(synthetic_walk(speed=0.0))
    assert still.travel == "in place" and still.jumps == 0
    jumping = captions.describe_motion(synthetic_walk(speed=0.0, jump_at=(20, 30)))
    assert jumping.jumps == 1
    assert "jumps once" in captions.trait_clauses(jumping, np.random.default_rng(0))
    many = dataclasses.replace(jumping, jumps=captions.MAX_COUNTED_JUMPS + 1)
    assert "jumps several times" in captions.trait_clauses(many, np.random.default_rng(0))


def test_enriched_captions_add_measured_detail():
    traits = captions.describe_motion(synthetic_walk(speed=3.5))
    texts = captions.enrich_captions(["a person runs"], traits, np.random.default_rng(1), count=3)
    assert texts[0] == "a person runs"
    assert len(texts) == 3 and len(set(texts)) == 3
    assert all("forward" in t for t in texts[1:])


def test_mirror_swaps_side_words_and_keeps_case():
    text = "Left arm up, then the right leg kicks; turns clockwise to the LEFT (leftward)"
    swapped = captions.swap_left_right(text)
    assert swapped == "Right arm up, then the left leg kicks; turns counterclockwise to the RIGHT (rightward)"
    assert captions.swap_left_right(swapped) == text
    assert captions.swap_left_right("a bright light") == "a bright light"  # whole words only


def test_pos_tags_follow_humanml3d_conventions():
    tags = captions.tag_tokens("A man kicks something with his left leg, then walks 2 steps backwards.")
    assert tags == [("a", "DET"), ("man", "NOUN"), ("kick", "VERB"), ("something", "PRON"), ("with", "ADP"),
                    ("his", "DET"), ("left", "ADJ"), ("leg", "NOUN"), ("then", "ADV"), ("walk", "VERB"),
                    ("step", "NOUN"), ("backwards", "ADV")]
    assert ("left", "ADV") in captions.tag_tokens("the person turns left")
    assert ("jump", "NOUN") in captions.tag_tokens("she does a jump")


def test_text_line_round_trip():
    line = captions.format_text_line("a person sits # down slowly", 1.5, 4.25)
    text, tokens, start, end = captions.parse_text_line(line)
    assert line.count("#") == 3
    assert text == "a person sits down slowly"
    assert tokens == captions.tag_tokens(text)
    assert (start, end) == (1.5, 4.25)
    assert captions.parse_text_line("a person waves#a/DET person/NOUN wave/VERB#nan#nan")[2:] == (0.0, 0.0)
    with pytest.raises(ValueError):
        captions.parse_text_line("no separators here")


def test_cmu_descriptions_become_sentences():
    assert description_captions("walk")[0] == "a person walks"
    first = description_captions("playground - forward jumps, turn around")[0]
    assert first == "a person jumps forward, then turns around on a playground"
    assert description_captions("slow walk")[0] == "a person walks slowly"
    assert description_captions("punch/strike")[0] == "a person punches"  # first of slashed alternatives
    assert description_captions("dance - expressive arms, pirouette")[0] == \
        "a person does a pirouette with expressive arms while dancing"
    assert description_captions("Start Hop Stop")[1] == "someone starts, hops and stops"
    assert description_captions("") == []

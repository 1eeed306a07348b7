"""Best of several takes (motion_core.candidates): the two judges, their order, and generate(candidates=N)."""

import numpy as np
import pytest

from motion_core.candidates import CandidateJudge, _window_starts, pick
from motion_core.data.procedural import make_clip
from motion_core.errors import MotionError
from motion_core.generator import MotionGenerator
from motion_core.models.config import ModelConfig
from motion_core.motion.clip import Motion


@pytest.fixture(scope="module")
def text_encoder():
    from motion_core.models.text_encoder import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return {kind: make_clip(kind, rng).joints for kind in ("walk", "stand", "wave_right", "sit_down_stand_up")}


def _same_length(*takes, frames=100):
    """Takes cut or held on their last pose to `frames` frames, as one batch."""
    return np.stack([np.concatenate([t[:frames], np.repeat(t[-1:], max(frames - len(t), 0), axis=0)])
                     for t in takes])


@pytest.fixture(scope="module")
def shipped_judge(text_encoder):
    """The shipped model's judge: its evaluator and statistics (no denoiser is run)."""
    generator = MotionGenerator.from_pretrained(text_encoder=text_encoder)
    judge = CandidateJudge.for_generator(generator)
    assert judge.evaluator is not None  # the default weights ship their evaluator
    return judge


def test_takes_that_show_the_named_action_come_first_then_sampling_order(clips):
    judge = CandidateJudge(evaluator=None, normalize=None, encode_text=None)
    takes = _same_length(clips["stand"], clips["wave_right"], clips["walk"], clips["walk"])
    order, report = judge.rank("a man walks forward", takes, fps=20.0)
    assert order == [2, 3, 0, 1]  # the two walks (in sampling order), then the rest in sampling order
    assert report["action_check"] == [False, False, True, True] and report["similarity"] is None


def test_a_prompt_with_no_readable_action_keeps_the_order_without_an_evaluator(clips):
    judge = CandidateJudge(evaluator=None, normalize=None, encode_text=None)
    takes = _same_length(clips["stand"], clips["walk"])
    order, report = judge.rank("a person contemplates the meaning of life", takes, fps=20.0)
    assert order == [0, 1] and report["action_check"] is None


def test_the_shipped_evaluator_mostly_prefers_the_take_that_matches_the_words(shipped_judge):
    rng = np.random.default_rng(1)
    prompts = {"stand": "a person stands still", "walk": "a man strolls forward", "wave_right": "someone waves hello",
               "sit_down_stand_up": "a person sits down", "clap": "a person claps", "run": "someone runs",
               "jump_in_place": "a person jumps up and down", "kick_right": "a man kicks"}
    kinds = list(prompts)
    takes = [make_clip(kind, rng).joints for kind in kinds]
    chosen = {kind: kinds[int(np.argmax(shipped_judge.similarities(prompt, takes)))]
              for kind, prompt in prompts.items()}
    # measured: 8 of 8 with these clips; the evaluator is a judge, not an oracle (a paraphrase can miss)
    assert sum(kind == picked for kind, picked in chosen.items()) >= 7, chosen


def test_long_takes_are_scored_over_windows_that_cover_them(shipped_judge, clips):
    assert _window_starts(100, 196) == [0]
    starts = _window_starts(1000, 196)
    assert starts[0] == 0 and starts[-1] == 1000 - 196 and max(np.diff(starts)) <= 98
    walk = clips["walk"]
    steps = [walk + k * (walk[-1, 0] - walk[0, 0]) * np.array([1, 0, 1]) for k in range(3)]  # each copy goes on
    long_walk = np.concatenate(steps)  # 291 frames, over the evaluator's 200
    scores = shipped_judge.similarities("a person walks forward", [long_walk, clips["stand"]])
    assert np.isfinite(scores).all() and scores[0] > scores[1]


def test_each_variation_is_the_best_of_its_own_takes(clips):
    judge = CandidateJudge(evaluator=None, normalize=None, encode_text=None)
    joints = _same_length(clips["walk"], clips["stand"], clips["stand"], clips["walk"], clips["stand"], clips["stand"])
    motion = pick(Motion(joints=joints, prompt="a man walks forward"), judge, variations=3)
    assert motion.info["candidates"]["kept"] == [0, 3, 4]  # groups (0, 1), (2, 3), (4, 5): the walks, then order


def test_pick_keeps_the_best_takes_and_says_how_each_was_judged(clips):
    judge = CandidateJudge(evaluator=None, normalize=None, encode_text=None)
    joints = _same_length(clips["stand"], clips["walk"], clips["stand"])
    motion = Motion(joints=joints, prompt="a woman walks across the room", features=np.zeros((3, 99, 263)))
    kept = pick(motion, judge, variations=1)
    assert kept.joints.shape == (1, 100, 22, 3) and kept.features.shape == (1, 99, 263)
    np.testing.assert_array_equal(kept.joints[0], joints[1])
    assert kept.info["candidates"]["kept"] == [1] and kept.info["candidates"]["count"] == 3


def test_generate_with_candidates_returns_the_variations_asked_for(text_encoder):
    gen = MotionGenerator.random(ModelConfig.tiny("motion_mamba"), seed=0, text_encoder=text_encoder)
    plain = gen.generate("a person walks forward", 2.0, seed=5, steps=3, variations=4, device="cpu")
    best = gen.generate("a person walks forward", 2.0, seed=5, steps=3, variations=2, candidates=2, device="cpu")
    again = gen.generate("a person walks forward", 2.0, seed=5, steps=3, variations=2, candidates=2, device="cpu")
    assert best.joints.shape == (2, 40, 22, 3) and "candidates" not in plain.info
    report = best.info["candidates"]
    assert report["count"] == 4 and len(report["kept"]) == 2 and len(report["action_check"]) == 4
    # variation v is the best of takes 2v and 2v+1 of the same 4-take batch, and a seed picks the same every time
    for row, index in enumerate(report["kept"]):
        assert index in (2 * row, 2 * row + 1)
        np.testing.assert_array_equal(best.joints[row], plain.joints[index])
    np.testing.assert_array_equal(best.joints, again.joints)


@pytest.mark.parametrize("candidates, variations, words", [
    (0, 1, "between 1 and 8"), (9, 1, "between 1 and 8"), (2.0, 1, "whole number"), (True, 1, "whole number"),
    (8, 9, "at most 64 takes"),
])
def test_bad_candidates_raise_one_line_errors_before_any_work(candidates, variations, words, text_encoder):
    gen = MotionGenerator.random(ModelConfig.tiny("motion_mamba"), seed=0, text_encoder=text_encoder)
    with pytest.raises(MotionError, match=words) as info:
        gen.generate("walk", 2.0, seed=1, steps=2, variations=variations, candidates=candidates, device="cpu")
    assert "\n" not in str(info.value)


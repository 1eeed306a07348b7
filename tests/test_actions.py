"""The action check (motion_core.motion.action_check), the prompt reader (action_prompt) and the prompt suite.

Validation bar (issue 9): every rule passes >= 90% of procedural clips of its kind and of real CMU clips of its kind,
and <= 5% of standing clips and of clips of clearly different kinds (kinds that neither rule lists as related).
Procedural clips use seeds the thresholds were not tuned on (tuning used 1000-3999 and 7000-9999). The committed CMU
subset (tests/data) always runs; the broader CMU sample in ../shared/data/cmu is used when present.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from motion_core.data.captions import SPEED_ADJECTIVES, SPEED_WORDS
from motion_core.data.procedural import ACTION_KINDS, make_chain, make_clip, make_layered
from motion_core.data.procedural.captions import PLACES, SUBJECTS, TIMES, fill
from motion_core.motion.action_check import RULES, ActionCheck, Expectation, Facts, check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.mocap import import_motion

from conftest import TEST_DATA

SEEDS = range(5000, 5012)
SUITE = Path(__file__).resolve().parent.parent / "motion_core" / "data" / "prompt_suite.json"
FAMILIES = {"wave": {"wave_left", "wave_right", "wave_both"}, "kick": {"kick_left", "kick_right"},
            "turn": {"turn_left", "turn_right"}, "side_step": {"side_step_left", "side_step_right"},
            "jump": {"jump_in_place", "jump_forward", "hop_on_one_leg", "jumping_jacks"}}


def clearly_different(rule, kind):
    """A clip of `kind` must not pass `rule` unless they are the same or either lists the other as related."""
    if rule == kind or kind in FAMILIES.get(rule, ()):
        return False
    return kind not in RULES[rule].related and (kind not in RULES or rule not in RULES[kind].related)


@pytest.fixture(scope="module")
def procedural():
    """kind -> [(Facts, params)] for 12 clips of each kind with sampled parameters."""
    out = {}
    for kind in ACTION_KINDS:
        clips = [make_clip(kind, np.random.default_rng(seed)) for seed in SEEDS]
        out[kind] = [(Facts(c.joints), c.params[0]) for c in clips]
    return out


@pytest.fixture(scope="module")
def verdicts(procedural):
    """rule -> kind -> [bool] over the procedural clips."""
    return {rule: {kind: [bool(spec.fn(f)) for f, _ in clips] for kind, clips in procedural.items()}
            for rule, spec in RULES.items()}


# ---------------------------------------------------------------------------------------------------------------
# Rules on procedural clips

def test_every_library_kind_has_a_rule():
    assert set(ACTION_KINDS) <= set(RULES)


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_rule_passes_its_own_kind(verdicts, kind):
    rate = np.mean(verdicts[kind][kind])
    assert rate >= 0.9, f"{kind}: {rate:.0%} of its own clips"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_rejects_standing_and_clearly_different_kinds(verdicts, rule):
    row = verdicts[rule]
    if rule != "stand" and clearly_different(rule, "stand"):
        assert not any(row["stand"]), f"{rule} passes standing clips"
    others = [kind for kind in row if clearly_different(rule, kind)]
    pooled = [v for kind in others for v in row[kind]]
    assert np.mean(pooled) <= 0.05, f"{rule}: {np.mean(pooled):.1%} of clearly different clips"
    worst = max(others, key=lambda k: np.mean(row[k]))
    assert np.mean(row[worst]) <= 2 / len(SEEDS), f"{rule} passes {np.mean(row[worst]):.0%} of {worst}"


@pytest.mark.parametrize("kind,param", [("point", "side"), ("punch", "side"), ("throw", "side"), ("lunge", "side"),
                                        ("kneel", "side"), ("hop_on_one_leg", "side"), ("walk_curve", "side"),
                                        ("walk_circle", "side"), ("spin", "side"), ("turn_around", "side")])
def test_sides_are_told_apart(procedural, kind, param):
    right, wrong = [], []
    for facts, params in procedural[kind]:
        if params.get(param) not in (0, 1):
            continue  # punches alternating both fists
        side = ("left", "right")[params[param]]
        other = ("right", "left")[params[param]]
        right.append(bool(RULES[kind].fn(facts, side=side)))
        wrong.append(bool(RULES[kind].fn(facts, side=other)))
    assert np.mean(right) >= 0.9 and np.mean(wrong) <= 0.1, (kind, right, wrong)


@pytest.mark.parametrize("kind", ["walk", "walk_backwards"])
def test_speeds_are_told_apart(kind):
    for speed, expect in (("slow", {"slow"}), ("normal", set()), ("fast", {"fast"})):
        for seed in range(4):
            facts = Facts(make_clip(kind, np.random.default_rng(6000 + seed), speed=speed).joints)
            passed = {option for option in ("slow", "fast") if RULES[kind].fn(facts, speed=option)}
            assert passed == expect, (kind, speed, seed, passed)


@pytest.mark.parametrize("speed", ["slow", "normal", "fast"])
def test_caption_speed_words_read_as_their_speed(speed):
    """Every way the corpus says a pace reads, to the prompt reader, as that pace (normal: no speed), so the model is
    taught the speed the action check then asks for."""
    for word in SPEED_WORDS[speed]:
        check = expectation_for(f"a person walks forward {word}").segments[0][0]
        assert (check.kind, check.speed) == ("walk", None if speed == "normal" else speed), word
    for adjective in SPEED_ADJECTIVES[speed]:
        check = expectation_for(f"a person goes for a {adjective} walk").segments[0][0]
        assert (check.kind, check.speed) == ("walk", None if speed == "normal" else speed), adjective


def test_running_speeds():
    facts = [Facts(make_clip(k, np.random.default_rng(6100 + s)).joints) for k in ("jog", "sprint") for s in range(4)]
    assert all(RULES["run"].fn(f, speed="slow") for f in facts[:4])
    assert all(RULES["run"].fn(f, speed="fast") for f in facts[4:])
    assert not any(RULES["run"].fn(f, speed="fast") for f in facts[:4])


def test_standing_still_passes_nothing_but_stand(procedural):
    for facts, _ in procedural["stand"]:
        passed = {rule for rule, spec in RULES.items() if spec.fn(facts)}
        assert passed <= {"stand", "look_around"}, passed


def test_verdicts_say_why():
    facts = Facts(make_clip("walk", np.random.default_rng(5)).joints)
    yes, no = RULES["walk"].fn(facts), RULES["sit_down_stand_up"].fn(facts)
    assert yes and "steps" in yes.why
    assert not no and no.why.startswith("no: ")


def test_floor_drift_and_body_size_do_not_matter():
    joints = make_clip("walk", np.random.default_rng(11)).joints.astype(np.float64)
    drifted = joints + np.linspace(0.0, 0.15, len(joints))[:, None, None] * np.array([0.0, 1.0, 0.0])
    small = joints * 0.8
    for variant in (drifted, small):
        facts = Facts(variant)
        assert RULES["walk"].fn(facts) and not RULES["run"].fn(facts)


# ---------------------------------------------------------------------------------------------------------------
# Sequences and layers

def test_sequences_are_found_in_order():
    kinds = sorted(ACTION_KINDS)
    rng = np.random.default_rng(21)
    forward, backward = [], []
    for seed in range(24):
        a, b = (str(k) for k in rng.choice(kinds, 2, replace=False))
        clip = make_chain([a, b], np.random.default_rng(seed))
        if len(clip.kinds) < 2:
            continue
        forward.append(bool(check_motion(clip.joints, Expectation.parse(f"{a} > {b}"))))
        backward.append(bool(check_motion(clip.joints, Expectation.parse(f"{b} > {a}"))))
    assert np.mean(forward) >= 0.85 and np.mean(backward) <= 0.1, (forward, backward)


def test_gestures_over_locomotion_are_seen_together():
    bases = [k for k, s in ACTION_KINDS.items() if s.gerunds and s.category == "locomotion" and k != "sprint"]
    gestures = ["wave_right", "wave_left", "wave_both", "clap", "raise_arms", "throw", "stretch"]
    rng = np.random.default_rng(3)
    results = []
    for seed in range(20):
        base, gesture = str(rng.choice(bases)), str(rng.choice(gestures))
        clip = make_layered(base, gesture, np.random.default_rng(seed))
        results.append(bool(check_motion(clip.joints, Expectation.parse(f"{base} + {gesture}"))))
    assert np.mean(results) >= 0.85, results


def test_expectation_text_round_trip():
    for text in ("walk", "walk[fast] + wave_right > sit_down_stand_up", "kneel[left]", "none"):
        assert Expectation.parse(text).spec() == text
    assert Expectation.parse("walk > clap").label == "sequence"
    assert Expectation.parse("walk + clap").label == "together"
    assert not Expectation.parse("none") and check_motion(np.zeros((40, 22, 3)), Expectation.parse("none"))
    with pytest.raises(ValueError):
        ActionCheck("clap", side="left")
    with pytest.raises(ValueError):
        ActionCheck("fly")


# ---------------------------------------------------------------------------------------------------------------
# Real mocap: the committed CMU subset (always) and the shared sample (when present)

SUBSET = {"bvh-daz/02_01.bvh": "walk", "bvh-mb/02_01.bvh": "walk", "amc/35_01.amc": "walk",
          "bvh-daz/16_01.bvh": "jump_in_place", "bvh-iclone/002_03.bvh": "run"}


@pytest.mark.parametrize("path,kind", sorted(SUBSET.items()))
def test_cmu_subset(path, kind):
    facts = Facts(import_motion(str(TEST_DATA / "cmu" / path)).joints)
    assert RULES[kind].fn(facts), RULES[kind].fn(facts).why
    wrong = [rule for rule in RULES if clearly_different(rule, kind) and RULES[rule].fn(facts)]
    assert not wrong, wrong


# Trials of the shared sample whose CMU description names one of our kinds. 09_10 ("run") is left out: its conversion
# is broken (limbs jump about in every frame).
CMU_KINDS = {
    "walk": ["02_01", "02_02", "05_01", "06_01", "07_01", "07_02", "07_03", "07_04", "07_05", "07_06", "07_07",
             "07_08", "07_09", "07_10", "07_11", "07_12", "08_01", "08_02", "08_03", "08_04", "08_05", "08_06",
             "08_07", "08_08", "08_09", "08_10", "08_11", "10_04", "12_01", "12_02", "12_03", "35_01"],
    "run": ["02_03", "09_01", "09_02", "09_03", "09_04", "09_05", "09_06", "09_07", "09_08", "09_09", "09_11"],
    "jump_in_place": ["13_39", "13_40", "13_41", "13_42", "16_01", "16_02"],
    "jump_forward": ["13_11", "13_13", "13_32"],
    "punch": ["02_05"],
    "side_step_left": ["06_08", "06_09"],    # basketball: sideways dribble, to the left
    "walk_backwards": ["06_06", "06_07"],    # basketball: backward dribble
    "dance": ["05_02", "05_03", "05_04", "05_05", "05_06", "05_07", "05_08", "05_09", "05_10", "05_11", "05_12",
              "05_13", "05_14", "05_15", "05_16", "05_17", "05_18", "05_19", "05_20"],
}


@pytest.fixture(scope="module")
def cmu_facts(cmu_dir):
    from motion_core.data.cmu_corpus import _import_one, find_trial_files

    files = find_trial_files(cmu_dir)
    out = {}
    for kind, trials in CMU_KINDS.items():
        out[kind] = [Facts(_import_one(files[t])[0]) for t in trials if t in files]
    return out


@pytest.mark.parametrize("kind", sorted(CMU_KINDS))
def test_cmu_clips_of_a_kind_pass_its_rule(cmu_facts, kind):
    results = [bool(RULES[kind].fn(f)) for f in cmu_facts[kind]]
    assert results and np.mean(results) >= 0.9, f"{kind}: {np.mean(results):.0%} of {len(results)} CMU clips"


def test_cmu_clips_rarely_pass_rules_of_clearly_different_kinds(cmu_facts):
    failures = []
    for rule in RULES:
        pooled = [bool(RULES[rule].fn(f)) for kind, facts in cmu_facts.items() if clearly_different(rule, kind)
                  and kind != "dance" for f in facts]  # a dance may spin, leap and kick: it is no clean negative
        if np.mean(pooled) > 0.05:
            failures.append((rule, np.mean(pooled)))
    assert not failures, failures


# ---------------------------------------------------------------------------------------------------------------
# Prompts -> checks

def _matches(check, kind):
    return check.kind == kind or kind in FAMILIES.get(check.kind, ())


def _misread(caption, kind):
    """None when `caption` reads as one check of `kind`, else what the prompt reader made of it."""
    e = expectation_for(caption)
    if len(e.segments) == 1 and len(e.segments[0]) == 1 and _matches(e.segments[0][0], kind):
        return None
    return e.spec()


def _assert_captions_read_as(captions, kind):
    """At most 5% of the distinct `captions` may read as anything but one check of `kind`."""
    seen = set(captions)
    wrong = [(caption, misread) for caption in sorted(seen) if (misread := _misread(caption, kind)) is not None]
    assert len(wrong) <= 0.05 * len(seen), wrong


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_library_captions_read_as_their_kind(kind):
    spec = ACTION_KINDS[kind]
    captions = []
    for seed in range(4):
        phrases, words = spec.phrases(spec.sample(np.random.default_rng(seed)))
        captions += ["a person " + fill(phrase, words) for phrase in phrases]
    _assert_captions_read_as(captions, kind)


@pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
def test_framed_library_captions_read_as_their_kind(kind):
    """Contexts, places and times name no other action and no second step: every context of the kind, and every
    place and time, after one of its phrases still reads as the kind."""
    spec = ACTION_KINDS[kind]
    captions = []
    for seed in range(4):
        params = spec.sample(np.random.default_rng(seed))
        phrases, words = spec.phrases(params)
        tails = [fill(c, words) for c in (spec.contexts(params) if spec.contexts else [])]
        tails += list(PLACES[spec.place]) + list(TIMES)
        captions += [f"a person {fill(phrases[(seed + i) % len(phrases)], words)} {tail}"
                     for i, tail in enumerate(tails)]
    _assert_captions_read_as(captions, kind)


def test_chain_and_layer_captions_read_as_sequences_and_layers():
    kinds = sorted(ACTION_KINDS)
    rng = np.random.default_rng(8)
    wrong, total = [], 0
    for seed in range(30):
        a, b = (str(k) for k in rng.choice(kinds, 2, replace=False))
        clip = make_chain([a, b], np.random.default_rng(seed))
        for caption in clip.captions:
            total += 1
            e = expectation_for(caption)
            if not (len(e.segments) == len(clip.kinds) and all(len(seg) == 1 and _matches(seg[0], k) or
                    (k == "start_stop" and seg[0].kind == "walk") for seg, k in zip(e.segments, clip.kinds))):
                wrong.append((caption, e.spec()))
    bases = [k for k, s in ACTION_KINDS.items() if s.gerunds and s.category == "locomotion"]
    gestures = [k for k, s in ACTION_KINDS.items() if s.upper_body]
    for seed in range(30):
        base, gesture = str(rng.choice(bases)), str(rng.choice(gestures))
        for caption in make_layered(base, gesture, np.random.default_rng(seed)).captions:
            total += 1
            e = expectation_for(caption)
            seg = e.segments[0] if len(e.segments) == 1 else ()
            if not (any(_matches(c, gesture) for c in seg) and
                    any(_matches(c, base) or (base == "start_stop" and c.kind == "walk") for c in seg)):
                wrong.append((caption, e.spec()))
    assert len(wrong) <= 0.05 * total, wrong


@pytest.mark.parametrize("prompt,spec", [
    ("A woman saunters across the plaza, then plops into a chair.", "walk > sit_down_stand_up"),
    ("the man sits down after jogging for a while", "jog > sit_down_stand_up"),
    ("someone waves with the left hand while strolling", "walk + wave_left"),
    ("a person kicks high with the right leg", "kick_right"),
    ("a person turns counterclockwise", "turn_left"),
    ("a man walks briskly", "walk[fast]"),
    ("a man runs in place, then jumps in place", "jump_in_place"),  # running without travel has no check
    ("a dancer spins on the spot", "spin"),
])
def test_paraphrases(prompt, spec):
    assert _normalised(expectation_for(prompt).spec()) == _normalised(spec)


@pytest.mark.parametrize("prompt", ["", "   ", "the sky is blue", "a person swims laps", "a person does not walk",
                                    "zzzz", None, "a car drives away", "a soldier marches in place",
                                    "someone jogs on a treadmill"])
def test_unknown_or_negated_prompts_give_no_check(prompt):
    assert not expectation_for(prompt)


# ---------------------------------------------------------------------------------------------------------------
# The prompt suite

def _normalised(spec):
    """A spec with the checks of each segment sorted (order within a segment does not matter)."""
    if spec in ("none", "error"):
        return "none"
    e = Expectation.parse(spec)
    return " > ".join(" + ".join(sorted(c.spec() for c in seg)) for seg in e.segments)


@pytest.fixture(scope="module")
def suite():
    return json.loads(SUITE.read_text())["prompts"]


def test_suite_prompts_read_as_expected(suite):
    wrong = [(row["prompt"], row["expect"], expectation_for(row["prompt"]).spec()) for row in suite
             if _normalised(expectation_for(row["prompt"]).spec()) != _normalised(row["expect"])]
    assert not wrong, wrong


def test_suite_covers_kinds_sequences_sides_speeds_and_failures(suite):
    assert len(suite) >= 150
    specs = [row["expect"] for row in suite]
    checks = [c for s in specs if s not in ("none", "error") for seg in Expectation.parse(s).segments for c in seg]
    named = {c.kind for c in checks}
    for kind in ACTION_KINDS:
        assert kind in named or any(kind.startswith(f) and f in named for f in FAMILIES), kind
    assert sum(" > " in s for s in specs) >= 20
    assert sum(" + " in s for s in specs) >= 6
    assert sum(c.side is not None or c.kind.endswith(("_left", "_right")) for c in checks) >= 25
    assert sum(c.speed is not None for c in checks) >= 8
    assert sum(s in ("none", "error") for s in specs) >= 10
    assert len({row["prompt"] for row in suite}) == len(suite)


def _norm_text(text):
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def test_suite_prompts_are_not_library_captions(suite):
    """No suite prompt is a caption the procedural generator can write, whoever its subject is (a prompt that only
    changes who moves is still a copy): single kinds (every phrase of every kind over 300 parameter draws, with or
    without a context of any kind or a place, and a time), chains ("X, then Y", "X and then Y", "X, after that Y")
    and layers ("G while B-ing", "B and G at the same time", "B, and G along the way")."""
    predicates, gerunds, tails = set(), set(), set()
    for kind, spec in ACTION_KINDS.items():
        for seed in range(300):
            params = spec.sample(np.random.default_rng(seed))
            phrases, words = spec.phrases(params)
            predicates.update(_norm_text(fill(p, words)) for p in phrases)
            if spec.contexts:
                tails.update(_norm_text(fill(c, words)) for c in spec.contexts(params))
            if spec.gerunds:
                gerunds.update(_norm_text(g) for g in spec.gerunds(params))
    tails.update(_norm_text(p) for table in PLACES.values() for p in table)
    times = [""] + [_norm_text(t) for t in TIMES]
    subjects = [_norm_text(s) for s in SUBJECTS]
    verbs = {p.split()[0] for p in predicates}  # "walks", "takes", "is": where a predicate starts

    def cut(text, tail):
        """text without ' tail' at its end, or None."""
        return text[: -len(tail) - 1] if tail and text.endswith(" " + tail) else (text if not tail else None)

    def is_part(text):
        """predicate [context | place] [time]"""
        for time in times:
            core = cut(text, time)
            if core is not None and (core in predicates or
                                     any(cut(core, tail) in predicates for tail in tails if core.endswith(tail))):
                return True
        return False

    def is_body(body):
        if is_part(body):
            return True
        parts = re.split(r"\s*(?:,? and then|,? then|,? after that|,)\s+", body)
        if len(parts) > 1 and all(is_part(p.strip()) for p in parts):
            return True
        m = re.match(r"(.+) while (?:still )?(.+)$", body)
        if m and is_part(m.group(1)) and m.group(2) in gerunds:
            return True
        m = re.match(r"(.+?),? and (.+?)(?: at the same time| along the way)$", body)
        return bool(m and is_part(m.group(1)) and is_part(m.group(2)))

    def is_caption(prompt):
        """A library subject and a caption body, or a subject of up to three words ("a gym class") and a body."""
        text = _norm_text(prompt)
        words = text.split()
        bodies = [text[len(s) + 1:] for s in subjects if text.startswith(s + " ")]
        bodies += [" ".join(words[n:]) for n in range(1, 4) if n < len(words) and words[n] in verbs][:1]
        return any(is_body(body) for body in bodies)

    assert len(predicates) > 400 and len(tails) > 300
    captions = [row["prompt"] for row in suite if row["prompt"].strip() and is_caption(row["prompt"])]
    assert not captions, captions
    # The check itself catches captions, framed or not, with any subject.
    assert is_caption("A person walks forward slowly.") and is_caption("someone claps three times, then sits down")
    assert is_caption("A nurse bows politely to a crowd in the morning.")
    assert is_caption("an astronaut takes a bow at night") and not is_caption("a person takes a bow to the moon")


# ---------------------------------------------------------------------------------------------------------------
# `motion-mamba evaluate --actions` on a tiny random model (shape of the JSON, sheets, graceful rows)

@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig
    from motion_core.models.text_encoder import TextEncoder

    folder = tmp_path_factory.mktemp("weights")
    MotionGenerator.random(ModelConfig.tiny(), seed=0, text_encoder=TextEncoder()).save_pretrained(folder)
    return folder


def test_evaluate_actions_command_prints_rates_per_kind(tiny_weights, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from motion_core import cli

    rows = [{"prompt": "a man strolls down the hallway", "expect": "walk"},
            {"prompt": "a person waves while jogging", "expect": "jog + wave"},
            {"prompt": "someone claps, then sits down", "expect": "clap > sit_down_stand_up", "seconds": 3.0},
            {"prompt": "the weather is lovely today", "expect": "none"},
            {"prompt": "   ", "expect": "error"}]
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"prompts": rows}))
    out = tmp_path / "sheets"
    code = cli.main(["evaluate", "--actions", "--weights", str(tiny_weights), "--suite", str(suite), "--limit", "5",
                     "--seeds", "3", "--steps", "2", "--device", "cpu", "--out", str(out), "--no-progress"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["prompts"] == 5 and result["action_prompts"] == 3 and result["seeds"] == 3
    assert set(result["per_kind"]) == {"walk", "together", "sequence"}
    for row in result["per_kind"].values():
        assert row["prompts"] == 1 and 0 <= row["model"] <= 1 and row["reference"] in (0, 1)
    assert result["overall"]["reference"] >= 2 / 3  # procedural clips of the asked kinds show them
    assert result["graceful"] == {"prompts": 2, "passed": 2, "failed": []}
    for failure in result["failures"]:  # a random model rarely shows anything: each failure has its sheet
        assert Path(failure["sheet"]).is_file() and len(failure["why"]) == 3
    assert len(json.loads((out / "results.json").read_text())["results"]) == 5


def test_evaluate_needs_data_or_actions(capsys):
    from motion_core import cli

    assert cli.main(["evaluate"]) == 2
    assert "--data is required" in capsys.readouterr().err


def test_limit_spreads_over_the_suite():
    from motion_core.evaluate_actions import load_suite, pick

    rows = load_suite()
    picked = pick(rows, 10)
    assert len(picked) == 10 and picked[0] is rows[0] and picked[-1] is rows[-1]
    assert pick(rows, None) == rows


def test_sequence_parts_in_time_order():
    from motion_core.motion.action_prompt import sequence_parts

    assert sequence_parts("A man strolls forward, then takes a seat.") == ["a man strolls forward", "takes a seat"]
    assert sequence_parts("she sits down after walking in") == ["walking in", "she sits down"]
    assert sequence_parts("a person walks forward and waves") == ["a person walks forward and waves"]
    assert len(sequence_parts("walks forward, bending to the left")) == 1  # a manner, not a second action
    # "and" between actions that cannot overlap is "and then"; the generator makes one segment of each
    assert sequence_parts("someone walks to the table and takes a seat") == ["someone walks to the table",
                                                                              "takes a seat"]
    assert sequence_parts("she runs and jumps over a puddle and then sits") == ["she runs", "jumps over a puddle",
                                                                                 "sits"]
    # ... but not where one action contains the other
    assert len(sequence_parts("a person sits down and stands up")) == 1
    assert len(sequence_parts("a person stands and looks around")) == 1
    assert len(sequence_parts("someone loses their footing and almost falls")) == 1  # one stumble
    assert len(sequence_parts("someone begins walking forward and comes to a halt")) == 1  # one start-stop

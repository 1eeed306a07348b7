"""`motion-mamba evaluate --actions`: does a model show the action each prompt of the suite asks for?

For every prompt of the suite (motion_core/data/prompt_suite.json, or --suite):
  1. its checks come from the prompt itself (`expectation_for`, the same reader a user's prompt would get; the tests
     keep it equal to the suite's own `expect`);
  2. the model generates `seeds` variations in one batch (MotionGenerator.generate, seed 0, `variations=seeds`), each
     is checked with `check_motion`, and the prompt passes when the majority of its variations pass;
  3. the reference row does the same on procedural clips of the asked kinds and options (single clips, chains for
     sequences, gestures layered over locomotion for "together"), `seeds` clips per prompt, so a model's rate can be
     read against what motions that really show the action reach;
  4. a contact sheet of every failing prompt (all its variations) goes to `out`.
Prompts that expect "none" pass when they have no check and generate without an error; prompts that expect "error"
pass when the generator refuses them with a MotionError. They are reported apart ("graceful").

Only MotionGenerator's public API is used (from_pretrained / generate -> .joints (variations, T, 22, 3)).
"""

import json
import re
import time
from pathlib import Path

import numpy as np

from motion_core.data.procedural import ACTION_KINDS, make_chain, make_clip, make_layered
from motion_core.errors import MotionError
from motion_core.motion.action_check import SIDES, Expectation, check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.preview import contact_sheet

SUITE_PATH = Path(__file__).resolve().parent / "data" / "prompt_suite.json"
SECONDS = 6.0            # clip length for one action
SEQUENCE_SECONDS = 9.0   # and for a sequence of actions
REFERENCE_TRIES = 40     # procedural draws tried per prompt to find clips with the asked sides / speeds


def load_suite(path=None):
    """The suite's prompts: list of dicts with "prompt", "expect" and optionally "seconds"."""
    path = Path(path or SUITE_PATH)
    try:
        rows = json.loads(path.read_text())["prompts"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MotionError(f"cannot read the prompt suite {path} ({error}); pass --suite with a prompt_suite.json") \
            from None
    if not rows or not all(isinstance(r, dict) and "prompt" in r and "expect" in r for r in rows):
        raise MotionError(f"{path} has no prompts; each entry needs \"prompt\" and \"expect\"")
    return rows


def pick(rows, limit):
    """`limit` prompts spread evenly over the suite (so a quick run still covers most kinds); None = all."""
    if limit is None or limit >= len(rows):
        return list(rows)
    if limit < 1:
        raise MotionError(f"--limit must be at least 1, got {limit}")
    index = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in index]


def seconds_for(row, expectation):
    return float(row.get("seconds") or (SEQUENCE_SECONDS if len(expectation.segments) > 1 else SECONDS))


# ---------------------------------------------------------------------------------------------------------------
# Reference: procedural clips of the asked kinds

# Families and options the library has no single kind for, mapped to one that shows them.
_FAMILY_KIND = {"wave": "wave_right", "kick": "kick_right", "turn": "turn_left", "side_step": "side_step_left",
                "jump": "jump_in_place"}


def _library_kind(check):
    kind = _FAMILY_KIND.get(check.kind, check.kind)
    if kind == "run" and check.speed == "slow":
        kind = "jog"
    return kind if kind in ACTION_KINDS else None


def _params_agree(check, params):
    """Whether a clip's sampled parameters have the side and speed a check asks for."""
    if check.side is not None and "side" in params and params["side"] != SIDES.index(check.side):
        return False
    if check.speed is not None and "speed" in params and params["speed"] != check.speed and \
            check.kind in ("walk", "walk_backwards"):
        return False
    return True


def reference_clips(expectation, count, seed=0):
    """`count` procedural clips (T, 22, 3) showing what `expectation` asks for, or [] when the library cannot."""
    if not expectation:
        return []
    segments = expectation.segments
    kinds = [[_library_kind(c) for c in seg] for seg in segments]
    if any(k is None for seg in kinds for k in seg):
        return []
    clips = []
    for attempt in range(REFERENCE_TRIES):
        rng = np.random.default_rng(seed + attempt)
        if len(segments) == 1 and len(segments[0]) == 1:
            check, kind = segments[0][0], kinds[0][0]
            params = {}
            if check.speed and check.kind in ("walk", "walk_backwards"):
                params["speed"] = check.speed
            clip = make_clip(kind, rng, **params)
            ok = _params_agree(check, clip.params[0])
        elif len(segments) == 1 and len(segments[0]) == 2:
            spec = {k: ACTION_KINDS[k] for k in kinds[0]}
            gestures = [i for i, k in enumerate(kinds[0]) if spec[k].upper_body]
            bases = [i for i, k in enumerate(kinds[0]) if not spec[k].upper_body and spec[k].gerunds]
            if len(gestures) != 1 or len(bases) != 1:
                return []
            g, b = gestures[0], bases[0]
            base_params = {"speed": segments[0][b].speed} if segments[0][b].speed and kinds[0][b] == "walk" else {}
            clip = make_layered(kinds[0][b], kinds[0][g], rng, **base_params)
            ok = _params_agree(segments[0][b], clip.params[0]) and _params_agree(segments[0][g], clip.params[1])
        elif all(len(seg) == 1 for seg in segments):
            clip = make_chain([seg[0] for seg in kinds], rng)
            ok = len(clip.kinds) == len(segments) and all(
                _params_agree(seg[0], p) for seg, p in zip(segments, clip.params))
        else:
            return []
        if ok:
            clips.append(clip.joints)
            if len(clips) == count:
                break
    return clips


# ---------------------------------------------------------------------------------------------------------------
# The evaluation

def _majority(results):
    return sum(results) * 2 > len(results)


def _sheet_name(index, prompt):
    slug = re.sub(r"[^a-z0-9]+", "_", prompt.lower()).strip("_")[:60] or "prompt"
    return f"{index:03d}_{slug}.png"


def evaluate_actions(generator, rows, seeds=3, device="auto", out=None, steps=None, guidance=None, reference=True,
                     progress=None, seed=0, candidates=1):
    """Run the suite rows on a generator. Returns the result dict printed as JSON by the command.

    generator: a MotionGenerator; rows: suite entries (see load_suite); seeds: variations per prompt (majority vote),
    generated in one batch from noise seed `seed`; out: folder for results.json and a contact sheet of each failing
    prompt (None: neither); progress(done, total, prompt) is called after each prompt. candidates: takes drawn per
    variation, the best kept (`motion_core.candidates`); above 1 the action check that scores a take also chose it,
    so the rate says what users get with that setting, not what the model alone does.
    """
    if seeds < 1:
        raise MotionError(f"--seeds must be at least 1, got {seeds}")
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    per_kind, failures, graceful, records = {}, [], {"prompts": 0, "passed": 0, "failed": []}, []
    for index, row in enumerate(rows):
        prompt, expect = row["prompt"], row["expect"]
        expectation = expectation_for(prompt)
        if expect in ("none", "error"):
            ok, why = _graceful(generator, prompt, expect, expectation, seed, device, steps, guidance)
            graceful["prompts"] += 1
            graceful["passed"] += ok
            if not ok:
                graceful["failed"].append({"prompt": prompt, "expect": expect, "why": why})
            records.append({"prompt": prompt, "expect": expect, "passed": ok, "why": why})
            if progress:
                progress(index + 1, len(rows), prompt)
            continue
        seconds = seconds_for(row, expectation)
        motion = generator.generate(prompt, seconds=seconds, seed=seed, steps=steps, guidance=guidance,
                                    variations=seeds, device=device, candidates=candidates)
        verdicts = [check_motion(j, expectation, fps=motion.fps) for j in motion.joints]
        passed = _majority([bool(v) for v in verdicts])
        ref = None
        if reference:
            clips = reference_clips(expectation, seeds, seed=1000 * index)
            ref = _majority([bool(check_motion(j, expectation)) for j in clips]) if clips else None
        label = expectation.label
        bucket = per_kind.setdefault(label, {"prompts": 0, "model": 0, "reference": 0, "reference_prompts": 0})
        bucket["prompts"] += 1
        bucket["model"] += passed
        if ref is not None:
            bucket["reference_prompts"] += 1
            bucket["reference"] += ref
        record = {"prompt": prompt, "expect": expectation.spec(), "passed": passed,
                  "seeds_passed": sum(bool(v) for v in verdicts), "reference": ref}
        if not passed:
            record["why"] = [v.why[:300] for v in verdicts]
            if out is not None:
                sheet = out / _sheet_name(index, prompt)
                contact_sheet(motion.joints, sheet, fps=motion.fps, title=f"{prompt} [{expectation.spec()}]",
                              columns=10)
                record["sheet"] = str(sheet)
            failures.append(record)
        records.append(record)
        if progress:
            progress(index + 1, len(rows), prompt)
    steps, guidance = generator.sampler_settings(steps, guidance)  # the values used, for the record
    result = _summary(per_kind, failures, graceful, seeds, steps, guidance, generator, start, out)
    result["candidates"] = candidates
    if out is not None:
        (out / "results.json").write_text(json.dumps(result | {"results": records}, indent=1) + "\n")
    return result


def _graceful(generator, prompt, expect, expectation, seed, device, steps, guidance):
    """A prompt that must either be refused cleanly ("error") or generate with nothing to check ("none")."""
    try:
        generator.generate(prompt, seconds=SECONDS, seed=seed, steps=steps, guidance=guidance, variations=1,
                           device=device)
    except MotionError as error:
        return expect == "error", f"refused: {error}"
    if expect == "error":
        return False, "generated instead of refusing"
    if expectation:
        return False, f"read as {expectation.spec()}"
    return True, "no check; generated"


def _rate(passed, total):
    return round(passed / total, 4) if total else None


def _summary(per_kind, failures, graceful, seeds, steps, guidance, generator, start, out):
    kinds = {}
    for label in sorted(per_kind):
        b = per_kind[label]
        kinds[label] = {"prompts": b["prompts"], "model": _rate(b["model"], b["prompts"]),
                        "reference": _rate(b["reference"], b["reference_prompts"])}
    total = sum(b["prompts"] for b in per_kind.values())
    model = sum(b["model"] for b in per_kind.values())
    ref_total = sum(b["reference_prompts"] for b in per_kind.values())
    ref = sum(b["reference"] for b in per_kind.values())
    config = getattr(generator, "config", None)
    return {
        "model": getattr(config, "name", None), "weights": str(getattr(generator, "weights_dir", "")) or None,
        "device": str(getattr(generator, "device", "")), "seeds": seeds, "steps": steps, "guidance": guidance,
        "prompts": total + graceful["prompts"], "action_prompts": total,
        "overall": {"model": _rate(model, total), "reference": _rate(ref, ref_total),
                    "model_passed": model, "reference_passed": ref, "reference_prompts": ref_total},
        "per_kind": kinds,
        "graceful": {"prompts": graceful["prompts"], "passed": graceful["passed"], "failed": graceful["failed"]},
        "failures": failures,
        "sheets": str(out) if out is not None else None,
        "elapsed_s": round(time.perf_counter() - start, 1),
    }

"""`motion-mamba bench feet`: what the foot cleanup does, as one JSON object (foot skate before and after).

Measured:
- procedural clips (motion_core.data.procedural, seeds 0..--seeds-1) passed through the 263-d features and back, so
  their contact channels are HumanML3D's own labels: as they are ("clean": the cleanup should change them very
  little) and with sliding feet ("sliding": each leg's ankle and ball, half of it on the knee, follow a horizontal
  sinusoid of --amplitude metres and --period seconds under a correct body, up to ~0.6 m/s of skating);
- with --model: the installed model (or --weights) on walking prompts, the joints as decoded and after the cleanup,
  on the model's own contact channels.
Per row: foot skate (motion_core.metrics), penetration, jitter before -> after; how far the ankles and balls of the
feet moved (max and mean, metres); for the model, the share of frames whose contact channel is on and the distance
the body travelled.
"""

import json
import time

import numpy as np

from motion_core import metrics
from motion_core.data.procedural import generate_clip
from motion_core.motion.features import joints_to_features, recover_from_ric
from motion_core.motion.foot_cleanup import CONTACT_JOINTS, clean_foot_contacts

HELP = "foot cleanup: foot skate before/after on procedural clips (clean and sliding) and, with --model, generations"
KINDS = ("walk", "run", "jog", "sneak", "walk_backwards", "walk_curve")
PROMPTS = ("a person walks forward", "someone walks slowly in a straight line", "a man jogs forward",
           "a person walks in a circle", "a woman runs forward quickly")


def add_arguments(parser):
    parser.add_argument("--seeds", type=int, default=5, help="procedural clips per kind (default 5)")
    parser.add_argument("--amplitude", type=float, default=0.08, help="sliding amplitude, metres (default 0.08)")
    parser.add_argument("--period", type=float, default=0.8, help="sliding period, seconds (default 0.8)")
    parser.add_argument("--model", action="store_true", help="also measure generations of the model on CPU")
    parser.add_argument("--weights", default=None, help="weights folder for --model (default: the installed model)")
    parser.add_argument("--model-seeds", type=int, default=3, help="seeds per prompt for --model (default 3)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each generation (default 6)")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")


def slide_feet(joints, amplitude=0.08, period=0.8, fps=20.0):
    """Feet that slide under a correct body: each leg's ankle and ball (and half of it the knee) follow a horizontal
    sinusoid, the legs out of phase. joints: (T, 22, 3) metres, Y-up -> (T, 22, 3) float64."""
    out = np.array(joints, dtype=np.float64)
    t = np.arange(len(out)) / fps
    for side, (knee, ankle, ball) in enumerate(((4, 7, 10), (5, 8, 11))):
        a = 2 * np.pi * t / period + side * np.pi * 0.7
        offset = np.stack([0.4 * amplitude * np.cos(1.3 * a), 0 * a, amplitude * np.sin(a)], -1)  # (T, 3)
        out[:, [ankle, ball]] += offset[:, None]
        out[:, knee] += 0.5 * offset
    return out


def compare(joints, contacts, fps=20.0):
    """Physical metrics of `joints` (T, 22, 3) before and after the cleanup, and how far the feet moved."""
    cleaned = clean_foot_contacts(joints, contacts)
    feet = list(CONTACT_JOINTS)
    moved = np.linalg.norm(np.asarray(cleaned, np.float64)[:, feet] - np.asarray(joints, np.float64)[:, feet], axis=-1)
    before, after = metrics.physical_metrics([joints], fps), metrics.physical_metrics([cleaned], fps)
    row = {f"{name}_before": before[name] for name in before}
    row.update({f"{name}_after": after[name] for name in after})
    row.update(feet_moved_max_m=float(moved.max()), feet_moved_mean_m=float(moved.mean()))
    return row


def _mean_rows(rows):
    return {key: round(float(np.mean([r[key] for r in rows])), 5) for key in rows[0]}


def procedural(seeds, amplitude, period):
    result = {}
    for kind in KINDS:
        clean_rows, sliding_rows = [], []
        for seed in range(seeds):
            raw, _ = generate_clip(kind, np.random.default_rng(seed))
            features = joints_to_features(raw)
            joints, contacts = recover_from_ric(features), features[:, -4:]
            clean_rows.append(compare(joints, contacts))
            sliding_rows.append(compare(slide_feet(joints, amplitude, period), contacts))
        result[kind] = {"clean": _mean_rows(clean_rows), "sliding": _mean_rows(sliding_rows)}
        result[kind]["clean"]["feet_moved_max_m"] = round(max(r["feet_moved_max_m"] for r in clean_rows), 5)
    return result


def model_rows(weights, seeds, seconds):
    from motion_core.generator import MotionGenerator  # torch (~2 s): only with --model; the procedural rows need none

    generator = MotionGenerator.from_pretrained(weights)
    rows = {}
    for prompt in PROMPTS:
        per_seed = []
        for seed in range(1, seeds + 1):
            motion = generator.generate(prompt, seconds, seed=seed, device="cpu", foot_cleanup=False)
            joints, contacts = motion.joints[0], motion.features[0, :, -4:]
            row = compare(joints, contacts, motion.fps)
            row["contact_on_share"] = float((contacts > 0.5).mean())
            row["travel_m"] = float(np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]))
            per_seed.append(row)
        rows[prompt] = _mean_rows(per_seed)
    return {"weights": str(getattr(generator, "weights_dir", weights)), "model": generator.describe(),
            "seconds": seconds, "seeds": list(range(1, seeds + 1)), "prompts": rows,
            "mean": _mean_rows(list(rows.values()))}


def run(args):
    start = time.perf_counter()
    report = {
        "procedural": {"seeds": args.seeds, "slide_amplitude_m": args.amplitude, "slide_period_s": args.period,
                       "kinds": procedural(args.seeds, args.amplitude, args.period)},
    }
    if args.model:
        report["model"] = model_rows(args.weights, args.model_seeds, args.seconds)
    report["elapsed_s"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(json.dumps(report, indent=2) + "\n")
    return 0

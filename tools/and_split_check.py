"""Does cutting "A and B" prompts into timeline segments help? The same prompts generated whole and split.

    python tools/and_split_check.py [--weights DIR] [--seeds 3] [--sampler ddim] > out.json

Prompts are written for this check (none is in the action suite or the training captions: asserted) and join two
actions that cannot overlap with a bare "and". Each is generated with `split_sequence=False` (one prompt embedding)
and as `generate` does by default (one segment per part, `sequence_parts`), `seeds` variations from noise seed 0, and
judged by the action check in time order; a prompt passes on the majority of its variations. Prints JSON.
"""

import argparse
import json
import platform
import time

from motion_core.evaluate_actions import SEQUENCE_SECONDS, load_suite
from motion_core.generator import MotionGenerator
from motion_core.motion.action_check import check_motion
from motion_core.motion.action_prompt import expectation_for, sequence_parts

PROMPTS = (
    "a woman jogs forward and sits down on the ground",
    "a man walks over to the wall and kneels",
    "someone hops on one leg and bows",
    "a person squats down low and jumps",
    "a kid runs across the yard and does jumping jacks",
    "a man walks forward and turns left",
    "a person kicks with the right leg and walks backwards",
    "an old man walks slowly and sits in a chair",
    "a dancer spins and kneels",
    "a woman lunges forward and stretches",
    "a man sprints ahead and stumbles",
    "a man steps sideways to the right and bows",
)


def judge(gen, prompt, split, seeds, sampler):
    motion = gen.generate(prompt, SEQUENCE_SECONDS, seed=0, variations=seeds, split_sequence=split, sampler=sampler,
                          device="cpu")
    expectation = expectation_for(prompt)
    verdicts = [check_motion(joints, expectation, fps=motion.fps) for joints in motion.joints]
    passed = sum(v.passed for v in verdicts)
    return {"passed": passed * 2 > seeds, "variations_passed": passed, "why": [v.why for v in verdicts]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a generator folder (default: the shipped model)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sampler", default="ddim")
    args = parser.parse_args()
    suite = {row["prompt"].strip().lower() for row in load_suite()}
    assert not suite & {p.lower() for p in PROMPTS}, "a check prompt is in the action suite"
    gen = MotionGenerator.from_pretrained(args.weights)
    rows, start = [], time.perf_counter()
    for prompt in PROMPTS:
        parts = sequence_parts(prompt)
        row = {"prompt": prompt, "expect": [[c.kind for c in seg] for seg in expectation_for(prompt).segments],
               "parts": parts, "whole": judge(gen, prompt, False, args.seeds, args.sampler)}
        row["split"] = judge(gen, prompt, True, args.seeds, args.sampler) if len(parts) > 1 else row["whole"]
        rows.append(row)
    summary = {name: sum(r[name]["passed"] for r in rows) for name in ("whole", "split")}
    print(json.dumps({"benchmark": "and_split_check", "weights": args.weights or "motion_core/weights/default",
                      "sampler": args.sampler, "seeds": args.seeds, "seconds": SEQUENCE_SECONDS, "prompts": len(rows), "passed": summary,
                      "machine": f"{platform.processor() or platform.machine()}, CPU",
                      "elapsed_s": round(time.perf_counter() - start, 1), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

"""How much choosing among takes helps: every action prompt of the suite, N takes each, judged one by one.

For each prompt: N takes in one batch (seed 0, no choosing), and for each take whether the action check passes and
the evaluator's similarity to the prompt (`motion_core.candidates.CandidateJudge`). From those, the expected pass
rate of:
  - one take (the model alone);
  - the best of k takes, k = 2..N, chosen as `generate(candidates=k)` chooses (action check, then evaluator), over the
    N // k disjoint groups of each prompt;
  - the best of k chosen by the evaluator alone (what any prompt gets, also those the action check cannot read).
Prints one JSON object (and writes it with --out); --takes keeps every take's verdicts.

    .venv/bin/python tools/candidates_study.py --takes 6 --sampler dpmpp_2m --steps 10 --out study.json
"""

import argparse
import json
import sys
import time

import numpy as np
import torch

from motion_core.candidates import CandidateJudge, rank_key
from motion_core.evaluate_actions import load_suite, seconds_for
from motion_core.generator import MotionGenerator
from motion_core.motion.action_prompt import expectation_for


def best_of(report, k, use_check):
    """Mean pass over the disjoint groups of k takes, each group's pick made by the judge's own ranking (`rank_key`),
    with the action check or (use_check False) by the evaluator alone."""
    passes = report["action_check"]
    judged = report if use_check else report | {"action_check": None}
    picks = [passes[min(range(first, first + k), key=lambda i: rank_key(judged, i))]
             for first in range(0, len(passes) - k + 1, k)]
    return float(np.mean(picks))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=6)
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N action prompts")
    parser.add_argument("--out", default=None)
    parser.add_argument("--plot", default=None, help="also draw the pass rate against the takes to this .png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = MotionGenerator.from_pretrained()
    judge = CandidateJudge.for_generator(generator)
    rows = [r for r in load_suite() if r["expect"] not in ("none", "error")][:args.limit]
    takes, start = [], time.perf_counter()
    for index, row in enumerate(rows):
        expectation = expectation_for(row["prompt"])
        motion = generator.generate(row["prompt"], seconds_for(row, expectation), seed=0, steps=args.steps,
                                    variations=args.takes, device="cpu", sampler=args.sampler)
        _, report = judge.rank(motion.prompt, motion.joints, motion.fps)
        takes.append({"prompt": row["prompt"], "expect": expectation.spec(), **report})
        print(index, row["prompt"], report["action_check"], file=sys.stderr, flush=True)
    summary = {"one_take": float(np.mean([np.mean(t["action_check"]) for t in takes]))}
    for k in range(2, args.takes + 1):
        summary[f"best_of_{k}"] = float(np.mean([best_of(t, k, True) for t in takes]))
        summary[f"best_of_{k}_evaluator_alone"] = float(np.mean([best_of(t, k, False) for t in takes]))
    summary["any_of_all"] = float(np.mean([any(t["action_check"]) for t in takes]))
    result = {"command": " ".join(sys.argv), "prompts": len(takes), "takes": args.takes, "sampler": args.sampler,
              "steps": generator.sampler_settings(args.steps, None)[0], "pass_rates": summary,
              "elapsed_s": round(time.perf_counter() - start, 1), "per_prompt": takes}
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_prompt"}, indent=1))
    if args.plot:
        plot(result, args.plot)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates, ks = result["pass_rates"], range(1, result["takes"] + 1)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    both = [rates["one_take"]] + [rates[f"best_of_{k}"] for k in ks if k > 1]
    alone = [rates["one_take"]] + [rates[f"best_of_{k}_evaluator_alone"] for k in ks if k > 1]
    ax.plot(ks, [100 * r for r in both], "o-", label="action check, then evaluator (prompts it can read)")
    ax.plot(ks, [100 * r for r in alone], "s--", label="evaluator alone (any prompt)")
    ax.axhline(100 * rates["any_of_all"], color="grey", lw=0.8, ls=":", label=f"some take of {result['takes']} passes")
    ax.set_xlabel("takes drawn per variation (--candidates)")
    ax.set_ylabel("action shown, % of takes kept")
    ax.set_title(f"{result['prompts']} suite prompts, {result['sampler']} {result['steps']} steps", fontsize=10)
    ax.set_xticks(list(ks))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())

"""What the jitter low-pass does to generated motion: mean jerk, foot skate and the action check, as one JSON object.

The shipped model generates 8 action prompts x 3 seeds (DDIM 50, CPU) with no post-processing; each take is then
measured as decoded, after the foot cleanup, after the low-pass alone before the cleanup, and after the cleanup and
then the low-pass (what generation does). Procedural clips of the same kinds give the reference jerk.

    .venv/bin/python tools/jitter_check.py [--sigma 0.5] [--out jitter.json]
"""

import argparse
import json
import sys

import numpy as np
import torch

from motion_core.data.procedural import make_clip
from motion_core.generator import MotionGenerator
from motion_core.metrics import foot_skate_ratio, jitter
from motion_core.motion.action_check import check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.foot_cleanup import clean_foot_contacts
from motion_core.motion.jitter import JITTER_SIGMA_FRAMES, remove_jitter

PROMPTS = {"walk": "a person walks forward", "clap": "a person claps", "wave_right": "someone waves with the right hand",
           "jump_in_place": "a man jumps in place", "run": "a person runs forward",
           "jumping_jacks": "a woman does jumping jacks", "kick_right": "a person kicks with the right leg",
           "punch": "a man punches"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=JITTER_SIGMA_FRAMES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = MotionGenerator.from_pretrained()
    rows = {"decoded": [], "foot cleanup": [], "low-pass, then foot cleanup": [],
            "foot cleanup, then low-pass (generate)": []}
    for prompt in PROMPTS.values():
        motion = generator.generate(prompt, seconds=6, seed=0, variations=args.seeds, device="cpu", foot_cleanup=False)
        expectation = expectation_for(prompt)
        for joints, features in zip(motion.joints, motion.features):
            contacts = features[:, -4:]
            cleaned = clean_foot_contacts(joints, contacts)
            versions = (joints, cleaned, clean_foot_contacts(remove_jitter(joints, args.sigma), contacts),
                        remove_jitter(cleaned, args.sigma))
            for name, version in zip(rows, versions):
                rows[name].append((jitter(version), foot_skate_ratio(version), bool(check_motion(version, expectation))))
    rng = np.random.default_rng(0)
    reference = [jitter(make_clip(kind, rng).joints) for kind in PROMPTS for _ in range(args.seeds)]
    result = {"sigma_frames": args.sigma, "generations": len(PROMPTS) * args.seeds, "sampler": "ddim 50, CPU",
              "procedural_clips_jitter": round(float(np.mean(reference)), 1)}
    for name, values in rows.items():
        values = np.array(values, dtype=float)
        result[name] = {"jitter": round(values[:, 0].mean(), 1), "foot_skate": round(values[:, 1].mean(), 4),
                        "action_check_passed": int(values[:, 2].sum())}
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())

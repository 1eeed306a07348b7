"""What choosing among takes costs on the GPU: generate() with 1 and with N takes, CUDA graphs warm, one process.

Times the whole call as a user makes it (text encoding, the guided 50-step loop over all takes in one batch, decoding,
foot cleanup, jitter low-pass and, with N > 1, the judging on the host), median of --repeats, for a 9.8-s clip.
Prints one JSON object. Run on the GPU machine with a text model (tools/gpu/stand_in_text_model.py; the judge's
evaluator ships with the weights).
"""

import argparse
import json
import statistics
import sys
import time

import torch

from motion_core.generator import MotionGenerator


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    generator = MotionGenerator.from_pretrained()
    prompt = "a person walks forward and waves with the right hand"
    rows = []
    for takes in args.takes:
        def call():
            return generator.generate(prompt, 9.8, seed=1, candidates=takes, device=args.device,
                                      split_sequence=False)
        call()  # captures this batch's graphs
        times, judge = [], []
        for _ in range(args.repeats):
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            motion = call()
            times.append(time.perf_counter() - start)
            judge.append(motion.info.get("candidates", {}).get("judge_s", 0.0))
        rows.append({"takes": takes, "generate_ms_median": round(1000 * statistics.median(times), 2),
                     "judge_ms_median": round(1000 * statistics.median(judge), 2),
                     "kept": motion.info.get("candidates", {}).get("kept")})
        print(rows[-1], file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(json.dumps({"device": device, "torch": torch.__version__, "prompt": prompt, "seconds": 9.8,
                      "sampler": "ddim 50, guidance 7.5, CUDA graphs", "rows": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())

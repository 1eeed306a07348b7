"""Tune the fused blocks' launch settings on the GPU, then time generation with the best, all in one process.

1. For each setting (warps, scan rows per register tile), one guided denoiser call of the shipped model (batch 2, a
   9.8-s latent) captured as a CUDA graph: median replay time of 200, and the largest
   difference from the reference blocks relative to the output's scale (kept only within 1e-4).
2. The best setting's `bench generate` (Motion Mamba fused, reference blocks, MLD: AITS with CUDA graphs, clips/s).
Prints one JSON object; run on the GPU machine with a text model (tools/gpu/stand_in_text_model.py).
"""

import argparse
import itertools
import json
import sys

import torch
from profile_denoiser import guided_call, replay_us  # tools/gpu/, this script's folder (run as a script)

from motion_core import bench_generate
from motion_core.generator import MotionGenerator
from motion_core.ssm import fused_block

GRID = {"NUM_WARPS": [2, 4, 8], "MAX_CHUNK": [32, 64]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=None, help="also write the JSON here, after the sweep and at the end")
    args = parser.parse_args()
    denoiser = MotionGenerator.from_pretrained(with_text_encoder=False).denoiser.to("cuda").eval()
    with torch.inference_mode():
        call = guided_call(denoiser)
        fused_block.enabled = False
        reference_us, reference = replay_us(call)
        fused_block.enabled = True
        scale = reference.abs().max().item()
        rows = []
        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values))
            for name, value in setting.items():
                setattr(fused_block, name, value)
            try:
                us, out = replay_us(call)
                error = (out - reference).abs().max().item() / scale
                rows.append({**setting, "replay_us": us, "relative_error": error})
            except Exception as problem:  # a setting the compiler rejects is reported, not fatal
                rows.append({**setting, "error": f"{type(problem).__name__}: {str(problem)[:200]}"})
            print(rows[-1], file=sys.stderr, flush=True)
    good = [r for r in rows if "replay_us" in r and r["relative_error"] <= 1e-4]
    best = min(good, key=lambda r: r["replay_us"])
    for name in GRID:
        setattr(fused_block, name, best[name])
    result = {"device": torch.cuda.get_device_name(), "denoiser_call": "batch 2, 49 latent tokens, CUDA graph",
              "reference_blocks_replay_us": reference_us, "settings": rows, "best": best}
    save = (lambda: open(args.out, "w").write(json.dumps(result, indent=1))) if args.out else (lambda: None)
    save()
    bench_args = argparse.Namespace(device="cuda", json=True, repeats=args.repeats, eager_repeats=1,
                                    batches="64", cpu_threads=0, cpu_repeats=1, out=None,
                                    sections="graph,throughput", cpu_loop_threads="1", weights="default",
                                    samplers="", tiny=False, preset="temporal")
    result["generate"] = bench_generate.measure(bench_args, log=lambda m: print(m, file=sys.stderr, flush=True))
    save()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

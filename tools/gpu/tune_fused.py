"""Tune the fused blocks' launch settings on the GPU, then time generation with the best, all in one process.

1. One guided denoiser call of the shipped model (batch 2, a 9.8-s latent) captured as a CUDA graph: median replay
   time of 200, and the largest difference from the reference blocks relative to the output's scale (a setting
   counts only within 1e-4). Rows: the reference blocks, fused_block's first layout (FIRST_LAYOUT), the module's
   defaults, then each setting of SWEEP changed alone from the best so far (coordinate descent, in SWEEP's order,
   kept when it is faster by more than KEEP_GAIN), until --sweep-s seconds have passed.
2. The best settings written to --settings (JSON, for the tests and the profile: FUSED_SETTINGS=that file).
3. The best setting's `bench generate` (Motion Mamba fused, reference blocks, MLD: AITS with CUDA graphs, clips/s).
Prints one JSON object; run on the GPU machine with a text model (tools/gpu/stand_in_text_model.py).
"""

import argparse
import json
import sys
import time

import torch
from profile_denoiser import guided_call, replay_us  # tools/gpu/, this script's folder (run as a script)

from motion_core import bench_generate
from motion_core.generator import MotionGenerator
from motion_core.ssm import fused_block

# Alternatives to the defaults, most promising first (at 4077370 the scan took 261 and conv_proj 193 of 857 us;
# docs/results/tune_fused_h100_sweep1.json: the scan's serial load latency and register spills mattered most).
SWEEP = {
    "TILE_PER_WARP": [1024, 256],
    "MAX_CHUNK": [64],
    "SCAN_WARPS": [2, 8],
    "MIN_PROGRAMS": [132, 528],
    "MIN_BLOCK_D": [4],
    "CONV_BLOCK_T": [2, 8],
    "CONV_MIN_PROGRAMS": [0, 528],
    "NORM_BLOCK_N": [32],
    "NORM_WARPS": [2],
    "DOT_PRECISION": ["tf32x3"],
    "CONV_WARPS": [2, 8],
    "CONV_BLOCK_C": [64],
    "fuse_norms": [False],
}
KEEP_GAIN = 0.005  # a change must save this fraction of the replay time to be kept (repeat-to-repeat noise)
TOLERANCE = 1e-4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sweep-s", type=float, default=200.0, help="stop the sweep after this many seconds")
    parser.add_argument("--settings", default=None, help="write the best settings here (JSON) after the sweep")
    parser.add_argument("--out", default=None, help="also write the JSON result here, after the sweep and at the end")
    parser.add_argument("--batches", default="256")
    args = parser.parse_args()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    denoiser = MotionGenerator.from_pretrained(with_text_encoder=False).denoiser.to("cuda").eval()
    start = time.perf_counter()
    rows = []

    def measure(label, values):
        """One row: replay time and error under the defaults changed by `values` (restored afterwards)."""
        saved = fused_block.settings()
        fused_block.configure(**values)
        try:
            us, out = replay_us(call)
            error = (out - reference).abs().max().item() / scale
            row = {"row": label, **values, "replay_us": round(us, 2), "relative_error": error,
                   "ok": error <= TOLERANCE}
        except Exception as problem:  # a setting the compiler rejects is reported, not fatal
            row = {"row": label, **values, "error": f"{type(problem).__name__}: {str(problem)[:300]}", "ok": False}
        finally:
            fused_block.configure(**saved)
        rows.append(row)
        log(row)
        return row

    with torch.inference_mode():
        call = guided_call(denoiser)
        fused_block.enabled = False
        reference_us, reference = replay_us(call)
        fused_block.enabled = True
        scale = reference.abs().max().item()
        log(f"reference blocks: {reference_us:.1f} us")
        first = measure("first_layout", dict(fused_block.FIRST_LAYOUT))
        best = measure("defaults", {})
        best_values = {}
        for name, values in SWEEP.items():
            for value in values:
                if time.perf_counter() - start > args.sweep_s:
                    break
                row = measure("sweep", {**best_values, name: value})
                if row["ok"] and (not best["ok"] or row["replay_us"] < best["replay_us"] * (1 - KEEP_GAIN)):
                    best, best_values = row, {**best_values, name: value}
        if not best["ok"] and first["ok"]:  # nothing new passed: keep the tested layout
            best, best_values = first, dict(fused_block.FIRST_LAYOUT)
    fused_block.configure(**best_values)
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "denoiser_call": "batch 2, 49 latent tokens, CUDA graph, median of 200 replays",
              "reference_blocks_replay_us": round(reference_us, 2), "sweep_s": round(time.perf_counter() - start, 1),
              "rows": rows, "best": best, "best_settings": fused_block.settings()}
    if args.settings:
        with open(args.settings, "w") as f:
            json.dump(fused_block.settings(), f, indent=1)

    def save():
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)

    save()
    bench_args = argparse.Namespace(device="cuda", json=True, repeats=args.repeats, eager_repeats=1,
                                    batches=args.batches, cpu_threads=0, cpu_repeats=1, out=None,
                                    sections="graph,throughput", cpu_loop_threads="1", weights="default",
                                    samplers="", tiny=False, preset="temporal")
    result["generate"] = bench_generate.measure(bench_args, log=log)
    save()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

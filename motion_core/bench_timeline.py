"""`motion-mamba bench timeline`: long motion by latent inpainting, as one JSON object.

Measured, on one model (random weights of `--model tiny|temporal`, or trained ones with --weights):
- time: `generate_sequence` over timelines of --minutes (5-s segments cycling over PROMPTS), median of --repeats
  wall times, with the windows count and seconds per minute of motion; "linear" compares the longest timeline's
  time per minute with the shortest's (1.0 = exactly linear); --sampler/--steps/--windows set how every measure
  samples, and --compare times the longest length under other settings too (sequential or parallel windows,
  SAMPLER:STEPS), each repeat running every setting in turn, so the shared machine's load falls on all alike;
- seams: the issue-11 measure (largest jerk within 4 frames of a seam / 95th percentile of jerk inside segments,
  pass <= 1.2) per seed on a 4-segment timeline, and the same for the segments generated alone and pasted end to end;
- edits: in-betweened spans of a procedural walk (frames kept: position error at the kept frames, cm; velocity
  change across each kept frame against the largest frame-to-frame velocity change inside the span);
- with --actions: the action check (`motion.action_check`) on each segment of ACTION_TIMELINE cut out of the take,
  against the same prompt generated alone (issue 11 asks >= 85% of the alone rate; needs trained weights).
Random weights time the real work (sizes, windows, decode) but say nothing of how natural transitions look.
"""

import json
import os
import time
import zlib

import numpy as np
import torch

from motion_core.bench_generate import _cpu_name
from motion_core.data.procedural import generate_clip
from motion_core.generator import MotionGenerator
from motion_core.models.config import ModelConfig
from motion_core.motion.action_check import check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.timeline import seam_smoothness

HELP = "timelines: time for minutes of motion (linear cost), seam smoothness, in-between boundary errors"
PROMPTS = ("a person walks forward", "a person jumps in place", "a person waves with the right hand",
           "a person sits down and stands up")
ACTION_TIMELINE = (("a person walks forward", 5.0), ("a person jumps in place", 4.0),
                   ("a person waves with the right hand", 4.0), ("a person squats down", 4.0),
                   ("a person does jumping jacks", 5.0), ("a person walks backwards", 5.0))


def add_arguments(parser):
    parser.add_argument("--model", choices=["tiny", "temporal"], default="tiny",
                        help="random weights of ModelConfig.tiny_temporal() or .temporal() (default tiny)")
    parser.add_argument("--weights", default=None, help="a trained weights folder instead of --model")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0, 4.0],
                        help="timeline lengths to time (default 1 2 4)")
    parser.add_argument("--steps", type=int, default=50, help="sampler steps (default 50)")
    parser.add_argument("--sampler", default="ddim", choices=["ddim", "dpmpp_2m"],
                        help="sampler for every measure (default ddim, the shipped one)")
    parser.add_argument("--windows", default="parallel", choices=["parallel", "sequential"],
                        help="how timelines longer than one window are sampled (default parallel)")
    parser.add_argument("--compare", nargs="*", default=[], metavar="MODE",
                        help="also time the longest length with each of these, interleaved with the main setting "
                             "in the same process: 'sequential' / 'parallel' (windows) or SAMPLER:STEPS, e.g. "
                             "dpmpp_2m:10")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per length (default 3)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds for the seam and edit measures (default 8)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    parser.add_argument("--actions", action="store_true",
                        help="also run the action check per segment against each prompt generated alone")
    parser.add_argument("--action-seeds", type=int, default=None,
                        help="seeds for --actions (default --seeds; the README's figure uses 3: 18 segments)")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")


class HashTextEncoder:
    """A stand-in text encoder for random weights: a fixed unit vector per prompt (no model files needed)."""

    def __init__(self, dim=384):
        self.dim = dim

    def encode(self, prompts):
        rows = [np.random.default_rng(zlib.crc32(p.encode())).standard_normal(self.dim) for p in prompts]
        rows = np.stack(rows) / np.linalg.norm(np.stack(rows), axis=1, keepdims=True)
        return torch.tensor(rows, dtype=torch.float32, device=getattr(self, "device", "cpu"))

    def to(self, device):
        self.device = device
        return self


def load_generator(args):
    if args.weights:
        return MotionGenerator.from_pretrained(args.weights)
    config = ModelConfig.tiny_temporal() if args.model == "tiny" else ModelConfig.temporal()
    return MotionGenerator.random(config, seed=0, text_encoder=HashTextEncoder(config.text.dim))


def timeline(minutes, segment_seconds=5.0):
    count = int(round(minutes * 60 / segment_seconds))
    return [(PROMPTS[i % len(PROMPTS)], segment_seconds) for i in range(count)]


def _timed(gen, args, minutes, seed, windows=None, sampler=None, steps=None):
    """One timeline of `minutes`, wall time in seconds; windows / sampler / steps override the run's settings."""
    gen.timeline_windows = windows or args.windows
    if args.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    motion = gen.generate_sequence(timeline(minutes), seed=seed, steps=steps or args.steps, device=args.device,
                                   sampler=sampler or args.sampler)
    if args.device == "cuda":
        torch.cuda.synchronize()
    gen.timeline_windows = args.windows
    return time.perf_counter() - start, motion


def _setting(mode):
    """--compare entry -> (label, keyword overrides for _timed)."""
    if mode in ("parallel", "sequential"):
        return f"windows {mode}", {"windows": mode}
    sampler, _, steps = mode.partition(":")
    if sampler not in ("ddim", "dpmpp_2m") or not steps.isdigit():
        raise SystemExit(f"--compare takes parallel, sequential or SAMPLER:STEPS (e.g. dpmpp_2m:10), got {mode!r}")
    return f"{sampler} {steps} steps", {"sampler": sampler, "steps": int(steps)}


def time_lengths(gen, args):
    """Median wall times per length; with --compare, the longest length also under each other setting, every repeat
    running all settings one after another (the shared machine's load then falls on all alike)."""
    rows, compared = [], {}
    gen.generate_sequence(timeline(0.25), seed=0, steps=args.steps, device=args.device)  # warm-up
    settings = [_setting(m) for m in args.compare]
    for minutes in args.minutes:
        times, motion = [], None
        extra = {label: [] for label, _ in settings} if minutes == args.minutes[-1] else {}
        for repeat in range(args.repeats):
            elapsed, motion = _timed(gen, args, minutes, repeat)
            times.append(elapsed)
            for label, overrides in settings if extra else ():
                extra[label].append(_timed(gen, args, minutes, repeat, **overrides)[0])
        median = float(np.median(times))
        rows.append({"minutes": minutes, "frames": motion.frames, "windows": motion.info["windows"],
                     "median_s": round(median, 3), "s_per_minute": round(median / minutes, 3),
                     "times_s": [round(t, 3) for t in times]})
        for label, values in extra.items():
            compared[label] = {"minutes": minutes, "median_s": round(float(np.median(values)), 3),
                               "times_s": [round(t, 3) for t in values]}
    per_minute = [r["s_per_minute"] for r in rows]
    return rows, round(per_minute[-1] / per_minute[0], 3), compared


def graphs_against_eager(gen, args, minutes=1.0):
    """On CUDA: one timeline with the per-window CUDA graphs and eagerly; times and the largest joint difference."""
    out = {}
    for name, graphs in (("eager", False), ("graphs", True)):
        gen.use_cuda_graphs = graphs
        gen.generate_sequence(timeline(minutes), seed=0, steps=args.steps, device=args.device)  # capture / warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        motion = gen.generate_sequence(timeline(minutes), seed=0, steps=args.steps, device=args.device)
        out[name] = (time.perf_counter() - start, motion.joints)
    gen.use_cuda_graphs = True
    return {"minutes": minutes, "eager_s": round(out["eager"][0], 3), "graphs_s": round(out["graphs"][0], 3),
            "max_joint_difference_m": float(np.abs(out["eager"][1] - out["graphs"][1]).max())}


def seams(gen, args):
    segments = [(p, s) for p, s in zip(PROMPTS, (4.0, 3.0, 5.5, 4.0))]
    ours, pasted = [], []
    for seed in range(args.seeds):
        motion = gen.generate_sequence(segments, seed=seed, steps=args.steps, device=args.device)
        ours.append(seam_smoothness(motion.joints[0], [s[1] for s in motion.segments[1:]], gen.config.fps)["ratio"])
        parts = [gen.generate(p, s, seed=seed, steps=args.steps, device=args.device).joints[0] for p, s in segments]
        cuts = np.cumsum([len(p) for p in parts])[:-1]
        pasted.append(seam_smoothness(np.concatenate(parts), cuts, gen.config.fps)["ratio"])
    return {"ratios": [round(r, 3) for r in ours], "median": round(float(np.median(ours)), 3),
            "passing": int(sum(r <= 1.2 for r in ours)), "pasted_ratios": [round(r, 3) for r in pasted],
            "pasted_median": round(float(np.median(pasted)), 3)}


def edits(gen, args):
    walk = np.asarray(generate_clip("walk", np.random.default_rng(7))[0], np.float64)
    errors_cm, velocity = [], []
    for seed in range(args.seeds):
        first = 10 + 7 * seed
        last = first + 40 + 5 * seed
        motion = gen.edit_span(walk, first, last, PROMPTS[seed % len(PROMPTS)], seed=seed, steps=args.steps,
                               device=args.device)
        joints = motion.joints[0].astype(np.float64)
        errors_cm.append(100 * max(np.abs(joints[f] - walk[f]).max() for f in (first, last)))
        inside = np.abs(np.diff(joints[first:last + 1], n=2, axis=0)).max()
        jumps = [np.abs(joints[f + 1] - 2 * joints[f] + joints[f - 1]).max() for f in (first, last)]
        velocity.append(max(jumps) / inside)
    return {"boundary_error_cm_max": round(float(max(errors_cm)), 5),
            "velocity_change_over_inside_max": round(float(max(velocity)), 3)}


def actions(gen, args):
    """Share of segments whose action shows in the take, and of the same prompts generated alone, over
    --action-seeds (default --seeds)."""
    in_take, alone, checked = 0, 0, 0
    for seed in range(args.seeds if args.action_seeds is None else args.action_seeds):
        take = gen.generate_sequence(list(ACTION_TIMELINE), seed=seed, steps=args.steps, device=args.device)
        for prompt, first, end in take.segments:
            expectation = expectation_for(prompt)
            if not expectation:
                continue
            single = gen.generate(prompt, (end - first) / gen.config.fps, seed=seed, steps=args.steps,
                                  device=args.device)
            checked += 1
            in_take += bool(check_motion(take.joints[0, first:end], expectation, fps=gen.config.fps))
            alone += bool(check_motion(single.joints[0], expectation, fps=gen.config.fps))
    return {"segments": checked, "in_take_count": in_take, "in_take": round(in_take / max(checked, 1), 3),
            "alone": round(alone / max(checked, 1), 3),
            "in_take_over_alone": round(in_take / alone, 3) if alone else None}


def run(args):
    torch.set_num_threads(torch.get_num_threads())
    gen = load_generator(args)
    gen.sampler, gen.timeline_windows = args.sampler, args.windows  # every measure below samples this way
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    lengths, linear, compared = time_lengths(gen, args)
    result = {
        "benchmark": "timeline", "model": args.weights or f"random {args.model}", "config": gen.config.name,
        "device": args.device, "machine": torch.cuda.get_device_name() if args.device == "cuda" else _cpu_name(),
        "threads": torch.get_num_threads(),
        "loop_threads": gen.cpu_loop_threads, "sampler": args.sampler, "steps": args.steps,
        "windows_mode": args.windows, "cuda_graphs": gen.use_cuda_graphs and args.device == "cuda",
        "lengths": lengths, "linear": linear,
    }
    if compared:
        result["compared"] = compared
    result["seams"] = seams(gen, args)
    result["edits"] = edits(gen, args)
    if args.actions:
        result["actions"] = actions(gen, args)
    result["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0] if load_before is not None
                                   else None}
    result["bench_wall_s"] = round(time.perf_counter() - started, 1)
    if args.device == "cuda":
        result["graphs_against_eager"] = graphs_against_eager(gen, args)
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0

"""`motion-mamba generate "PROMPT" --seconds S --out FILE.bvh|FILE.npz`: text to motion from the command line.

A timeline instead of one prompt: `--timeline shot.json` (`{"segments": [{"prompt": "...", "seconds": 4.0}, ...]}`)
or the inline form `--timeline "a person walks forward:4; a person sits down:3"`, up to 10 minutes in one motion
(`MotionGenerator.generate_sequence`; needs a model with a temporal latent). The .npz then also holds
segment_prompts, segment_starts and segment_ends (frames).

With --variations K > 1, variation 0 goes to FILE and variation k to FILE_k (e.g. walk.bvh, walk_1.bvh, ...).
--json prints one object on stdout (frames, fps, seconds, elapsed_s, device, seed, foot_cleanup, outputs, ...); the
progress bar always goes to stderr. The feet are pinned where the model's contact channels say they are planted
(`motion_core.motion.foot_cleanup`); --no-foot-cleanup keeps the decoded joints as they are.
"""

import json
import sys
import time
from pathlib import Path

from motion_core.errors import MotionError
from motion_core.motion.outputs import check_writable
from motion_core.motion.protocol import (DEFAULT_SAMPLER, FPS, MAX_CANDIDATES, MAX_SECONDS, MAX_VARIATIONS, MIN_SECONDS,
                                         SAMPLERS, validate_candidates)
from motion_core.motion.timeline import read_timeline

HELP = "generate motion from a text prompt"
FORMATS = (".bvh", ".npz")


def add_arguments(parser):
    parser.add_argument("prompt", nargs="?", default=None,
                        help='what the character should do, e.g. "a person walks forward and waves"')
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"duration, {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds ({FPS:g} fps)")
    parser.add_argument("--timeline", default=None,
                        help='instead of PROMPT and --seconds: a timeline .json file ({"segments": [{"prompt": ..., '
                             '"seconds": ...}, ...]}) or "PROMPT:SECONDS; PROMPT:SECONDS", up to 10 minutes')
    parser.add_argument("--seed", type=int, default=None, help="random seed (same seed, same motion); default random")
    parser.add_argument("--steps", type=int, default=None,
                        help="DDIM sampling steps (default: the model's config.json diffusion.steps, 50)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale (default: the model's diffusion.guidance, 7.5; "
                             "0 = unconditional)")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLERS,
                        help="ddim (default, the paper's) or dpmpp_2m (DPM-Solver++(2M), for fewer --steps, e.g. 20)")
    parser.add_argument("--variations", type=int, default=1, help="how many different motions to generate")
    parser.add_argument("--candidates", type=int, default=1,
                        help="takes drawn per variation, the best kept: the one showing the actions the prompt names, "
                             "then the closest to the prompt by the text-motion evaluator (default 1: no choice; "
                             f"up to {MAX_CANDIDATES}; costs candidates x the sampling time on a CPU)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default auto)")
    parser.add_argument("--weights", default=None,
                        help="weights folder (config.json + *.safetensors); default: the installed model")
    parser.add_argument("--out", required=True, help="output file, .bvh or .npz")
    parser.add_argument("--no-foot-cleanup", dest="foot_cleanup", action="store_false",
                        help="keep the decoded joints as they are (default: pin the feet where the model's foot-contact "
                             "channels say they are planted)")
    parser.add_argument("--whole-prompt", dest="split_sequence", action="store_false",
                        help="generate a prompt of actions one after another ('jogs, then waves') in one piece "
                             "(default: one timed segment per action, on temporal-latent models)")
    parser.add_argument("--json", action="store_true", help="print one JSON object describing the result")


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn in place."""

    def __init__(self, stream=None, width=30, label="sampling"):
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.label = width, label
        self.start = time.perf_counter()

    def __call__(self, step, total):
        filled = int(self.width * step / total)
        elapsed = time.perf_counter() - self.start
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {step}/{total} {elapsed:5.1f}s")
        if step >= total:
            self.stream.write("\n")
        self.stream.flush()


def output_paths(out, variations):
    """FILE for variation 0, FILE_k for variation k."""
    out = Path(out)
    return [out] + [out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(1, variations)]


def request_segments(args):
    """The --timeline segments, or None for a one-prompt run; MotionError when the two forms are mixed or missing."""
    if args.timeline is None:
        if args.prompt is None or args.seconds is None:
            raise MotionError("give a PROMPT and --seconds S, or --timeline shot.json")
        return None
    if args.prompt is not None or args.seconds is not None:
        raise MotionError("give either a PROMPT with --seconds or --timeline, not both")
    return read_timeline(args.timeline)


def run(args):
    segments = request_segments(args)
    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise MotionError(f"--out must end in .bvh or .npz, got {out.name!r}")
    # torch (~2 s to import): loaded only once the arguments are checked; `generate --help` never loads it.
    from motion_core.generator import MotionGenerator

    if not 1 <= args.variations <= MAX_VARIATIONS:  # checked here too, to name every output file
        raise MotionError(f"--variations must be between 1 and {MAX_VARIATIONS}, got {args.variations}")
    validate_candidates(args.candidates, args.variations)
    if segments is not None and args.candidates != 1:
        raise MotionError("--candidates works with a PROMPT, not with --timeline")
    for path in output_paths(out, args.variations):  # before any work: an unwritable file fails in a second
        check_writable(path, "--out")

    generator = MotionGenerator.from_pretrained(args.weights)
    # One generation per process: capturing CUDA graphs costs more than it saves (the worker keeps them instead).
    generator.use_cuda_graphs = False
    generator.sampler = args.sampler  # sequences and timelines read it too
    settings = dict(seed=args.seed, steps=args.steps, guidance=args.guidance, variations=args.variations,
                    device=args.device, progress=ProgressBar(), foot_cleanup=args.foot_cleanup)
    if segments is None:
        motion = generator.generate(args.prompt, args.seconds, split_sequence=args.split_sequence,
                                    candidates=args.candidates, **settings)
    else:
        motion = generator.generate_sequence(segments, **settings)
    paths = output_paths(out, motion.variations)
    for k, path in enumerate(paths):
        motion.save(path, variation=k)
    summary = {
        "prompt": motion.prompt, "frames": motion.frames, "fps": motion.fps, "seconds": motion.seconds,
        "seed": motion.seed, "steps": motion.info["steps"], "guidance": motion.info["guidance"],
        "sampler": generator.sampler, "variations": motion.variations,
        "elapsed_s": round(motion.info["elapsed_s"], 4), "device": motion.info["device"],
        "foot_cleanup": motion.info["foot_cleanup"], "candidates": args.candidates,
        "model": generator.describe(), "outputs": [str(p) for p in paths],
    }
    if motion.segments:  # a timeline, or a sequence prompt split into its parts
        summary["segments"] = [{"prompt": p, "start_frame": a, "end_frame": b} for p, a, b in motion.segments]
    if args.json:
        print(json.dumps(summary))
    else:
        for path in paths:
            print(f"wrote {path} ({motion.frames} frames at {motion.fps:g} fps, seed {motion.seed})")
    return 0

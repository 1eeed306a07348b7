"""`motion-mamba evaluate --weights DIR --data DIR [--baseline DIR] [--json]`: metrics table with 95% intervals.

`motion-mamba evaluate --actions [--weights DIR] [--limit N] [--seeds 3] [--out DIR]`: the action prompt suite
instead (does the motion show the action that was typed?), as one JSON object; see motion_core/evaluate_actions.py.
"""

import json
import sys

from tqdm import tqdm

from motion_core.errors import MotionError
from motion_core.evaluate_actions import evaluate_actions, load_suite, pick
from motion_core.motion.protocol import SAMPLERS

HELP = "evaluate a model on a corpus test split, or on the action prompt suite (--actions)"


def add_arguments(parser):
    parser.add_argument("--weights", help="generator folder to evaluate (row motion_mamba; default: the shipped "
                                          "model in motion_core/weights/default)")
    parser.add_argument("--data", help="HumanML3D-layout folder with a test split (not needed with --actions)")
    parser.add_argument("--actions", action="store_true",
                        help="run the action prompt suite: generate each prompt, check that the motion shows the "
                             "asked action (majority of --seeds variations), print pass rates per kind as JSON")
    parser.add_argument("--suite", help="--actions: prompt suite JSON (default motion_core/data/prompt_suite.json)")
    parser.add_argument("--limit", type=int, help="--actions: only N prompts, spread evenly over the suite")
    parser.add_argument("--seeds", type=int, default=3, help="--actions: variations per prompt (default 3)")
    parser.add_argument("--candidates", type=int, default=1,
                        help="--actions: takes drawn per variation, the best kept, as `generate --candidates` does "
                             "(default 1: the model alone; with more, the action check that scores also chooses)")
    parser.add_argument("--no-reference", action="store_true",
                        help="--actions: skip the reference row on procedural clips of the same kinds")
    parser.add_argument("--baseline", help="second generator folder (row baseline), e.g. an MLD run's model/")
    parser.add_argument("--evaluator", help="evaluator folder (default: the one inside --weights)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default test)")
    parser.add_argument("--repeats", type=int, default=20, help="repeats for the 95%% intervals (T2M: 20)")
    parser.add_argument("--mm-texts", type=int, default=100, help="captions for MultiModality (T2M: 100)")
    parser.add_argument("--mm-generations", type=int, default=30,
                        help="generations per MultiModality caption (T2M: 30; below 2 skips MultiModality)")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: each model's config, 50)")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None,
                        help="ddim or dpmpp_2m (DPM-Solver++(2M), meant for 10-20 steps) for every model (default: "
                             "ddim)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale (default: each model's config, 7.5)")
    parser.add_argument("--batch-size", type=int, default=512, help="motions generated per batch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text-cache", help="caption-embedding cache (default DATA/caption_embeddings.safetensors)")
    parser.add_argument("--allow-missing-captions", action="store_true",
                        help="skip test captions the cache lacks when no text encoder is installed")
    parser.add_argument("--max-minutes", type=float,
                        help="start no new repeat after this many minutes (at least 2 repeats run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--out", help="also write the JSON result to this file (e.g. WEIGHTS/metrics.json); with "
                                      "--actions: a folder for results.json and a contact sheet of each failing "
                                      "prompt (default action_eval)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    if args.actions:
        return run_actions(args)
    if not args.data:
        raise MotionError("--data is required: a HumanML3D-layout folder with a test split (or pass --actions to run "
                          "the action prompt suite)")
    # torch (~2 s to import): loaded only once the arguments are checked; `evaluate --help` never loads it.
    from motion_core.evaluate import evaluate, format_table, write_json
    from motion_core.generator import DEFAULT_WEIGHTS_DIR

    for name in ("repeats", "steps", "batch_size", "mm_texts"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise MotionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    weights = args.weights or str(DEFAULT_WEIGHTS_DIR)
    result = evaluate(weights, args.data, baseline=args.baseline, evaluator=args.evaluator, split=args.split,
                      repeats=args.repeats, mm_texts=args.mm_texts, mm_generations=args.mm_generations,
                      steps=args.steps, guidance=args.guidance, batch_size=args.batch_size, device=args.device,
                      seed=args.seed, cache_path=args.text_cache, allow_missing_captions=args.allow_missing_captions,
                      progress=not (args.no_progress or args.json), max_minutes=args.max_minutes,
                      partial_path=args.out, sampler=args.sampler)
    if args.out:
        write_json(result, args.out)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
        protocol = result["protocol"]
        print(f"{protocol['split']} split of {protocol['data']}: {protocol['clips']} clips, {protocol['repeats']} "
              f"repeats, {protocol['ddim_steps']} {protocol['sampler'] or 'sampler'} steps, guidance {protocol['guidance']}; "
              f"{result['elapsed_s']} s on {protocol['device']}")
    return 0


def run_actions(args):
    """The action prompt suite on one generator; prints one JSON object."""
    from motion_core.generator import MotionGenerator  # torch (~2 s): only when the suite runs, as above

    if args.steps is not None and args.steps < 1:
        raise MotionError(f"--steps must be at least 1, got {args.steps}")
    rows = pick(load_suite(args.suite), args.limit)
    generator = MotionGenerator.from_pretrained(args.weights)
    if args.sampler:
        generator.sampler = args.sampler
    progress = None
    if not args.no_progress:
        bar = tqdm(total=len(rows), desc="actions", unit="prompt", file=sys.stderr, dynamic_ncols=True)

        def progress(done, total, prompt):
            bar.update(1)
    result = evaluate_actions(generator, rows, seeds=args.seeds, device=args.device, out=args.out or "action_eval",
                              steps=args.steps, guidance=args.guidance, reference=not args.no_reference,
                              progress=progress, seed=args.seed, candidates=args.candidates)
    if progress is not None:
        bar.close()
    print(json.dumps(result))
    return 0

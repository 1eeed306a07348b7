"""`motion-mamba evaluate --weights DIR --data DIR [--baseline DIR] [--json]`: metrics table with 95% intervals."""

import json

HELP = "evaluate a model on a corpus test split"


def add_arguments(parser):
    parser.add_argument("--weights", help="generator folder to evaluate (row motion_mamba; default: the shipped "
                                          "model in motion_core/weights/default)")
    parser.add_argument("--data", required=True, help="HumanML3D-layout folder with a test split")
    parser.add_argument("--baseline", help="second generator folder (row baseline), e.g. an MLD run's model/")
    parser.add_argument("--evaluator", help="evaluator folder (default: the one inside --weights)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default test)")
    parser.add_argument("--repeats", type=int, default=20, help="repeats for the 95%% intervals (T2M: 20)")
    parser.add_argument("--mm-texts", type=int, default=100, help="captions for MultiModality (T2M: 100)")
    parser.add_argument("--mm-generations", type=int, default=30,
                        help="generations per MultiModality caption (T2M: 30; below 2 skips MultiModality)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--batch-size", type=int, default=512, help="motions generated per batch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text-cache", help="caption-embedding cache (default DATA/caption_embeddings.safetensors)")
    parser.add_argument("--allow-missing-captions", action="store_true",
                        help="skip test captions the cache lacks when no text encoder is installed")
    parser.add_argument("--max-minutes", type=float,
                        help="start no new repeat after this many minutes (at least 2 repeats run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--out", help="also write the JSON result to this file (e.g. WEIGHTS/metrics.json)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from motion_core.errors import MotionError
    from motion_core.evaluate import evaluate, format_table, write_json
    from motion_core.generator import DEFAULT_WEIGHTS_DIR

    for name in ("repeats", "steps", "batch_size", "mm_texts"):
        if getattr(args, name) < 1:
            raise MotionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    weights = args.weights or str(DEFAULT_WEIGHTS_DIR)
    result = evaluate(weights, args.data, baseline=args.baseline, evaluator=args.evaluator, split=args.split,
                      repeats=args.repeats, mm_texts=args.mm_texts, mm_generations=args.mm_generations,
                      steps=args.steps, guidance=args.guidance, batch_size=args.batch_size, device=args.device,
                      seed=args.seed, cache_path=args.text_cache, allow_missing_captions=args.allow_missing_captions,
                      progress=not (args.no_progress or args.json), max_minutes=args.max_minutes,
                      partial_path=args.out)
    if args.out:
        write_json(result, args.out)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
        protocol = result["protocol"]
        print(f"{protocol['split']} split of {protocol['data']}: {protocol['clips']} clips, {protocol['repeats']} "
              f"repeats, {protocol['ddim_steps']} DDIM steps, guidance {protocol['guidance']}; "
              f"{result['elapsed_s']} s on {protocol['device']}")
    return 0

"""`motion-mamba train {vae,denoiser,baseline,evaluator} --data DIR --out RUN [...]`: train one model.

Multi-GPU: `torchrun --nproc_per_node=K -m motion_core train ...` (the batch is split over the K processes).
"""

import json
from pathlib import Path

from motion_core.errors import MotionError
from motion_core.train import KINDS, TrainConfig, train

HELP = "train the VAE, denoiser, baseline or evaluator"


def add_arguments(parser):
    parser.add_argument("kind", choices=KINDS, help="which model to train")
    parser.add_argument("--data", required=True, help="HumanML3D-layout folder (motion-mamba corpus build writes one)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, loss log and curve, model/")
    parser.add_argument("--config", help="JSON file of training settings (TrainConfig fields; 'model' overrides "
                                         "the model config)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--steps", type=int, help="total training steps of the run")
    parser.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    parser.add_argument("--batch-size", type=int, help="global batch size (split over DDP processes)")
    parser.add_argument("--lr", type=float, help="AdamW learning rate")
    parser.add_argument("--seed", type=int, help="random seed of the run")
    parser.add_argument("--vae", help="trained VAE (run folder or model folder); needed for denoiser and baseline")
    parser.add_argument("--init", help="start a fresh run from these weights (a .safetensors file of the same "
                        "model, or a model folder such as a shipped model's, whose vae or denoiser files are used): "
                        "warm start")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    parser.add_argument("--text-cache", help="caption-embedding cache file (default: DATA/caption_embeddings"
                                             ".safetensors, built on first use)")
    parser.add_argument("--allow-missing-captions", action="store_true",
                        help="train without captions the cache lacks when no text encoder is installed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_config_file(path):
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise MotionError(f"config file {path} not found") from None
    except json.JSONDecodeError as error:
        raise MotionError(f"config file {path} is not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise MotionError(f"config file {path} must hold a JSON object of training settings")
    return TrainConfig.from_dict(values)


def run(args):
    for flag in ("steps", "minutes", "batch_size", "lr"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise MotionError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    config = None
    if not args.resume:
        config = load_config_file(args.config) if args.config else TrainConfig()
        for flag in ("batch_size", "lr", "seed"):
            if getattr(args, flag) is not None:
                setattr(config, flag, getattr(args, flag))
    elif args.config or args.batch_size or args.lr or args.seed is not None or args.init:
        raise MotionError("a resumed run keeps its settings; only --steps and --minutes may change with --resume")
    summary = train(args.kind, args.data, args.out, config, resume=args.resume, vae=args.vae, device=args.device,
                    init=args.init,
                    steps=args.steps, minutes=args.minutes, cache_path=args.text_cache,
                    progress=not args.no_progress,
                    allow_missing_captions=args.allow_missing_captions)
    if summary.get("last") is not None:
        last = summary["last"]
        losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "lr", "elapsed_s"))
        print(f"{args.kind}: step {summary['step']}/{summary['target_steps']} in {summary['minutes']} min; {losses}")
        print(f"model: {Path(args.out) / 'model'}  loss curve: {Path(args.out) / 'loss.png'}")
    return 0

"""`motion-mamba corpus {build,pack-cmu}`: build the training corpus; pack CMU trials for machines without the data."""

import json
import os
import sys
import time
from pathlib import Path

from motion_core.data.cmu_corpus import import_trials, save_pack
from motion_core.data.corpus import build_corpus
from motion_core.errors import MotionError

HELP = "build the training corpus (HumanML3D folder layout)"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CMU = REPO_ROOT.parent / "shared" / "data" / "cmu"
DEFAULT_PACK = REPO_ROOT / ".gpu" / "cmu_joints.npz"  # what pack-cmu writes for the GPU machine


def default_cmu_folder():
    """The project's CMU sample beside the checkout (MOTION_CORE_SHARED_DATA overrides), or None."""
    configured = os.environ.get("MOTION_CORE_SHARED_DATA")
    folder = Path(configured) / "cmu" if configured else DEFAULT_CMU
    return folder if folder.is_dir() else None


def default_cmu():
    """The CMU sample folder, else a pack in .gpu/ (GPU machine), else None."""
    return default_cmu_folder() or (DEFAULT_PACK if DEFAULT_PACK.is_file() else None)


def add_arguments(parser):
    sub = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build a corpus folder", description="Build the training corpus: CMU clips "
                           "(augmented, mirrored) + procedural motion, in the HumanML3D folder layout.")
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--hours", type=float, default=4.0,
                       help="hours of procedural motion before mirroring (default 4; 0 = CMU only)")
    build.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    build.add_argument("--cmu", default=None,
                       help="CMU folder or a pack .npz from pack-cmu (default: ../shared/data/cmu, else .gpu/cmu_joints.npz)")
    build.add_argument("--no-cmu", action="store_true", help="procedural motion only")
    build.add_argument("--kinds", default=None, help="comma-separated procedural action kinds (default: all)")
    build.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    build.add_argument("--overwrite", action="store_true", help="rebuild into a non-empty --out folder")
    build.set_defaults(_corpus_run=run_build)

    pack = sub.add_parser("pack-cmu", help="pack imported CMU trials into one .npz",
                          description="Import every CMU trial once (20 fps joints) and write them with their "
                          "descriptions to one compact .npz that `corpus build --cmu` accepts.")
    pack.add_argument("--out", required=True, help="output .npz, e.g. .gpu/cmu_joints.npz")
    pack.add_argument("--cmu", default=None, help="CMU folder (default: ../shared/data/cmu)")
    pack.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    pack.set_defaults(_corpus_run=run_pack)


class ProgressBar:
    """Progress on stderr: a bar redrawn in place on a terminal, a plain line per 10% in logs (no carriage returns)."""

    def __init__(self, stream=None, width=30):
        self.stream, self.width = stream or sys.stderr, width  # looked up now: sys.stderr may have been replaced
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_tenth = -1
        self.stage = None

    def __call__(self, stage, done, total):
        now = time.perf_counter()
        fraction = min(1.0, done / total) if total else 1.0
        if stage != self.stage:
            if self.stage is not None and self.interactive:
                self.stream.write("\n")
            self.stage, self.last_tenth, self.last_draw = stage, -1, 0.0
        amount = f"{done:.2f}/{total:g} h" if isinstance(done, float) else f"{done}/{total}"
        elapsed = f"{now - self.started:6.1f}s"
        if self.interactive:
            if fraction < 1.0 and now - self.last_draw < 0.1:
                return
            filled = int(round(fraction * self.width))
            self.stream.write(f"\r{stage:<11} [{'#' * filled}{'.' * (self.width - filled)}] {amount} {elapsed}")
        else:
            tenth = int(fraction * 10)
            if tenth == self.last_tenth:
                return
            self.last_tenth = tenth
            self.stream.write(f"{stage:<11} {100 * fraction:3.0f}% {amount} {elapsed}\n")
        self.last_draw = now
        self.stream.flush()

    def close(self):
        if self.stage is not None and self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def format_stats(stats):
    """A short human-readable summary of stats.json."""
    lines = [f"corpus: {stats['hours']:.2f} h, {stats['clips']} clips (mirrors included), "
             f"{stats['captions']} caption lines, {stats['action_kinds']} action kinds, "
             f"built in {stats['build_seconds']:.1f} s"]
    for name, origin in stats["by_origin"].items():
        lines.append(f"  {name:<11} {origin['hours']:8.2f} h {origin['clips']:7d} clips {origin['sources']:6d} sources")
    for name, split in stats["by_split"].items():
        lines.append(f"  {name:<11} {split['hours']:8.2f} h {split['clips']:7d} clips {split['sources']:6d} sources")
    lines.append(f"  {'kind':<24} {'clips':>6} {'hours':>7} {'captions':>9} {'unique':>7}")
    for name, kind in stats["kinds"].items():
        lines.append(f"  {name:<24} {kind['clips']:6d} {kind['hours']:7.3f} {kind['captions']:9d} "
                     f"{kind['unique_captions']:7d}")
    return "\n".join(lines)


def run_build(args):
    cmu = None if args.no_cmu else (args.cmu or default_cmu())
    if args.workers < 1:
        raise MotionError(f"--workers must be at least 1, got {args.workers}")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    if cmu is None and not args.no_cmu:
        print("note: no CMU source found (../shared/data/cmu or .gpu/cmu_joints.npz); procedural motion only",
              file=sys.stderr)
    bar = ProgressBar()
    try:
        stats = build_corpus(args.out, hours=args.hours, seed=args.seed, cmu=cmu, workers=args.workers, kinds=kinds,
                             overwrite=args.overwrite, progress=bar)
    finally:
        bar.close()
    print(format_stats(stats))
    print(f"wrote {Path(args.out) / 'stats.json'}")
    return 0


def run_pack(args):
    cmu = Path(args.cmu) if args.cmu else default_cmu_folder()
    if cmu is None:
        raise MotionError("no CMU folder found; pass --cmu with the folder that holds bvh-*/ and descriptions.csv")
    bar = ProgressBar()
    try:
        trials, skipped = import_trials(cmu, workers=args.workers, progress=lambda d, t: bar("cmu import", d, t))
    finally:
        bar.close()
    if not trials:
        raise MotionError(f"no CMU trial under {cmu} could be imported ({len(skipped)} failed)")
    path = save_pack(trials, args.out)
    frames = sum(len(t.joints) for t in trials)
    print(json.dumps({"out": str(path), "bytes": path.stat().st_size, "trials": len(trials),
                      "minutes": round(frames / 20.0 / 60.0, 2), "skipped": skipped}, indent=2))
    return 0


def run(args):
    return args._corpus_run(args)

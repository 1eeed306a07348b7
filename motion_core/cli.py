"""`motion-mamba` command line: a table of commands, each in its own module under motion_core.commands.

Command modules are imported only when their command runs, so `motion-mamba import` works without torch.
User errors (MotionError) print one line on stderr and exit 2, without a traceback.
"""

import argparse
import importlib
import sys

from motion_core.errors import MotionError

# command name -> (module, one-line help)
COMMANDS = {
    "import": ("motion_core.commands.import_mocap", "import a BVH or ASF/AMC file onto the 22-joint skeleton"),
    "preview": ("motion_core.commands.preview", "draw a contact sheet PNG of a motion file"),
    "generate": ("motion_core.commands.generate", "generate motion from a text prompt"),
    "worker": ("motion_core.commands.worker", "serve generation requests as JSON lines over stdin/stdout"),
    "bench": ("motion_core.commands.bench", "benchmarks (scan, generate) printing one JSON object"),
    "corpus": ("motion_core.commands.corpus", "build the training corpus (HumanML3D folder layout)"),
    "train": ("motion_core.commands.train", "train the VAE, denoiser, baseline or evaluator"),
    "evaluate": ("motion_core.commands.evaluate", "evaluate a model on a corpus test split or the action prompts"),
}


def build_parser(argv):
    parser = argparse.ArgumentParser(prog="motion-mamba", description="Text-to-motion with Motion Mamba.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen command's module is imported; the others are listed by their help line.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_line) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._run(args) or 0)
    except MotionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130

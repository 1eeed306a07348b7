"""`motion-mamba worker`: serve generation requests as JSON lines over stdin/stdout (protocol: motion_core.worker)."""

import math

from motion_core.errors import MotionError
from motion_core.worker import serve

HELP = "serve generation requests as JSON lines over stdin/stdout"


def add_arguments(parser):
    parser.add_argument("--weights", default=None,
                        help="load this weights folder at start (otherwise wait for a 'load' request)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device for a load given by --weights")
    parser.add_argument("--heartbeat", type=float, default=None, metavar="SECONDS",
                        help="send a heartbeat event every SECONDS, so a client can tell busy from hung")


def run(args):
    if args.heartbeat is not None and not (math.isfinite(args.heartbeat) and 0.05 <= args.heartbeat <= 3600):
        raise MotionError(f"--heartbeat must be between 0.05 and 3600 seconds, got {args.heartbeat:g}")
    return serve(preload=(args.weights, args.device) if args.weights else None, heartbeat=args.heartbeat)

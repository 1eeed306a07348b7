"""`motion-mamba worker`: serve generation requests as JSON lines over stdin/stdout (protocol: motion_core.worker)."""

HELP = "serve generation requests as JSON lines over stdin/stdout"


def add_arguments(parser):
    parser.add_argument("--weights", default=None,
                        help="load this weights folder at start (otherwise wait for a 'load' request)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device for a load given by --weights")


def run(args):
    from motion_core.worker import serve

    return serve(preload=(args.weights, args.device) if args.weights else None)

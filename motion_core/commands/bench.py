"""`motion-mamba bench {scan,generate,feet,timeline}`: benchmarks printing one JSON object (medians, machine named)."""

import importlib

HELP = "benchmarks (scan, generate, feet, timeline) printing one JSON object"

# benchmark name -> module providing add_arguments(parser) and run(args)
BENCHMARKS = {
    "scan": "motion_core.ssm.bench_scan",
    "generate": "motion_core.bench_generate",
    "feet": "motion_core.bench_foot_cleanup",
    "timeline": "motion_core.bench_timeline",
}


def add_arguments(parser):
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_bench_run=module.run)


def run(args):
    return args._bench_run(args)

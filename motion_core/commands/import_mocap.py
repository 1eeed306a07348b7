"""`motion-mamba import FILE`: import a BVH or ASF/AMC file onto the 22-joint skeleton and report (or save) it."""

import json
from pathlib import Path

HELP = "import a BVH or ASF/AMC file onto the 22-joint skeleton"


def add_arguments(parser):
    parser.add_argument("file", help="mocap file: .bvh, or .amc (with --asf, or an .asf found beside it)")
    parser.add_argument("--asf", help="ASF skeleton for an .amc file")
    parser.add_argument("--map", dest="bone_map", metavar="MAP.json",
                        help='bone map for unknown skeletons: {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...}')
    parser.add_argument("--out", help="write the imported motion to OUT.bvh or OUT.npz")
    parser.add_argument("--fps", type=float, default=20.0, help="output frame rate (default 20, HumanML3D)")
    parser.add_argument("--units", help="force the BVH length unit: m, dm, cm, mm, inch or cmu (default: detect)")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")


def run(args) -> int:
    # Imported here so `motion-mamba --help` stays fast.
    from motion_core.motion.export import save_motion
    from motion_core.motion.mocap import import_motion
    from motion_core.motion.outputs import check_writable

    if args.out:
        check_writable(args.out, "--out")
    motion = import_motion(args.file, asf=args.asf, bone_map=args.bone_map, fps=args.fps, units=args.units)
    report = {
        "source": str(Path(args.file)),
        "convention": motion.convention,
        "frames": motion.frames,
        "fps": motion.fps,
        "seconds": round(motion.seconds, 4),
        "joints": int(motion.joints.shape[1]),
        "source_fps": round(motion.source_fps, 4),
        "source_frames": motion.source_frames,
        "dropped_frames": motion.dropped_frames,
        "units": motion.units,
        "up_axis": motion.up_axis,
        "height_m": round(float(motion.joints[0, 15, 1]), 3),
    }
    if args.out:
        save_motion(args.out, motion.joints, motion.fps)
        report["out"] = str(args.out)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['source']}: {report['convention']}, {report['frames']} frames at {report['fps']:g} fps "
            f"({report['seconds']:.2f} s) from {report['source_frames']} at {report['source_fps']:g} fps, "
            f"units {report['units']}, up {report['up_axis']}, dropped {report['dropped_frames']} converter frames"
            + (f"; wrote {report['out']}" if args.out else "")
        )
    return 0

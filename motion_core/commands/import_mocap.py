"""`motion-mamba import FILE`: import a BVH or ASF/AMC file onto the 22-joint skeleton and report (or save) it."""

import json
import sys
from pathlib import Path

from motion_core.errors import MotionError
from motion_core.motion.bone_maps import DIRECT_JOINTS, suggest_map
from motion_core.motion.export import save_motion
from motion_core.motion.mocap import import_motion, read_source

HELP = "import a BVH or ASF/AMC file onto the 22-joint skeleton"


def add_arguments(parser):
    parser.add_argument("file", help="mocap file: .bvh, or .amc (with --asf, or an .asf found beside it)")
    parser.add_argument("--asf", help="ASF skeleton for an .amc file")
    parser.add_argument("--map", dest="bone_map", metavar="MAP.json",
                        help='bone map for unknown skeletons: {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...}')
    parser.add_argument("--suggest-map", metavar="MAP.json",
                        help="write a starter bone map for this file's skeleton (confident matches filled, the rest "
                             "null) and stop")
    parser.add_argument("--out", help="write the imported motion to OUT.bvh or OUT.npz")
    parser.add_argument("--fps", type=float, default=20.0, help="output frame rate (default 20, HumanML3D)")
    parser.add_argument("--units", help="force the length unit: m, dm, cm, mm, inch or cmu (default: detect for BVH, "
                                        "the ASF's own :units for ASF/AMC)")
    parser.add_argument("--scale", type=float, metavar="FACTOR",
                        help="metres per file unit, for files in no standard unit (instead of --units)")
    parser.add_argument("--up", default="auto",
                        help="the file's up axis: auto (default), +X, -X, +Y, -Y, +Z or -Z")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")


def run(args) -> int:
    if args.suggest_map:
        return _suggest_map(args)

    motion = import_motion(
        args.file, asf=args.asf, bone_map=args.bone_map, fps=args.fps, units=args.units, scale=args.scale, up=args.up
    )
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
        "scale": round(motion.scale, 8),
        "height_m": round(motion.height_m, 3),
        "up_axis": motion.up_axis,
        "up_method": motion.up_method,
        "up_evidence": motion.up_evidence,
        "warnings": motion.warnings,
    }
    if motion.asf:
        report["asf"] = motion.asf
    if args.out:
        save_motion(args.out, motion.joints, motion.fps)
        report["out"] = str(args.out)
    for warning in motion.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['source']}: {report['convention']}, {report['frames']} frames at {report['fps']:g} fps "
            f"({report['seconds']:.2f} s) from {report['source_frames']} at {report['source_fps']:g} fps, "
            f"units {report['units']} ({report['height_m']:.2f} m tall), up {report['up_axis']} "
            f"({report['up_method']}), dropped {report['dropped_frames']} converter frames"
            + (f"; wrote {report['out']}" if args.out else "")
        )
    return 0


def _suggest_map(args) -> int:
    out = Path(args.suggest_map)
    if out.suffix.lower() != ".json":
        raise MotionError(f"--suggest-map writes JSON; name it MAP.json, not {out.name}")
    if out.exists():
        raise MotionError(f"{out} exists; pass another name or delete it (a starter never overwrites a map)")
    source = read_source(args.file, args.asf)
    mapping, notes = suggest_map(source.names, source.parents)
    todo = [j for j in DIRECT_JOINTS if mapping.get(j) is None]
    starter = {
        "_about": (
            f"starter bone map for {Path(args.file).name}: keys are our joints, values this file's bones (End Sites "
            "are named <parent bone>_end). Replace each null with a bone from _bones. pelvis, spine1-3 and the "
            "collars are derived when left out (add them only to override). Keys starting with _ are ignored. "
            f"Use it with --map {out.name}."
        ),
        **mapping,
    }
    if notes:
        starter["_candidates"] = notes
    starter["_bones"] = [n for n in dict.fromkeys(source.names)]
    try:
        out.write_text(json.dumps(starter, indent=2) + "\n")
    except OSError as error:
        raise MotionError(f"cannot write {out}: {error.strerror}") from None
    matched = len(DIRECT_JOINTS) - len(todo)
    report = {"out": str(out), "matched": matched, "required": len(DIRECT_JOINTS), "to_fill": todo}
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"wrote {out}: {matched} of {len(DIRECT_JOINTS)} required joints matched"
            + (f"; fill in {', '.join(todo)}" if todo else f"; check it, then import with --map {out}")
        )
    return 0

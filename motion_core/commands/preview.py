"""`motion-mamba preview FILE --out sheet.png`: a contact sheet of stick figures (side and top views)."""

from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.features import features_to_joints
from motion_core.motion.mocap import import_motion
from motion_core.motion.outputs import atomic_output, check_writable
from motion_core.motion.preview import contact_sheet
from motion_core.motion.protocol import FPS, load_result

HELP = "draw a contact sheet PNG of a motion file"


def add_arguments(parser):
    parser.add_argument("file", help=".bvh, .amc (with --asf), our .npz, or a HumanML3D new_joints/new_joint_vecs .npy")
    parser.add_argument("--out", help="output PNG (default: FILE with .png)")
    parser.add_argument("--asf", help="ASF skeleton for an .amc file")
    parser.add_argument("--map", dest="bone_map", metavar="MAP.json", help="bone map for unknown skeletons")
    parser.add_argument("--columns", type=int, default=8, help="frames per row (default 8)")
    parser.add_argument("--title", default=None, help="title (default: the file name)")


def load_joints(path, asf=None, bone_map=None):
    """(joints (T, 22, 3) or (V, T, 22, 3), fps) from any file the preview accepts."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".bvh", ".amc"):
        motion = import_motion(path, asf=asf, bone_map=bone_map)
        return motion.joints, motion.fps
    if not path.is_file():
        raise MotionError(f"file not found: {path}")
    try:
        if suffix == ".npz":  # a result or an exported motion
            motion = load_result(path, "the preview")
            joints = motion.joints.astype(np.float64)
            joints, fps = (joints[0] if len(joints) == 1 else joints), motion.fps
        elif suffix == ".npy":
            joints = np.load(path, allow_pickle=False).astype(np.float64)
            fps = FPS  # HumanML3D files are 20 fps
            if joints.ndim == 2 and joints.shape[1] == 263:
                joints = features_to_joints(joints)
        else:
            raise MotionError(f"cannot preview {suffix or 'a file without extension'}: use .bvh, .amc, .npz or .npy")
    except (OSError, ValueError) as error:
        raise MotionError(f"cannot read {path.name}: {error}") from None
    if joints.ndim not in (3, 4) or joints.shape[-2:] != (22, 3) or joints.shape[-3] < 1:
        raise MotionError(f"{path.name}: expected joints (T, 22, 3) or (V, T, 22, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise MotionError(f"{path.name}: joints hold numbers that are not finite (NaN/inf); the file is damaged")
    if not (0 < fps <= 1000):  # also NaN
        raise MotionError(f"{path.name}: fps must be between 0 and 1000, got {fps:g}")
    return joints, fps


IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def run(args) -> int:

    out = Path(args.out) if args.out else Path(args.file).with_suffix(".png")
    if out.suffix.lower() not in IMAGE_FORMATS:
        raise MotionError(f"--out must end in {', '.join(IMAGE_FORMATS)}, got {out.name!r}")
    check_writable(out, "--out")
    joints, fps = load_joints(args.file, asf=args.asf, bone_map=args.bone_map)
    title = args.title if args.title is not None else Path(args.file).name
    with atomic_output(out, "--out") as tmp:
        contact_sheet(joints, tmp, fps=fps, title=title, columns=max(1, args.columns))
    print(out)
    return 0

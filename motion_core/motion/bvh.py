"""BVH files: read any hierarchy (any per-joint channel order, 3 or 6 channels, end sites) and write them.

A BVH file is a joint tree (OFFSET = rest offset from the parent, in the file's own units, CHANNELS = which values
each frame carries for that joint) followed by a MOTION block of one line of numbers per frame.
Rotation channels compose in the order listed (column vectors): `CHANNELS 3 Zrotation Xrotation Yrotation`
means R = Rz @ Rx @ Ry, and a child's world position is parent_pos + R_parent_world @ offset.
Position channels replace the matching offset component (as Blender's importer treats them).

Units are whatever the file uses (cm, inches, metres, CMU's 1/0.45 inch); `motion_core.motion.mocap` detects them.
Malformed input raises MotionError with one line saying what is wrong.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.rotations import euler_to_matrix

_CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
# Frame times outside this range are not mocap (1000 fps .. 1 fps): almost always a corrupt header.
MIN_FRAME_TIME = 1.0 / 1000.0
MAX_FRAME_TIME = 1.0


@dataclass
class BvhData:
    """Everything a BVH file holds. J joints (end sites included, with no channels), F frames, C channels.

    names: J joint names (end sites named `<parent>_end`); parents: (J,) int, -1 for the root(s);
    offsets: (J, 3) rest offsets in file units; channels: J tuples of channel names in file order;
    motion: (F, C) float64, the MOTION block; frame_time: seconds per frame.
    """

    names: list
    parents: np.ndarray
    offsets: np.ndarray
    channels: list
    is_end_site: np.ndarray
    frame_time: float
    motion: np.ndarray
    source: str = ""

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def channel_starts(self) -> np.ndarray:
        """(J,) index of each joint's first column in `motion`."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]])

    def local_transforms(self, joints=None, frames=None):
        """Per-frame local rotation and translation of the joints (all, or the listed indices).

        joints: None or (K,) joint indices; frames: None or (F',) frame indices.
        Returns:
            rotations: (F, K, 3, 3) float64, local rotation (column vectors) of each joint relative to its parent.
            translations: (F, K, 3) float64, local offset of each joint from its parent, in file units
                (OFFSET, with position channels replacing their component).
        """
        joints = np.arange(len(self.names)) if joints is None else np.asarray(joints, dtype=np.int64)
        motion = self.motion if frames is None else self.motion[frames]
        count = motion.shape[0]
        rotations = np.broadcast_to(np.eye(3), (count, len(joints), 3, 3)).copy()
        translations = np.broadcast_to(self.offsets[joints], (count, len(joints), 3)).copy()
        starts = self.channel_starts()
        for out, j in enumerate(joints):
            rot_axes, rot_cols = [], []
            for k, name in enumerate(self.channels[j]):
                column = motion[:, starts[j] + k]
                axis = name[0].upper()
                if name.endswith("position"):
                    translations[:, out, "XYZ".index(axis)] = column
                else:
                    rot_axes.append(axis)
                    rot_cols.append(column)
            if rot_axes:
                rotations[:, out] = axis_rotations_to_matrix(np.stack(rot_cols, axis=-1), "".join(rot_axes))
        return rotations, translations


def axis_rotations_to_matrix(angles_deg, axes: str):
    """Compose 1-3 rotations about coordinate axes in the given order (intrinsic, as BVH/ASF list them).

    angles_deg: (..., n) degrees; axes: n letters, e.g. "ZXY" -> R = Rz @ Rx @ Ry. Returns (..., 3, 3).
    """
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    axes = axes.upper()
    if len(set(axes)) != len(axes):
        raise MotionError(f"repeated rotation axis in channel order {axes!r}; each axis may appear once")
    # Pad to a full Tait-Bryan order with zero angles (identity factors) for the axes the joint does not rotate about.
    missing = [a for a in "XYZ" if a not in axes]
    padded = np.concatenate([angles_deg, np.zeros(angles_deg.shape[:-1] + (len(missing),))], axis=-1)
    return euler_to_matrix(padded, axes + "".join(missing), degrees=True)


def read_bvh(path) -> BvhData:
    """Read a BVH file. Raises MotionError (one line) for empty, truncated or malformed files and absurd frame times."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MotionError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise MotionError(f"{path} is a folder; pass a .bvh file") from None
    except OSError as error:
        raise MotionError(f"cannot read {path}: {error.strerror}") from None
    return parse_bvh(text, source=str(path))


def parse_bvh(text: str, source: str = "<text>") -> BvhData:
    """Parse BVH text (see read_bvh)."""
    name = Path(source).name
    if not text.strip():
        raise MotionError(f"{name} is empty; pass a BVH file with a HIERARCHY and a MOTION block")
    head, sep, tail = text.partition("MOTION")
    if "HIERARCHY" not in head or "ROOT" not in head:
        raise MotionError(f"{name} is not a BVH file (no HIERARCHY/ROOT section)")
    if not sep:
        raise MotionError(f"{name} is truncated: it has no MOTION block")
    names, parents, offsets, channels, is_end = _parse_hierarchy(head, name)
    frames, frame_time, motion_text = _parse_motion_header(tail, name)
    n_channels = sum(len(c) for c in channels)
    if n_channels == 0:
        raise MotionError(f"{name} has no CHANNELS; it holds no motion")
    # Bulk-parse the numbers (fast on 10 MB files); np.fromstring stops at the first non-number.
    values = _parse_numbers(motion_text)
    if values.size < frames * n_channels:
        raise MotionError(
            f"{name} is truncated or malformed: header says {frames} frames x {n_channels} channels, "
            f"found {values.size} numbers"
        )
    motion = values[: frames * n_channels].reshape(frames, n_channels)
    if not np.all(np.isfinite(motion)):
        raise MotionError(f"{name} has non-finite numbers (nan/inf) in its MOTION block")
    return BvhData(
        names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.float64).reshape(-1, 3),
        channels=channels,
        is_end_site=np.asarray(is_end, dtype=bool),
        frame_time=frame_time,
        motion=motion,
        source=source,
    )


def _parse_numbers(text: str) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        # numpy warns (DeprecationWarning) when the string does not parse to its end; we check the count instead.
        warnings.simplefilter("ignore")
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    return values


def _parse_hierarchy(head: str, name: str):
    names, parents, offsets, channels, is_end = [], [], [], [], []
    stack = []  # indices of open joints
    pending = None  # joint declared, waiting for its "{"
    try:
        for raw in head.splitlines():
            line = raw.strip()
            if not line:
                continue
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            upper = keyword.upper()
            if upper in ("HIERARCHY",):
                continue
            if upper in ("ROOT", "JOINT"):
                if not rest:
                    raise MotionError(f"{name}: a {keyword} has no name")
                names.append(rest)
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                is_end.append(False)
                pending = len(names) - 1
            elif upper == "END":
                if not stack:
                    raise MotionError(f"{name}: End Site outside any joint")
                names.append(f"{names[stack[-1]]}_end")
                parents.append(stack[-1])
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                is_end.append(True)
                pending = len(names) - 1
            elif line.startswith("{"):
                if pending is None:
                    raise MotionError(f"{name}: unexpected '{{' in HIERARCHY")
                stack.append(pending)
                pending = None
            elif line.startswith("}"):
                if not stack:
                    raise MotionError(f"{name}: unbalanced '}}' in HIERARCHY")
                stack.pop()
            elif upper == "OFFSET":
                if not stack:
                    raise MotionError(f"{name}: OFFSET outside any joint")
                numbers = [float(v) for v in rest.split()]
                if len(numbers) != 3:
                    raise MotionError(f"{name}: OFFSET of {names[stack[-1]]} needs 3 numbers")
                offsets[stack[-1]] = numbers
            elif upper == "CHANNELS":
                if not stack:
                    raise MotionError(f"{name}: CHANNELS outside any joint")
                parts = rest.split()
                count = int(parts[0])
                chans = tuple(parts[1 : 1 + count])
                if len(chans) != count or any(c not in _CHANNEL_NAMES for c in chans):
                    raise MotionError(f"{name}: bad CHANNELS line for {names[stack[-1]]}: {line!r}")
                channels[stack[-1]] = chans
            else:
                raise MotionError(f"{name}: unexpected line in HIERARCHY: {line[:60]!r}")
    except ValueError:
        raise MotionError(f"{name}: malformed number in HIERARCHY") from None
    if stack or pending is not None:
        raise MotionError(f"{name} is truncated: HIERARCHY braces are not closed")
    if not names:
        raise MotionError(f"{name} has no joints")
    return names, parents, offsets, channels, is_end


def _parse_motion_header(tail: str, name: str):
    """Read `Frames: N` and `Frame Time: t`; return (frames, frame_time, rest of text)."""
    match = re.match(r"\s*Frames\s*:\s*(\S*)[^\S\n]*\r?\n\s*Frame\s+Time\s*:\s*(\S*)[^\n]*", tail, re.IGNORECASE)
    if not match:
        raise MotionError(f"{name}: MOTION block lacks 'Frames:' / 'Frame Time:' lines")
    fields = {"frames": match.group(1), "frame time": match.group(2)}
    consumed = match.end()
    try:
        frames = int(fields["frames"])
        frame_time = float(fields["frame time"])
    except ValueError:
        raise MotionError(f"{name}: bad 'Frames:' or 'Frame Time:' value") from None
    if frames < 1:
        raise MotionError(f"{name} has no frames (Frames: {frames})")
    if not (MIN_FRAME_TIME <= frame_time <= MAX_FRAME_TIME):
        raise MotionError(
            f"{name}: absurd Frame Time {fields['frame time']} s (expected {MIN_FRAME_TIME:g}..{MAX_FRAME_TIME:g} s, "
            "e.g. 0.008333 for 120 fps); fix the file header"
        )
    return frames, frame_time, tail[consumed:]


def format_bvh(names, parents, offsets, channels, motion, frame_time, precision=6) -> str:
    """BVH text for a joint tree in any joint order (the file lists joints depth first; columns follow).

    Args:
        names: J names; parents: (J,) ints, -1 for the root; offsets: (J, 3) rest offsets.
        channels: J tuples of channel names (empty tuple = End Site, which must be a leaf).
        motion: (F, C) values, joint by joint in the order of `names`; frame_time: seconds per frame.
    """
    parents = list(int(p) for p in parents)
    children = {j: [] for j in range(len(names))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    counts = [len(c) for c in channels]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    emitted = []  # joints in file order, to reorder the motion columns
    out = ["HIERARCHY"]

    def emit(j, depth):
        pad = "  " * depth
        fmt = lambda v: f"{v:.{precision}f}"  # noqa: E731
        if not channels[j]:
            out.append(f"{pad}End Site")
        else:
            out.append(f"{pad}{'ROOT' if parents[j] < 0 else 'JOINT'} {names[j]}")
        emitted.append(j)
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {' '.join(fmt(v) for v in offsets[j])}")
        if channels[j]:
            out.append(f"{pad}  CHANNELS {len(channels[j])} {' '.join(channels[j])}")
        for c in children[j]:
            emit(c, depth + 1)
        out.append(f"{pad}}}")

    for root in [j for j, p in enumerate(parents) if p < 0]:
        emit(root, 0)
    motion = np.asarray(motion, dtype=np.float64)
    columns = [c for j in emitted for c in range(starts[j], starts[j] + counts[j])]
    motion = motion[:, columns]
    out.append("MOTION")
    out.append(f"Frames: {motion.shape[0]}")
    out.append(f"Frame Time: {frame_time:.8f}")
    body = "\n".join(" ".join(f"{v:.{precision}f}" for v in row) for row in motion)
    return "\n".join(out) + "\n" + body + "\n"


def write_bvh(path, names, parents, offsets, channels, motion, frame_time, precision=6):
    """Write a BVH file (see format_bvh for the arguments)."""
    Path(path).write_text(format_bvh(names, parents, offsets, channels, motion, frame_time, precision))

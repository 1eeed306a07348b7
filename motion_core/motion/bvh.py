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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.rotations import euler_to_matrix

_CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
# Frame times outside this range are not mocap (1000 fps .. 1 fps): almost always a corrupt header.
MIN_FRAME_TIME = 1.0 / 1000.0
MAX_FRAME_TIME = 1.0
# Largest magnitude of any OFFSET or channel value (file units or degrees): 10 km in millimetres. Larger numbers are
# corrupt data, and squared in forward kinematics they overflow to inf.
MAX_ABS_VALUE = 1e7
NUMBER_CHUNK = 1 << 22  # bytes of the MOTION block parsed at a time (read_bvh)
_MOTION_AT_LINE_START = r"(?:^|[\r\n])[ \t]*MOTION\b"
_MOTION_AT_LINE_START_BYTES = re.compile(_MOTION_AT_LINE_START.encode(), re.IGNORECASE)
_HEADER = re.compile(
    r"\s*Frames\s*:\s*(\S*)[^\S\r\n]*(?:\r\n|\r|\n)\s*Frame\s+Time\s*:\s*(\S*)[^\r\n]*", re.IGNORECASE
)
_HEADER_WINDOW = 4096  # bytes after MOTION searched for the Frames / Frame Time lines
_WHITESPACE_BYTES = re.compile(rb"[ \t\r\n\v\f]")


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
        data = path.read_bytes()
    except FileNotFoundError:
        raise MotionError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise MotionError(f"{path} is a folder; pass a .bvh file") from None
    except OSError as error:
        raise MotionError(f"cannot read {path}: {error.strerror}") from None
    return _parse_bvh_bytes(data, source=str(path))


def _parse_bvh_bytes(data: bytes, source: str) -> BvhData:
    """parse_bvh on the file's bytes, never decoding the MOTION block: its numbers are read in chunks straight into
    one float64 array, so a large file peaks near its size plus that array (a decoded copy and its slices took
    about 4x). Anything unusual before the numbers (no MOTION at a line start, MOTION inside a hierarchy line, an odd
    header) takes the text path, so both give the same result or error."""
    name = Path(source).name
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    motion_at = _MOTION_AT_LINE_START_BYTES.search(data, start)

    def as_text():
        return parse_bvh(data.decode("utf-8", errors="replace"), source)

    if motion_at is None:
        return as_text()
    head = data[start : motion_at.end()].decode("utf-8", errors="replace")
    if head.startswith("\ufeff") or not head.strip():
        return as_text()
    lines = head.splitlines()
    names, parents, offsets, channels, is_end, motion_line = _parse_hierarchy(lines, name)
    window_end = motion_at.end() + _HEADER_WINDOW
    window = data[motion_at.end() : window_end].decode("utf-8", errors="replace")
    header = _HEADER.match("\n" + window)
    # The header must end well inside the window (unless that is the whole file) and be plain ASCII, so that its
    # length in characters is its length in bytes.
    cut_short = window_end < len(data) and header is not None and header.end() > len(window) - 64
    if motion_line != len(lines) or header is None or cut_short or not header.group(0).isascii():
        return as_text()
    frames, frame_time = _motion_header_values(header, name)
    n_channels = sum(len(c) for c in channels)
    if n_channels == 0:
        raise MotionError(f"{name} has no CHANNELS; it holds no motion")
    values = _parse_number_chunks(data, motion_at.end() + header.end() - 1, frames * n_channels)
    return _bvh_data(name, source, names, parents, offsets, channels, is_end, frames, frame_time, values)


def parse_bvh(text: str, source: str = "<text>") -> BvhData:
    """Parse BVH text (see read_bvh).

    Tolerant of what real exporters write: any whitespace between tokens (tabs included), CRLF or CR line ends,
    trailing spaces, a byte-order mark, braces on the keyword's line (`ROOT Hips {`), and keywords and channel names
    in any letter case (`offset`, `XROTATION`). Joint names are the rest of their line, so they may contain spaces.
    """
    name = Path(source).name
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise MotionError(f"{name} is empty; pass a BVH file with a HIERARCHY and a MOTION block")
    # Split only the HIERARCHY into lines: the MOTION block (most of a 10 MB file) is parsed in bulk below.
    motion_at = re.search(_MOTION_AT_LINE_START, text, re.IGNORECASE)
    head, tail = (text[: motion_at.end()], text[motion_at.end() :]) if motion_at else (text, "")
    lines = head.splitlines()  # \n, \r\n and \r alike
    names, parents, offsets, channels, is_end, motion_line = _parse_hierarchy(lines, name)
    # (MOTION inside a line, e.g. after a closing brace, ends the hierarchy earlier: keep what follows it.)
    frames, frame_time, motion_text = _parse_motion_header("\n".join(lines[motion_line:]) + "\n" + tail, name)
    n_channels = sum(len(c) for c in channels)
    if n_channels == 0:
        raise MotionError(f"{name} has no CHANNELS; it holds no motion")
    # Bulk-parse the numbers (fast on 10 MB files); np.fromstring stops at the first non-number.
    values = _parse_numbers(motion_text)
    return _bvh_data(name, source, names, parents, offsets, channels, is_end, frames, frame_time, values)


def _bvh_data(name, source, names, parents, offsets, channels, is_end, frames, frame_time, values) -> BvhData:
    """Check the MOTION numbers against the header and for absurd values; build the BvhData."""
    n_channels = sum(len(c) for c in channels)
    if values.size < frames * n_channels:
        raise MotionError(
            f"{name} is truncated or malformed: header says {frames} frames x {n_channels} channels, "
            f"found {values.size} numbers"
        )
    motion = values[: frames * n_channels].reshape(frames, n_channels)
    if not np.all(np.isfinite(motion)):
        raise MotionError(f"{name} has non-finite numbers (nan/inf) in its MOTION block")
    offsets = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
    for what, values in (("MOTION block", motion), ("OFFSETs", offsets)):
        # max(|max|, |min|): np.abs would copy a large MOTION block
        largest = max(abs(float(values.max())), abs(float(values.min()))) if values.size else 0.0
        if not largest <= MAX_ABS_VALUE:  # finite but absurd: FK would overflow to inf/nan downstream
            raise MotionError(f"{name} has absurd numbers in its {what} (up to {largest:.3g}, expected within "
                              f"+-{MAX_ABS_VALUE:.0e}); the file is corrupt")
    return BvhData(
        names=names,
        parents=np.asarray(parents, dtype=np.int64),
        offsets=offsets,
        channels=channels,
        is_end_site=np.asarray(is_end, dtype=bool),
        frame_time=frame_time,
        motion=motion,
        source=source,
    )


def _parse_number_chunks(data: bytes, start: int, needed: int) -> np.ndarray:
    """The first `needed` numbers of data[start:] (fewer where it ends or stops at a non-number, as _parse_numbers
    would), read NUMBER_CHUNK bytes at a time (cut at whitespace) into one float64 array: no decoded text."""
    # A number takes at least two bytes with its separator, so a header promising more than the file can hold only
    # gets its numbers counted (for the error), not stored.
    store = needed <= (len(data) - start) // 2 + 1
    out = np.empty(needed if store else 0, dtype=np.float64)
    filled, position = 0, start
    while position < len(data) and filled < needed:
        end = position + NUMBER_CHUNK
        if end < len(data):
            gap = _WHITESPACE_BYTES.search(data, end)
            end = gap.start() if gap else len(data)
        chunk = data[position:end].lstrip()  # np.fromstring reads " x" as [-1.0]; see _parse_numbers
        position = end
        if not chunk:
            continue
        with warnings.catch_warnings(record=True) as stopped:  # numpy warns where it stops before the end
            warnings.simplefilter("always")
            values = np.fromstring(chunk, dtype=np.float64, sep=" ")
        take = min(values.size, needed - filled)
        if store:
            out[filled : filled + take] = values[:take]
        filled += take
        if stopped:
            break
    return out[:filled] if store else np.broadcast_to(0.0, (filled,))  # only its size is read


def _parse_numbers(text: str) -> np.ndarray:
    # np.fromstring gives [-1.0] for leading whitespace followed by no number (" x", " "): strip it first.
    text = text.lstrip()
    with warnings.catch_warnings():
        # numpy warns (DeprecationWarning) when the string does not parse to its end; we check the count instead.
        # sep=" " matches any run of whitespace (spaces, tabs, line ends).
        warnings.simplefilter("ignore")
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    return values


_CHANNEL_BY_KEY = {c.lower(): c for c in _CHANNEL_NAMES}


def _tokens(line: str):
    """Whitespace-separated tokens of one HIERARCHY line, with braces split off (`Hips{` -> `Hips`, `{`)."""
    return line.replace("{", " { ").replace("}", " } ").split()


def _parse_hierarchy(lines, name: str):
    """Joint tree from the HIERARCHY lines. Returns (names, parents, offsets, channels, is_end, index of the first
    line after MOTION)."""
    names, parents, offsets, channels, is_end = [], [], [], [], []
    stack = []  # indices of open joints
    pending = None  # joint declared, waiting for its "{"
    started = False  # saw HIERARCHY or ROOT

    def numbers(tokens, k, count, what):
        values = tokens[k : k + count]
        if len(values) != count:
            raise MotionError(f"{name}: {what} needs {count} numbers on its line")
        try:
            return [float(v) for v in values]
        except ValueError:
            raise MotionError(f"{name}: malformed number in HIERARCHY ({what}: {' '.join(values)[:60]!r})") from None

    def declare(joint_name, end_site):
        nonlocal pending
        names.append(joint_name)
        parents.append(stack[-1] if stack else -1)
        offsets.append([0.0, 0.0, 0.0])
        channels.append(())
        is_end.append(end_site)
        pending = len(names) - 1

    for number, line in enumerate(lines):
        tokens = _tokens(line)
        k = 0
        while k < len(tokens):
            word = tokens[k].upper()
            if not started and word not in ("HIERARCHY", "ROOT"):
                raise MotionError(f"{name} is not a BVH file (no HIERARCHY/ROOT section)")
            if word == "HIERARCHY":
                started = True
                k += 1
            elif word == "MOTION":
                if stack or pending is not None:
                    raise MotionError(f"{name} is truncated: HIERARCHY braces are not closed before MOTION")
                if not names:
                    raise MotionError(f"{name} has no joints")
                return names, parents, offsets, channels, is_end, number + 1
            elif word in ("ROOT", "JOINT"):
                started = True
                rest = tokens[k + 1 :]
                brace = rest.index("{") if "{" in rest else len(rest)
                if brace == 0:
                    raise MotionError(f"{name}: a {tokens[k]} has no name")
                if word == "JOINT" and not stack:
                    raise MotionError(f"{name}: JOINT {' '.join(rest[:brace])} outside any joint")
                # The name is the rest of the line: joint names with spaces survive (single spaces).
                declare(" ".join(rest[:brace]), False)
                k += 1 + brace
            elif word == "END":
                if not stack:
                    raise MotionError(f"{name}: End Site outside any joint")
                declare(f"{names[stack[-1]]}_end", True)
                k += 2 if k + 1 < len(tokens) and tokens[k + 1].upper() == "SITE" else 1
            elif word == "{":
                if pending is None:
                    raise MotionError(f"{name}: unexpected '{{' in HIERARCHY")
                stack.append(pending)
                pending = None
                k += 1
            elif word == "}":
                if not stack:
                    raise MotionError(f"{name}: unbalanced '}}' in HIERARCHY")
                stack.pop()
                k += 1
            elif word == "OFFSET":
                if not stack:
                    raise MotionError(f"{name}: OFFSET outside any joint")
                offsets[stack[-1]] = numbers(tokens, k + 1, 3, f"OFFSET of {names[stack[-1]]}")
                k += 4
            elif word == "CHANNELS":
                if not stack:
                    raise MotionError(f"{name}: CHANNELS outside any joint")
                try:
                    count = int(tokens[k + 1])
                except (IndexError, ValueError):
                    raise MotionError(
                        f"{name}: bad CHANNELS line for {names[stack[-1]]}: {line.strip()[:60]!r}"
                    ) from None
                found = [_CHANNEL_BY_KEY.get(c.lower()) for c in tokens[k + 2 : k + 2 + count]]
                if count < 0 or len(found) != count or None in found or len(set(found)) != count:
                    raise MotionError(f"{name}: bad CHANNELS line for {names[stack[-1]]}: {line.strip()[:60]!r}")
                channels[stack[-1]] = tuple(found)
                k += 2 + count
            else:
                raise MotionError(f"{name}: unexpected line in HIERARCHY: {line.strip()[:60]!r}")
    if not started:
        raise MotionError(f"{name} is not a BVH file (no HIERARCHY/ROOT section)")
    if stack or pending is not None:
        raise MotionError(f"{name} is truncated: HIERARCHY braces are not closed")
    if not names:
        raise MotionError(f"{name} has no joints")
    raise MotionError(f"{name} is truncated: it has no MOTION block")


def _parse_motion_header(tail: str, name: str):
    """Read `Frames: N` and `Frame Time: t`; return (frames, frame_time, rest of text)."""
    match = _HEADER.match(tail)
    if not match:
        raise MotionError(f"{name}: MOTION block lacks 'Frames:' / 'Frame Time:' lines")
    frames, frame_time = _motion_header_values(match, name)
    return frames, frame_time, tail[match.end() :]


def _motion_header_values(match, name: str):
    """(frames, frame_time) from a _HEADER match, checked."""
    fields = {"frames": match.group(1), "frame time": match.group(2)}
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
    return frames, frame_time


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

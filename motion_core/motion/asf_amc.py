"""Acclaim ASF (skeleton) + AMC (motion) files, as the CMU mocap database ships them.

ASF: `:units` (length scale, angle deg/rad), `:root` (AMC value order, rest position/orientation), `:bonedata`
(per bone: direction in the global rest frame, length, `axis` angles + order giving the bone's local frame C, `dof`
listing which values its AMC line carries) and `:hierarchy`. AMC: per frame a number, then `bone v1 v2 ...` lines.

FK (the usual Acclaim reading): a bone's world rotation G = G_parent @ C @ M @ C^-1, where M composes the dof
rotations in the order they are listed (first listed is applied first); the bone's segment is G @ (direction *
length), starting at the end of its parent's segment. We express this as a joint tree with a node at each bone's
*start* (so node "lfemur" is the hip joint, "ltibia" the knee), plus `<bone>_end` nodes at the ends of leaf bones, in
the same (local rotation, local translation) form as BVH.

Lengths are returned in metres using `:units length` (CMU: 0.45, i.e. file values are inches * 0.45).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.bvh import MAX_ABS_VALUE, axis_rotations_to_matrix

INCH = 0.0254
AMC_FPS = 120.0  # CMU captured at 120 Hz; AMC files carry no frame rate


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray  # (3,) unit, global rest frame
    length: float  # metres
    axis: np.ndarray  # (3,) degrees
    axis_order: str  # e.g. "XYZ" (applied first to last)
    dof: tuple  # e.g. ("rx", "ry", "rz")


@dataclass
class AsfSkeleton:
    """names[0] == "root". parents: (B,) ints. bones: per non-root name."""

    names: list
    parents: list
    bones: dict
    root_order: tuple  # AMC root value order, e.g. ("TX","TY","TZ","RX","RY","RZ")
    root_axis: str
    root_position: np.ndarray  # (3,) metres
    root_orientation: np.ndarray  # (3,) degrees
    length_scale: float  # file units -> metres
    degrees: bool = True
    source: str = ""


@dataclass
class AmcMotion:
    """values: bone name -> (F, n) float64 in the bone's dof order (root: in root_order)."""

    frames: int
    values: dict = field(default_factory=dict)
    source: str = ""
    warnings: list = field(default_factory=list)  # one-line notes (e.g. a truncated last frame was dropped)


def _read_text(path, kind):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MotionError(f"{kind} file not found: {path}") from None
    except OSError as error:
        raise MotionError(f"cannot read {path}: {error.strerror}") from None
    if not text.strip():
        raise MotionError(f"{path.name} is empty; pass a valid {kind} file")
    return text


def read_asf(path) -> AsfSkeleton:
    """Parse an ASF skeleton. Raises MotionError for malformed files."""
    text = _read_text(path, "ASF")
    name = Path(path).name
    sections = {}
    current = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, _, rest = line[1:].replace("\t", " ").partition(" ")
            current = key.lower()
            sections.setdefault(current, [])
            if rest.strip():
                sections[current].append(rest.strip())
        elif current is not None:
            sections[current].append(line)
    for required in ("root", "bonedata", "hierarchy"):
        if required not in sections:
            raise MotionError(f"{name} is not an ASF skeleton (no :{required} section)")
    try:
        units = dict(_key_values(sections.get("units", [])))
        length_unit = float(units.get("length", ["1"])[0])
        degrees = units.get("angle", ["deg"])[0].lower().startswith("deg")
        if length_unit <= 0:
            raise MotionError(f"{name}: :units length must be positive")
        # File values are inches * length_unit (CMU: length 0.45).
        scale = INCH / length_unit
        root = dict(_key_values(sections["root"]))
        root_order = tuple(v.upper() for v in root.get("order", ["TX", "TY", "TZ", "RX", "RY", "RZ"]))
        root_axis = root.get("axis", ["XYZ"])[0].upper()
        root_position = np.array([float(v) for v in root.get("position", ["0", "0", "0"])]) * scale
        root_orientation = np.array([float(v) for v in root.get("orientation", ["0", "0", "0"])])
        bones = {}
        for block in _blocks(sections["bonedata"], name):
            info = dict(_key_values(block))
            bone_name = info["name"][0]
            direction = np.array([float(v) for v in info["direction"]])
            norm = np.linalg.norm(direction)
            axis_values = info.get("axis", ["0", "0", "0", "XYZ"])
            bones[bone_name] = AsfBone(
                name=bone_name,
                direction=direction / norm if norm > 0 else direction,
                length=float(info["length"][0]) * scale,
                axis=np.array([float(v) for v in axis_values[:3]]),
                axis_order=(axis_values[3] if len(axis_values) > 3 else "XYZ").upper(),
                dof=tuple(v.lower() for v in info.get("dof", [])),
            )
    except (KeyError, ValueError, IndexError):
        raise MotionError(f"{name}: malformed ASF (:units, :root or a bone block)") from None
    _check_channels(name, root_order, root_axis, root_position, root_orientation, bones)
    names, parents = ["root"], [-1]
    children = {}
    for line in sections["hierarchy"]:
        parts = line.split()
        if parts[0].lower() in ("begin", "end"):
            continue
        children.setdefault(parts[0], []).extend(parts[1:])
    # Breadth-first from root so parents come before children; each bone is placed once, so a cycle (a -> b -> a)
    # or a bone listed under two parents is an error, not an endless walk.
    queue = ["root"]
    index = {"root": 0}
    while queue:
        parent = queue.pop(0)
        for child in children.get(parent, []):
            if child in index:
                what = "has a cycle" if child == "root" or _is_ancestor(child, parent, names, parents, index) \
                    else "lists it twice"
                raise MotionError(f"{name}: :hierarchy {what} at bone {child!r} (under {parent!r}); "
                                  "each bone needs exactly one parent")
            if child not in bones:
                raise MotionError(f"{name}: hierarchy names bone {child!r} that has no bonedata")
            index[child] = len(names)
            names.append(child)
            parents.append(index[parent])
            queue.append(child)
    return AsfSkeleton(
        names=names, parents=parents, bones=bones, root_order=root_order, root_axis=root_axis,
        root_position=root_position, root_orientation=root_orientation, length_scale=scale, degrees=degrees,
        source=str(path),
    )  # fmt: skip


ROOT_CHANNELS = {"TX", "TY", "TZ", "RX", "RY", "RZ"}
BONE_DOFS = {"rx", "ry", "rz", "tx", "ty", "tz", "l"}


def _is_axis_order(order):
    return len(order) == 3 and sorted(order) == ["X", "Y", "Z"]


def _check_channels(name, root_order, root_axis, root_position, root_orientation, bones):
    """The orders, dofs and vectors FK reads: anything else is a one-line error here, not a traceback later."""
    if not set(root_order) <= ROOT_CHANNELS or len(set(root_order)) != len(root_order):
        raise MotionError(f"{name}: :root order {' '.join(root_order)!r} must list distinct TX TY TZ RX RY RZ")
    if not _is_axis_order(root_axis):
        raise MotionError(f"{name}: :root axis {root_axis!r} must be an order of X, Y and Z, e.g. XYZ")
    if root_position.shape != (3,) or root_orientation.shape != (3,):
        raise MotionError(f"{name}: :root position and orientation need 3 numbers each")
    for bone in bones.values():
        if bone.direction.shape != (3,) or bone.axis.shape != (3,) or not _is_axis_order(bone.axis_order):
            raise MotionError(f"{name}: bone {bone.name!r} needs a 3-number direction and an axis of 3 numbers "
                              "plus an order of X, Y and Z")
        if not set(bone.dof) <= BONE_DOFS or len(set(bone.dof)) != len(bone.dof):
            raise MotionError(f"{name}: bone {bone.name!r} has dof {' '.join(bone.dof)!r}; use distinct rx ry rz "
                              "tx ty tz l")


def _is_ancestor(bone, of, names, parents, index):
    """True when `bone` is `of` or one of its ancestors in the tree built so far."""
    j = index[of]
    while j >= 0:
        if names[j] == bone:
            return True
        j = parents[j]
    return False


def _key_values(lines):
    for line in lines:
        parts = line.split()
        yield parts[0].lower(), parts[1:]


def _blocks(lines, name):
    block = None
    for line in lines:
        word = line.split()[0].lower()
        if word == "begin":
            block = []
        elif word == "end":
            if block is None:
                raise MotionError(f"{name}: 'end' without 'begin' in :bonedata")
            yield block
            block = None
        elif block is not None:
            block.append(line)
    if block is not None:
        raise MotionError(f"{name} is truncated: a :bonedata block is not closed")


def read_amc(path, skeleton: AsfSkeleton) -> AmcMotion:
    """Parse AMC frames for `skeleton`. Raises MotionError for malformed files.

    A file cut short (its last frame lacks bones or values, as when a copy or an export stopped early) keeps its
    complete frames and says so in `warnings`; a gap or a bad line before the last frame is an error.
    """
    text = _read_text(path, "AMC")
    name = Path(path).name
    expected = {"root": len(skeleton.root_order)}
    expected.update({b: len(bone.dof) for b, bone in skeleton.bones.items()})
    frames = []  # one {bone: values} per frame, in file order
    problems = {}  # frame index -> what is wrong with it (first problem only)
    for raw in text.splitlines():
        parts = raw.split(None, 1)
        if not parts or parts[0].startswith(("#", ":")):
            continue
        first, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if first.isdigit():
            frames.append({})
            continue
        if not frames:
            raise MotionError(f"{name}: bone values before the first frame number; is this an AMC file?")
        index = len(frames) - 1
        if first not in expected:
            problems.setdefault(index, f"bone {first!r} is not in the ASF skeleton; pass the matching --asf")
            continue
        try:
            values = [float(v) for v in rest.split()]
        except ValueError:
            problems.setdefault(index, f"malformed number in AMC frame {index + 1} ({first})")
            continue
        if not all(abs(v) <= MAX_ABS_VALUE for v in values):  # also nan/inf, which float() accepts
            problems.setdefault(index, f"non-finite or absurd number in AMC frame {index + 1} ({first})")
            continue
        if len(values) != expected[first]:
            problems.setdefault(
                index, f"frame {index + 1}: {first} has {len(values)} values, ASF says {expected[first]}"
            )
            continue
        frames[index][first] = values
    if not frames:
        raise MotionError(f"{name} has no frames; pass an AMC motion file")
    bones = sorted(set().union(*frames), key=list(expected).index)
    for index, frame in enumerate(frames):
        if len(frame) < len(bones) and index not in problems:
            lacking = [b for b in bones if b not in frame]
            problems[index] = f"frame {index + 1} lacks {', '.join(lacking[:3])}{' ...' if len(lacking) > 3 else ''}"
    complete = len(frames)
    warnings = []
    if problems:
        first_bad = min(problems)
        if first_bad < len(frames) - 1 or first_bad == 0:
            raise MotionError(f"{name}: {problems[first_bad]}")
        complete = first_bad  # only the last frame is incomplete: the file was cut short
        warnings.append(
            f"{name} is truncated ({problems[first_bad]}); kept the {complete} complete frames of {len(frames)}"
        )
    if "root" not in bones:
        raise MotionError(f"{name}: no root values; is this an AMC file?")
    out = {bone: np.asarray([frame[bone] for frame in frames[:complete]], dtype=np.float64) for bone in bones}
    return AmcMotion(frames=complete, values=out, source=str(path), warnings=warnings)


def _acclaim_rotation(angles, letters, degrees):
    """Rotations applied in the listed order (first listed first).

    angles: (..., n); letters: n axes, e.g. "XYZ" -> (..., 3, 3) = Rz @ Ry @ Rx."""
    angles = np.asarray(angles, dtype=np.float64)
    if not degrees:
        angles = np.rad2deg(angles)
    # First applied = rightmost factor: R = R_last @ ... @ R_first, i.e. intrinsic order reversed.
    return axis_rotations_to_matrix(angles[..., ::-1], letters[::-1])


def local_transforms(skeleton: AsfSkeleton, motion: AmcMotion):
    """Joint tree (node at each bone's start, `<bone>_end` at leaf ends) with per-frame local transforms.

    Returns names (N), parents (N,) ints, rotations (F, N, 3, 3), translations (F, N, 3) metres.
    """
    F = motion.frames
    names, parents = list(skeleton.names), list(skeleton.parents)
    has_child = set(parents)
    for i, bone_name in enumerate(skeleton.names):
        if i > 0 and i not in has_child:
            names.append(f"{bone_name}_end")
            parents.append(i)
    N = len(names)
    rotations = np.broadcast_to(np.eye(3), (F, N, 3, 3)).copy()
    translations = np.zeros((F, N, 3))

    # Root: translation and rotation from its AMC values, in its own order.
    root_values = motion.values["root"]
    root_c = _acclaim_rotation(skeleton.root_orientation, skeleton.root_axis, True)
    trans_letters, rot_letters, rot_cols = "", "", []
    for k, channel in enumerate(skeleton.root_order):
        if channel.startswith("T"):
            translations[:, 0, "XYZ".index(channel[1])] = root_values[:, k] * skeleton.length_scale
            trans_letters += channel[1]
        elif channel.startswith("R"):
            rot_letters += channel[1]
            rot_cols.append(root_values[:, k])
    for axis in "XYZ":
        if axis not in trans_letters:
            translations[:, 0, "XYZ".index(axis)] = skeleton.root_position["XYZ".index(axis)]
    if rot_cols:
        m = _acclaim_rotation(np.stack(rot_cols, -1), rot_letters, skeleton.degrees)
        rotations[:, 0] = root_c @ m @ root_c.T

    for i in range(1, N):
        parent = parents[i]
        parent_name = names[parent]
        if parent > 0:  # a node starts where its parent bone ends: offset = parent's segment
            bone = skeleton.bones[parent_name]
            translations[:, i] = bone.direction * bone.length
        if i >= len(skeleton.names):
            continue  # end node: no rotation of its own
        bone = skeleton.bones[names[i]]
        c = _acclaim_rotation(bone.axis, bone.axis_order, True)
        values = motion.values.get(names[i])
        letters, cols = "", []
        if values is not None:
            for k, dof in enumerate(bone.dof):
                if dof.startswith("r"):
                    letters += dof[1].upper()
                    cols.append(values[:, k])
        if cols:
            m = _acclaim_rotation(np.stack(cols, -1), letters, skeleton.degrees)
            rotations[:, i] = c @ m @ c.T
    return names, np.asarray(parents, dtype=np.int64), rotations, translations


def find_asf_for(amc_path):
    """The ASF skeleton beside an AMC file, found by name.

    The ASF whose name is the longest prefix of the AMC's name, ending where the AMC name has a separator (`_`, `-`,
    `.` or a space), wins: `49.asf` for CMU's `49_18.amc`, `HDM_bd.asf` for HDM05's `HDM_bd_01-01_01_120.amc`.
    Without such a match, the only .asf in the folder is used. Otherwise MotionError names the candidates.
    """
    amc_path = Path(amc_path)
    folder = amc_path.parent
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".asf" and p.is_file())
    except OSError:
        candidates = []
    stem = amc_path.stem.lower()

    def shares_prefix(asf):
        prefix = asf.stem.lower()
        return stem == prefix or (stem.startswith(prefix) and stem[len(prefix)] in "_-. ")

    matches = [p for p in candidates if shares_prefix(p)]
    if matches:
        return max(matches, key=lambda p: len(p.stem))  # longest prefix; sorted order breaks ties
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise MotionError(f"{amc_path.name}: AMC needs its skeleton and no .asf is beside it; pass --asf SKELETON.asf")
    shown = ", ".join(p.name for p in candidates[:6])
    if len(candidates) > 6:
        shown += f" and {len(candidates) - 6} more"
    raise MotionError(
        f"{amc_path.name}: AMC needs its skeleton and no .asf name here is a prefix of it ({shown}); "
        "pass --asf SKELETON.asf"
    )

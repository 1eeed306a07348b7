"""Import real mocap (BVH, ASF/AMC) onto our 22-joint skeleton: metres, Y-up, facing +Z at frame 0, 20 fps.

Pipeline of `import_motion`:
  read (any hierarchy) -> FK to world positions and rotations -> map onto the 22 joints (bone_maps; derived joints
  ride rigidly on one source bone each) -> every bone of ours set to its median length along its own per-frame
  direction (`rigid_bones`: a bone spanning a source joint would otherwise stretch as that joint bends) -> units to
  metres (declared by ASF; for BVH the one standard unit that gives a plausible human height, or `units` / `scale`;
  an implausible or child-sized height is a warning) -> drop
  converter T-pose frames at the start (a pose jump into the first real frame) -> up axis to +Y (see `decide_up`:
  ASF's own rest pose; for BVH the rest pose, the first frames and the floor the feet stand on, so a clip spent lying
  down keeps its true up) -> resample to `fps` by slerping the source's local joint rotations and FK again (not by
  striding) -> turn frame 0 to face +Z, root at the xz origin, floor (lowest foot joint over the clip) at y = 0.
FK and resampling run FK_CHUNK_FRAMES frames at a time, reading only the source frames resampling needs, so a large
BVH peaks near twice its file size (see bvh.read_bvh).
Left/right handedness is kept: every axis change is a proper rotation.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion import asf_amc, bone_maps
from motion_core.motion.bvh import read_bvh
from motion_core.motion.kinematics import fk_matrices
from motion_core.motion.rotations import (
    matrix_to_quat,
    quat_between,
    quat_from_axis_angle,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
)
from motion_core.motion.skeleton import FEET_LEFT, FEET_RIGHT, JOINT_NAMES, PARENTS

# Length units, metres per file unit. CMU's ASF unit (1/0.45 inch) shows up in cgspeed's MB/Max BVHs.
UNITS = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
# Units tried by detection. Neighbours differ by at least 2.22x, more than the plausible band's 2.2x, so at most one
# lands a person inside it. Decimetres (1.8x from cmu) only when asked.
AUTO_UNITS = ("m", "cm", "mm", "inch", "cmu")
PLAUSIBLE_HEIGHT = (1.0, 2.2)  # metres, standing height of a person (small child to very tall adult)
CHILD_HEIGHT = 1.4  # below this a plausible height is called child-sized, in case it is a wrong unit
TYPICAL_HEIGHT = 1.7  # metres; what a suggested --scale aims at, and the tie-break between two possible units
UNIT_MARGIN = 1.15  # a unit landing within 15% outside PLAUSIBLE_HEIGHT is still possible (see choose_units)
# Standing height from the ankle -> knee -> hip -> spine -> neck -> head joint chain: anthropometric tables put the
# ankle joint near 4.5% of stature and the head joint (skull base) near 91%, so stature ~ chain / 0.865.
STATURE_PER_CHAIN = 1.156
# Converter frames at the start: cgspeed's Daz files put a T-pose in frame 0 (some files 2-5 such frames, placed
# elsewhere, then a jump of the whole body to the capture) and blend into the capture over ~4 frames with
# root-relative joint speeds of 4-20 m/s. Captured motion stays well under 2 m/s on average over the 22 joints, and no
# body moves at 50 m/s. Within the first 0.1 s we drop everything up to the last such jump, then the blend frames.
TPOSE_SPEED = 2.0  # m/s, mean over joints of the root-relative speed (and > 4x the clip's median)
TELEPORT_SPEED = 50.0  # m/s, mean over joints of the world speed
MAX_DROPPED_SECONDS = 0.1
# Up-axis evidence (see decide_up).
UP_AXES = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")
FIRST_SECONDS = 1.0  # the "first frames" window
CONTACT_SPEED = 0.2  # m/s; a foot joint slower than this is taken as standing on something
FLOOR_SPREAD = 0.1  # m; the contacts must cover at least this (std) in two directions to define a plane
FLOOR_FLATNESS = 0.25  # and be at most this thick relative to that spread

FK_CHUNK_FRAMES = 1024  # frames posed at a time: bounds the local transforms held at once (~3 MB per 1000 frames)

_J = {name: i for i, name in enumerate(JOINT_NAMES)}


@dataclass
class ImportedMotion:
    """joints: (T, 22, 3) float32, metres, Y-up, +Z forward at frame 0, HumanML3D joint order, at `fps`."""

    joints: np.ndarray
    fps: float
    source_fps: float
    convention: str
    source: str
    units: str = ""  # the length unit: a UNITS name, "asf" (declared by the ASF) or "scale" (a given factor)
    up_axis: str = "+Y"  # the source's up axis before conversion
    dropped_frames: int = 0  # converter T-pose frames removed at the start
    source_frames: int = 0
    info: dict = field(default_factory=dict)
    scale: float = 1.0  # metres per file unit used
    height_m: float = 0.0  # estimated standing height (from bone lengths, so pose does not matter)
    up_method: str = ""  # how the up axis was decided (see decide_up)
    up_evidence: dict = field(default_factory=dict)  # what each kind of evidence said
    warnings: list = field(default_factory=list)  # one-line notes the user should see (units, truncation, ...)
    asf: str = ""  # the ASF skeleton used for an AMC

    @property
    def frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps)


@dataclass
class SourceMotion:
    """A source joint tree. `transforms(joints=None, frames=None)` gives local rotations (F, K, 3, 3) and
    translations (F, K, 3) (file units; metres for ASF) of the listed joints (all by default) at the listed frames."""

    names: list
    parents: np.ndarray  # (S,) parents before children
    frames: int
    fps: float
    transforms: Callable
    metres_per_unit: Optional[float] = None  # known (ASF: translations are already metres) or None (detect)
    file_unit: Optional[float] = None  # ASF: metres per raw length value as its :units declare
    warnings: list = field(default_factory=list)
    asf: str = ""


def read_source(path, asf=None) -> SourceMotion:
    """Read a .bvh, or an .amc with its .asf (given or found beside it), as a SourceMotion."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".bvh", ".amc", ".asf"):
        raise MotionError(
            f"unsupported file type {suffix or '(none)'!r} for {path.name}; import a .bvh or an .amc (with --asf)"
        )
    if not path.exists():
        raise MotionError(f"file not found: {path}")
    if suffix == ".bvh":
        data = read_bvh(path)
        return SourceMotion(data.names, data.parents, data.frames, _tidy_fps(data.fps), data.local_transforms)
    if suffix == ".amc":
        asf_path = Path(asf) if asf is not None else asf_amc.find_asf_for(path)
        skeleton = asf_amc.read_asf(asf_path)
        motion = asf_amc.read_amc(path, skeleton)
        names, parents, rotations, translations = asf_amc.local_transforms(skeleton, motion)

        def transforms(joints=None, frames=None):
            rot, trans = rotations, translations
            if frames is not None:
                rot, trans = rot[frames], trans[frames]
            if joints is not None:
                rot, trans = rot[:, joints], trans[:, joints]
            return rot, trans

        return SourceMotion(
            names, parents, motion.frames, asf_amc.AMC_FPS, transforms, metres_per_unit=1.0,
            file_unit=skeleton.length_scale, warnings=list(motion.warnings), asf=str(asf_path),
        )  # fmt: skip
    raise MotionError(f"{path.name} is a skeleton only; import the .amc motion and pass --asf {path.name}")


def _tidy_fps(fps):
    """120.00048 -> 120.0: frame times are printed rounded (0.0083333); keep exact rates exact."""
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) < 1e-3 * fps else float(fps)


def straighten_offset(offsets):
    """Turn a constant rest offset (F, 3) onto its dominant coordinate axis, keeping its length; leave animated
    (position-channel) offsets alone."""
    if np.ptp(offsets, axis=0).max() > 1e-9:
        return offsets
    offset = offsets[0]
    axis = int(np.argmax(np.abs(offset)))
    straight = np.zeros(3)
    straight[axis] = np.sign(offset[axis]) * np.linalg.norm(offset)
    return np.broadcast_to(straight, offsets.shape).copy()


def _needed_joints(parents, weights):
    """Source joints that mapped joints depend on (columns with weight) plus their ancestors, in order."""
    needed = set()
    for j in np.nonzero(np.any(weights != 0, axis=0))[0]:
        j = int(j)
        while j >= 0 and j not in needed:
            needed.add(j)
            j = int(parents[j])
    return np.array(sorted(needed), dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------------------
# Units


def estimate_height(joints) -> float:
    """Standing height of a (F, 22, 3) clip in its own units, from bone lengths (medians over frames), so the pose
    (crouching, lying, a T-pose) does not matter: STATURE_PER_CHAIN x (ankle->knee->hip + hip midpoint->pelvis->
    spine1..3->neck + neck->head)."""
    joints = np.asarray(joints, dtype=np.float64)

    def length(a, b):
        return float(np.median(np.linalg.norm(a - b, axis=-1)))

    leg = np.mean([
        length(joints[:, _J[f"{s}_hip"]], joints[:, _J[f"{s}_knee"]])
        + length(joints[:, _J[f"{s}_knee"]], joints[:, _J[f"{s}_ankle"]])
        for s in ("left", "right")
    ])  # fmt: skip
    hip_mid = 0.5 * (joints[:, _J["left_hip"]] + joints[:, _J["right_hip"]])
    trunk = length(hip_mid, joints[:, _J["pelvis"]])
    chain = ["pelvis", "spine1", "spine2", "spine3", "neck", "head"]
    trunk += sum(length(joints[:, _J[a]], joints[:, _J[b]]) for a, b in zip(chain[:-1], chain[1:]))
    return STATURE_PER_CHAIN * float(leg + trunk)


def choose_units(height):
    """Pick a length unit for a skeleton `height` file units tall: (AUTO_UNITS name, warnings).

    A unit is possible when it makes the skeleton PLAUSIBLE_HEIGHT tall, give or take UNIT_MARGIN. A person 1.0-2.2 m
    tall in any standard unit has exactly one possible unit (neighbours differ by 2.2x or more). When two are
    possible (a 1 m child in inches looks like a 2.2 m adult in CMU units) the one nearer TYPICAL_HEIGHT wins and a
    warning names both: the pick is one unit across that whole zone, so similar files of one folder agree. When none
    is, the nearest wins and height_warnings says so.
    """
    if not height > 0:
        raise MotionError("the skeleton has zero size (legs and spine of zero length); check the file or --map")
    low, high = PLAUSIBLE_HEIGHT
    heights = {unit: height * UNITS[unit] for unit in AUTO_UNITS}
    possible = [u for u in AUTO_UNITS if low / UNIT_MARGIN <= heights[u] <= high * UNIT_MARGIN]
    best = min(possible or AUTO_UNITS, key=lambda u: abs(np.log(heights[u] / TYPICAL_HEIGHT)))
    warnings = []
    if len(possible) > 1:
        options = ", ".join(f"{u} {heights[u]:.2f} m" for u in possible)
        warnings.append(
            f"the length unit is ambiguous ({options} tall); took {best}: pass --units or --scale (the same for the "
            "whole folder) if that is wrong"
        )
    return best, warnings


def detect_units(joints_raw) -> str:
    """The AUTO_UNITS name for a (F, 22, 3) clip in file units (see choose_units)."""
    return choose_units(estimate_height(joints_raw))[0]


def height_warnings(height, scale):
    """One-line warnings for an implausible or child-sized height (metres) reached with `scale` metres per unit."""
    suggest = f"--scale {scale * TYPICAL_HEIGHT / height:.4g}" if height > 0 else "--scale"
    low, high = PLAUSIBLE_HEIGHT
    if not low <= height <= high:
        return [
            f"the skeleton comes out {height:.2f} m tall, not a plausible person ({low:g}-{high:g} m): the length "
            f"unit is probably wrong; {suggest} makes it {TYPICAL_HEIGHT:g} m (or pass --units)"
        ]
    if height < CHILD_HEIGHT:
        return [
            f"the skeleton comes out {height:.2f} m tall (child-sized); if the performer is an adult the length unit "
            f"is wrong: {suggest} makes it {TYPICAL_HEIGHT:g} m"
        ]
    return []


# ----------------------------------------------------------------------------------------------------------------------
# Up axis


def parse_up(up):
    """'auto' or one of UP_AXES ('+y', 'Y' and 'y' read as '+Y') -> 'auto' or the canonical name."""
    text = str(up).strip()
    if text.lower() == "auto":
        return "auto"
    name = text.upper()
    if len(name) == 1:
        name = "+" + name
    if name not in UP_AXES:
        raise MotionError(f"unknown up axis {up!r}; use auto, {', '.join(UP_AXES)}")
    return name


def axis_vector(name) -> np.ndarray:
    """'+Y' -> (0, 1, 0), '-Z' -> (0, 0, -1)."""
    vector = np.zeros(3)
    vector["XYZ".index(name[1])] = 1.0 if name[0] == "+" else -1.0
    return vector


def _axis_name(up):
    axis = int(np.argmax(np.abs(up)))
    return ("+" if up[axis] > 0 else "-") + "XYZ"[axis]


def _snap(vector, min_cos):
    """The UP_AXES name nearest to `vector`, or None when the angle to it is wider than acos(min_cos)."""
    norm = np.linalg.norm(vector)
    if not norm > 0:
        return None
    unit = vector / norm
    return _axis_name(unit) if np.abs(unit).max() >= min_cos else None


def _body_vectors(joints):
    """(F, 3) from the ankles' midpoint to the neck: a standing person's up."""
    return joints[:, _J["neck"]] - 0.5 * (joints[:, _J["left_ankle"]] + joints[:, _J["right_ankle"]])


def rest_pose_up(rest):
    """Up of a rest pose (22, 3) when it is a clear standing figure (spine within 25 degrees of an axis, both legs
    within 37 degrees of its opposite); else None (rigs whose rest pose is not a person, e.g. bone-local offsets)."""
    hip_mid = 0.5 * (rest[_J["left_hip"]] + rest[_J["right_hip"]])
    name = _snap(rest[_J["neck"]] - hip_mid, 0.9)
    if name is None:
        return None
    down = -axis_vector(name)
    for side in ("left", "right"):
        leg = rest[_J[f"{side}_ankle"]] - rest[_J[f"{side}_hip"]]
        norm = np.linalg.norm(leg)
        if not (norm > 0 and leg @ down / norm >= 0.8):
            return None
    return name


def first_frames_up(joints, fps):
    """Up from the body's direction (ankles -> neck) over the first FIRST_SECONDS, when it is clear (within 37 degrees
    of an axis); else None. joints: (F, 22, 3)."""
    window = joints[: max(1, int(round(FIRST_SECONDS * fps)))]
    vectors = _body_vectors(window)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    vectors = vectors[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    return _snap(np.median(vectors, axis=0), 0.8) if len(vectors) else None


def whole_clip_up(joints):
    """The axis the body direction (ankles -> neck) is nearest to in most frames (the old mean-direction guess;
    wrong for clips spent mostly lying down). joints: (F, 22, 3)."""
    vectors = _body_vectors(joints)
    axes = np.argmax(np.abs(vectors), axis=-1)
    signs = np.take_along_axis(vectors, axes[:, None], axis=-1)[:, 0] > 0
    votes = np.bincount(2 * axes + (~signs), minlength=6)  # order of UP_AXES: +X -X +Y -Y +Z -Z
    return UP_AXES[int(np.argmax(votes))]


def foot_contact_up(joints, fps):
    """Gravity from the floor: the plane through the toe joints while they stand still, when those contacts cover
    an area (FLOOR_SPREAD in two directions) and are flat (FLOOR_FLATNESS); its normal, snapped to an axis within 25
    degrees, points to the side the body is on. None when the feet stay in one place (no plane to fit) or stand at
    several heights (stairs, a climb). On the 128 CMU sample files: 29 planes, all +Y; 03_01 (uneven terrain) shows
    why the thresholds are strict (its contacts fit a plane tilted toward X).
    joints: (F, 22, 3) metres at `fps`."""
    if len(joints) < 3:
        return None
    # Toe joints only: on flat feet they share one height, while the ankles sit a few cm above them and would
    # thicken the plane.
    feet = joints[:, [_J["left_foot"], _J["right_foot"]]]  # (F, 2, 3)
    speed = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps  # (F-1, 2)
    contacts = (0.5 * (feet[1:] + feet[:-1]))[speed < CONTACT_SPEED]  # (N, 3)
    if len(contacts) < 10:
        return None
    centre = contacts.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((contacts - centre).T))  # ascending
    spread, thickness = np.sqrt(np.maximum(values[1], 0.0)), np.sqrt(np.maximum(values[0], 0.0))
    if spread < FLOOR_SPREAD or thickness > FLOOR_FLATNESS * spread:
        return None
    normal = vectors[:, 0]
    if np.median((joints.reshape(-1, 3) - centre) @ normal) < 0:
        normal = -normal
    return _snap(normal, 0.9)


def decide_up(joints, fps, rest=None, asf=False):
    """The source's up axis and how it was decided. joints: (F, 22, 3) metres at `fps` (converter frames dropped);
    rest: (22, 3) the skeleton's rest pose (all local rotations identity) or None; asf: the source is ASF/AMC.

    ASF/AMC: the skeleton's own rest pose (the frame its bone directions are written in; CMU and HDM05 are +Y).
    BVH, in order: the rest pose when the first frames agree with it; else the floor the feet stand on (gravity from
    foot contacts); else whichever of rest pose and first frames the majority of frames agrees with (a clip that
    starts lying down, a root that carries a constant turn); else the one that exists; else the majority of frames.
    Returns (name, method, evidence {rest_pose, first_frames, foot_contacts, whole_clip: name or None}).
    """
    rest_up = rest_pose_up(rest) if rest is not None else None
    if asf:
        return (rest_up or "+Y"), ("asf-rest-pose" if rest_up else "asf-default"), {"rest_pose": rest_up}
    evidence = {
        "rest_pose": rest_up,
        "first_frames": first_frames_up(joints, fps),
        "foot_contacts": foot_contact_up(joints, fps),
        "whole_clip": whole_clip_up(joints),
    }
    rest_up, first, floor, majority = evidence.values()
    if rest_up is not None and rest_up == first:
        return rest_up, "rest-pose+first-frames", evidence
    if floor is not None:
        return floor, "foot-contacts", evidence
    if rest_up is not None and first is not None:
        if first == majority and rest_up != majority:
            return first, "first-frames+whole-clip", evidence
        return rest_up, "rest-pose", evidence
    if rest_up is not None:
        return rest_up, "rest-pose", evidence
    if first is not None:
        return first, "first-frames", evidence
    return majority, "whole-clip", evidence


def detect_up(joints, fps=20.0, rest=None) -> np.ndarray:
    """Unit up vector (3,) of a BVH-like source clip (F, 22, 3) metres at `fps` (see decide_up)."""
    return axis_vector(decide_up(joints, fps, rest)[0])


def count_tpose_frames(joints, fps) -> int:
    """Number of leading converter frames: those before a jump of the whole body (TELEPORT_SPEED) near the start,
    then the blend frames whose root-relative pose moves faster than TPOSE_SPEED and 4x the clip's median.
    joints: (F, 22, 3) metres at `fps`."""
    limit = min(max(1, int(round(MAX_DROPPED_SECONDS * fps))), len(joints) - 2)
    world_speed = _mean_joint_speed(joints[: limit + 1], fps, root_relative=False)  # (limit,) m/s
    jumps = np.nonzero(world_speed > TELEPORT_SPEED)[0]
    dropped = int(jumps[-1]) + 1 if len(jumps) else 0
    # Root-relative speeds a chunk of frames at a time: whole-clip differences would take ~4x the joints' memory.
    chunks = range(0, len(joints) - 1, FK_CHUNK_FRAMES)
    speed = np.concatenate([_mean_joint_speed(joints[i : i + FK_CHUNK_FRAMES + 1], fps, True) for i in chunks])
    threshold = max(TPOSE_SPEED, 4.0 * float(np.median(speed)))
    blend_limit = min(dropped + limit, len(joints) - 2)
    while dropped < blend_limit and speed[dropped] > threshold:
        dropped += 1
    return dropped


def _mean_joint_speed(joints, fps, root_relative):
    """Mean over joints of each frame-to-frame speed: joints (F, 22, 3) metres -> (F-1,) m/s."""
    if root_relative:
        joints = joints - joints[:, :1]
    return np.mean(np.linalg.norm(np.diff(joints, axis=0), axis=-1), axis=-1) * fps


def rigid_bones(joints, lengths, rest=None, parents=PARENTS):
    """Give every bone a constant length, keeping its per-frame direction: walk the chain from the root and place
    child = parent + length * unit(child - parent), with the input's own child - parent direction.

    joints: (F, J, 3); lengths: (J,) (the root's ignored); rest: (J, 3) whose bone directions stand in for a
    zero-length input bone (None: +Y); parents: (J,) before children -> (F, J, 3) float64, the root unchanged.
    """
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(joints)
    for j, p in enumerate(parents):
        if p < 0:
            out[:, j] = joints[:, j]
            continue
        direction = joints[:, j] - joints[:, p]  # (F, 3)
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        fallback = np.array([0.0, 1.0, 0.0]) if rest is None else rest[j] - rest[p]
        fallback = fallback / max(float(np.linalg.norm(fallback)), 1e-12)
        unit = np.where(norm > 1e-12, direction / np.maximum(norm, 1e-12), fallback)
        out[:, j] = out[:, p] + lengths[j] * unit
    return out


def resample_rotations(rotations, translations, source_fps, fps):
    """Resample local transforms to `fps`: slerp rotations, lerp translations at exact target times.

    rotations: (F, S, 3, 3); translations: (F, S, 3) -> (T, S, 3, 3), (T, S, 3), T = floor(duration * fps) + 1.
    """
    frames = rotations.shape[0]
    if frames == 1 or abs(source_fps - fps) < 1e-9:
        return rotations, translations
    lower, frac = resample_times(frames, source_fps, fps)
    return blend_rotations(rotations, translations, lower, lower + 1, frac)


def resample_times(frames, source_fps, fps):
    """Target times of a `frames`-frame clip resampled to `fps`, as (lower source frame (T,) int, fraction (T,))."""
    duration = (frames - 1) / source_fps
    times = np.arange(int(np.floor(duration * fps + 1e-6)) + 1) / fps
    position = times * source_fps
    lower = np.minimum(np.floor(position).astype(np.int64), frames - 2)
    return lower, position - lower


def blend_rotations(rotations, translations, a, b, frac):
    """Slerp rotations (F, S, 3, 3) and lerp translations (F, S, 3) from frames a (T,) to b (T,) by frac (T,)."""
    quats = matrix_to_quat(rotations)  # (F, S, 4)
    q = quat_slerp(quats[a], quats[b], frac[:, None])
    t = translations[a] + frac[:, None, None] * (translations[b] - translations[a])
    return quat_to_matrix(q), t


def import_motion(path, asf=None, bone_map=None, fps=20.0, units=None, scale=None, up="auto") -> ImportedMotion:
    """Import a mocap file onto the 22-joint skeleton.

    Args:
        path: .bvh, or .amc (with `asf`, or an .asf found beside it).
        bone_map: None (detect the convention from bone names), a user map dict / JSON path keyed by our joint names.
        fps: output frame rate (20 = HumanML3D).
        units: force a length unit name from UNITS; scale: or metres per file unit (a number). For ASF/AMC either
            replaces what its `:units` declare. None for both: ASF's own, or detected for BVH (see detect_units).
        up: "auto" (see decide_up) or the source's up axis, one of UP_AXES.
    Returns:
        ImportedMotion with joints (T, 22, 3) float32, metres, Y-up, facing +Z at frame 0, root at the xz origin,
        lowest foot joint at y = 0; units, scale, height_m, up_axis, up_method, up_evidence and warnings say how.
    """
    if not 0 < fps <= 1000:
        raise MotionError(f"output fps must be between 0 and 1000, got {fps}")
    if units is not None and units not in UNITS:
        raise MotionError(f"unknown units {units!r}; use one of {', '.join(UNITS)}")
    if scale is not None and units is not None:
        raise MotionError("pass either --units or --scale, not both")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise MotionError(f"--scale must be a positive number of metres per file unit, got {scale}")
    up = parse_up(up)
    source = read_source(path, asf)
    frames = source.frames
    if frames < 2:
        raise MotionError(f"{Path(path).name} has {frames} frame; a motion needs at least 2")
    warnings = list(source.warnings)

    # Resolve the bone map on a few frames (bones are rigid), then pose only the source joints it needs.
    probe_frames = np.unique(np.linspace(0, frames - 1, min(frames, 32)).round().astype(np.int64))
    probe_rot, probe_trans = source.transforms(None, probe_frames)
    probe_world_rot, probe = fk_matrices(source.parents, probe_rot, probe_trans)
    resolved = bone_maps.resolve(source.names, source.parents, probe, bone_map, rotations=probe_world_rot)
    if resolved.straighten:  # the map straightens some rest offsets: resolve again on the skeleton as posed below
        for j in resolved.straighten:
            probe_trans[:, j] = straighten_offset(probe_trans[:, j])
        probe_world_rot, probe = fk_matrices(source.parents, probe_rot, probe_trans)
        resolved = bone_maps.resolve(source.names, source.parents, probe, bone_map, rotations=probe_world_rot)
    # The rest pose: every local rotation identity, offsets as the clip has them (its own skeleton).
    rest_trans = np.median(probe_trans, axis=0)[None]
    rest_rot = np.broadcast_to(np.eye(3), (1, len(source.names), 3, 3))
    rest = resolved.joints(*reversed(fk_matrices(source.parents, rest_rot, rest_trans)))[0]  # (22, 3)
    # Bone lengths of ours, fixed over the clip: each one's median over the probe frames (file units). Not the rest
    # pose's: a derived joint placed from the rest pose's rotations can sit ~1 cm off where the clip puts it.
    parent_index = np.maximum(np.array(PARENTS), 0)
    probe_joints = resolved.joints(probe, probe_world_rot)  # (P, 22, 3)
    lengths = np.median(np.linalg.norm(probe_joints - probe_joints[:, parent_index], axis=-1), axis=0)  # (22,)

    keep = _needed_joints(source.parents, resolved.weights)
    remap = {int(old): new for new, old in enumerate(keep)}
    parents = np.array([remap.get(int(source.parents[j]), -1) for j in keep], dtype=np.int64)
    mapped = bone_maps.ResolvedMap(
        resolved.weights[:, keep], resolved.convention, (),
        np.array([remap.get(int(a), -1) for a in resolved.anchors]), resolved.local_offsets,
    )  # fmt: skip

    def pose(rotations, translations):  # local transforms of the kept joints -> (F, 22, 3) file units
        world_rot, positions = fk_matrices(parents, rotations, translations)
        return rigid_bones(mapped.joints(positions, world_rot), lengths, rest)

    # Straightened offsets are decided over the whole clip (an animated offset is left alone), once per joint.
    straight = {}
    for j in resolved.straighten:
        if j in remap:
            offsets = source.transforms(np.array([j]))[1][:, 0]  # (F, 3)
            straight[remap[j]] = straighten_offset(offsets)[0] if np.ptp(offsets, axis=0).max() <= 1e-9 else None

    def local(frames):  # (n,) source frames -> local transforms of the kept joints (n, K, 3, 3), (n, K, 3)
        rotations, translations = source.transforms(keep, frames)
        for k, offset in straight.items():
            if offset is not None:
                translations[:, k] = offset
        return rotations, translations

    # FK a chunk of frames at a time: the local transforms of a whole clip take ~3x a BVH file's size.
    joints = np.empty((frames, 22, 3))  # file units
    for first in range(0, frames, FK_CHUNK_FRAMES):
        chunk = np.arange(first, min(first + FK_CHUNK_FRAMES, frames))
        joints[chunk] = pose(*local(chunk))

    if units is None and scale is None and source.metres_per_unit is not None:
        unit_name, metres = "asf", source.metres_per_unit
    else:
        if scale is not None:
            unit_name, file_scale = "scale", float(scale)
        elif units is not None:
            unit_name, file_scale = units, UNITS[units]
        else:
            unit_name, notes = choose_units(estimate_height(joints))
            file_scale = UNITS[unit_name]
            warnings += notes
        # ASF translations are metres already (its declared unit); a forced unit replaces that one.
        metres = file_scale / source.file_unit if source.file_unit else file_scale
    joints *= metres
    rest = rest * metres
    height = estimate_height(joints)
    warnings += height_warnings(height, metres * (source.file_unit or 1.0))

    dropped = count_tpose_frames(joints, source.fps)
    if up == "auto":
        up_name, up_method, evidence = decide_up(joints[dropped:], source.fps, rest, asf=source.file_unit is not None)
    else:
        up_name, up_method, evidence = up, "given", {}

    # Resample the source's local rotations (after dropping converter frames) and FK again at the target rate.
    if abs(source.fps - fps) > 1e-9:
        del joints  # the source-rate joints are done with: free them before the resampled ones are made
        lower, frac = resample_times(frames - dropped, source.fps, fps)
        joints = np.empty((len(lower), 22, 3))
        for first in range(0, len(lower), FK_CHUNK_FRAMES):
            part = slice(first, first + FK_CHUNK_FRAMES)
            # Only the source frames each target time lies between are read and turned into quaternions.
            needed, at = np.unique(np.concatenate([lower[part], lower[part] + 1]), return_inverse=True)
            rotations, translations = local(needed + dropped)
            n = len(lower[part])
            rotations, translations = blend_rotations(rotations, translations, at[:n], at[n:], frac[part])
            joints[part] = pose(rotations, translations) * metres  # (t, 22, 3) metres
    else:
        joints = joints[dropped:]

    joints = to_y_up_facing_z(joints, axis_vector(up_name))
    if not np.all(np.isfinite(joints)):  # e.g. NaN bone lengths in an ASF: never hand NaN joints on
        raise MotionError(f"{Path(path).name}: the imported joints are not finite numbers (NaN/inf); the file holds "
                          "corrupt values")
    return ImportedMotion(
        joints=joints.astype(np.float32),
        fps=float(fps),
        source_fps=float(source.fps),
        convention=resolved.convention,
        source=str(path),
        units=unit_name,
        up_axis=up_name,
        dropped_frames=int(dropped),
        source_frames=int(frames),
        scale=float(metres * (source.file_unit or 1.0)),
        height_m=float(height),
        up_method=up_method,
        up_evidence=evidence,
        warnings=warnings,
        asf=source.asf,
    )


def facing_direction(joints):
    """Horizontal forward (unit, y = 0) of poses (..., 22, 3), Y-up: perpendicular to hips + shoulders (HumanML3D).

    Returns (..., 3); a pose whose hips and shoulders give no horizontal direction faces +Z.
    """
    joints = np.asarray(joints, dtype=np.float64)
    across = (joints[..., _J["right_hip"], :] - joints[..., _J["left_hip"], :]) + (
        joints[..., _J["right_shoulder"], :] - joints[..., _J["left_shoulder"], :]
    )
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward[..., 1] = 0.0
    norm = np.linalg.norm(forward, axis=-1, keepdims=True)
    fallback = np.broadcast_to(np.array([0.0, 0.0, 1.0]), forward.shape)
    return np.where(norm > 1e-9, forward / np.maximum(norm, 1e-12), fallback)


def to_y_up_facing_z(joints, up):
    """Rotate `up` to +Y, then about Y so frame 0 faces +Z; root xz at the origin; lowest foot joint at y = 0.
    joints: (T, 22, 3) metres -> (T, 22, 3)."""
    to_y = quat_between(np.asarray(up, dtype=np.float64), np.array([0.0, 1.0, 0.0]))
    joints = quat_rotate(to_y, joints)
    forward = facing_direction(joints[0])
    # A pure yaw (about +Y) taking forward to +Z; quat_between could pick another axis for a 180 degree turn.
    yaw = np.arctan2(forward[0], forward[2])
    joints = quat_rotate(quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), -yaw), joints)
    joints = joints - np.array([joints[0, 0, 0], 0.0, joints[0, 0, 2]])
    feet = list(FEET_LEFT) + list(FEET_RIGHT)
    joints[..., 1] -= joints[:, feet, 1].min()
    return joints

"""Import real mocap (BVH, ASF/AMC) onto our 22-joint skeleton: metres, Y-up, facing +Z at frame 0, 20 fps.

Pipeline of `import_motion`:
  read (any hierarchy) -> FK to world positions -> map onto the 22 joints (bone_maps) -> units to metres (declared by
  ASF; detected from leg length for BVH) -> up axis to +Y (detected from feet->neck, so Z-up files work) -> drop
  converter T-pose frames at the start (a pose jump into the first real frame) -> resample to `fps` by slerping the
  source's local joint rotations and FK again (not by striding) -> turn frame 0 to face +Z, root at the xz origin,
  floor (lowest foot joint over the clip) at y = 0.
Left/right handedness is kept: every axis change is a proper rotation.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion import asf_amc, bone_maps
from motion_core.motion.bvh import read_bvh
from motion_core.motion.rotations import (
    matrix_to_quat,
    quat_between,
    quat_from_axis_angle,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
)
from motion_core.motion.skeleton import FEET_LEFT, FEET_RIGHT, JOINT_NAMES

# Candidate length units, metres per file unit. CMU's ASF unit (1/0.45 inch) shows up in cgspeed's MB/Max BVHs.
UNITS = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
# Adult hip->knee->ankle length (SMPL's t2m skeleton: 0.39 + 0.43 m); units are picked to land nearest to it.
TYPICAL_LEG_LENGTH = 0.8
# Converter frames at the start: cgspeed's Daz files put a T-pose in frame 0 (some files 2-5 such frames, placed
# elsewhere, then a jump of the whole body to the capture) and blend into the capture over ~4 frames with
# root-relative joint speeds of 4-20 m/s. Captured motion stays well under 2 m/s on average over the 22 joints, and no
# body moves at 50 m/s. Within the first 0.1 s we drop everything up to the last such jump, then the blend frames.
TPOSE_SPEED = 2.0  # m/s, mean over joints of the root-relative speed (and > 4x the clip's median)
TELEPORT_SPEED = 50.0  # m/s, mean over joints of the world speed
MAX_DROPPED_SECONDS = 0.1

_J = {name: i for i, name in enumerate(JOINT_NAMES)}


@dataclass
class ImportedMotion:
    """joints: (T, 22, 3) float32, metres, Y-up, +Z forward at frame 0, HumanML3D joint order, at `fps`."""

    joints: np.ndarray
    fps: float
    source_fps: float
    convention: str
    source: str
    units: str = ""  # the detected/declared length unit name (see UNITS), or "asf"
    up_axis: str = "+Y"  # the source's up axis before conversion
    dropped_frames: int = 0  # converter T-pose frames removed at the start
    source_frames: int = 0
    info: dict = field(default_factory=dict)

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
    metres_per_unit: Optional[float] = None  # known (ASF) or None (detect)


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
        skeleton = asf_amc.read_asf(asf if asf is not None else asf_amc.find_asf_for(path))
        motion = asf_amc.read_amc(path, skeleton)
        names, parents, rotations, translations = asf_amc.local_transforms(skeleton, motion)

        def transforms(joints=None, frames=None):
            rot, trans = rotations, translations
            if frames is not None:
                rot, trans = rot[frames], trans[frames]
            if joints is not None:
                rot, trans = rot[:, joints], trans[:, joints]
            return rot, trans

        return SourceMotion(names, parents, motion.frames, asf_amc.AMC_FPS, transforms, metres_per_unit=1.0)
    raise MotionError(f"{path.name} is a skeleton only; import the .amc motion and pass --asf {path.name}")


def _tidy_fps(fps):
    """120.00048 -> 120.0: frame times are printed rounded (0.0083333); keep exact rates exact."""
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) < 1e-3 * fps else float(fps)


def forward_kinematics(parents, rotations, translations):
    """World positions of a joint tree. rotations: (F, S, 3, 3) local; translations: (F, S, 3) -> (F, S, 3)."""
    world_rot = np.empty_like(rotations)
    positions = np.empty_like(translations)
    for j, p in enumerate(parents):
        if p < 0:
            world_rot[:, j] = rotations[:, j]
            positions[:, j] = translations[:, j]
        else:
            world_rot[:, j] = world_rot[:, p] @ rotations[:, j]
            positions[:, j] = positions[:, p] + (world_rot[:, p] @ translations[:, j, :, None])[..., 0]
    return positions


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


def detect_units(joints_raw) -> str:
    """Name of the UNITS entry that makes the legs (hip->knee->ankle) closest to an adult's, in log scale."""
    legs = []
    for side in ("left", "right"):
        hip, knee, ankle = (joints_raw[:, _J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
        legs.append(np.linalg.norm(hip - knee, axis=-1) + np.linalg.norm(knee - ankle, axis=-1))
    leg = float(np.median(np.concatenate(legs)))
    if not leg > 0:
        raise MotionError("the skeleton's legs have zero length; check the file or pass --map MAP.json")
    return min(UNITS, key=lambda u: abs(np.log(leg * UNITS[u] / TYPICAL_LEG_LENGTH)))


def detect_up(joints) -> np.ndarray:
    """Unit up vector of the source: the coordinate axis (+-X, +-Y, +-Z) nearest to the mean direction from the
    ankles' midpoint to the neck. Always snapped: files are authored axis-aligned, while a runner's lean or a
    crouch tilts the mean body direction by 30+ degrees. joints: (F, 22, 3) -> (3,)."""
    ankles = 0.5 * (joints[:, _J["left_ankle"]] + joints[:, _J["right_ankle"]])
    up = np.mean(joints[:, _J["neck"]] - ankles, axis=0)
    norm = np.linalg.norm(up)
    if not norm > 0:
        return np.array([0.0, 1.0, 0.0])
    up = up / norm
    axis = int(np.argmax(np.abs(up)))
    snapped = np.zeros(3)
    snapped[axis] = np.sign(up[axis])
    return snapped


def _axis_name(up):
    axis = int(np.argmax(np.abs(up)))
    return ("+" if up[axis] > 0 else "-") + "XYZ"[axis]


def count_tpose_frames(joints, fps) -> int:
    """Number of leading converter frames: those before a jump of the whole body (TELEPORT_SPEED) near the start,
    then the blend frames whose root-relative pose moves faster than TPOSE_SPEED and 4x the clip's median.
    joints: (F, 22, 3) metres at `fps`."""
    limit = min(max(1, int(round(MAX_DROPPED_SECONDS * fps))), len(joints) - 2)
    world_speed = np.mean(np.linalg.norm(np.diff(joints, axis=0), axis=-1), axis=-1) * fps  # (F-1,) m/s
    jumps = np.nonzero(world_speed[:limit] > TELEPORT_SPEED)[0]
    dropped = int(jumps[-1]) + 1 if len(jumps) else 0
    pose = joints - joints[:, :1]
    speed = np.mean(np.linalg.norm(np.diff(pose, axis=0), axis=-1), axis=-1) * fps
    threshold = max(TPOSE_SPEED, 4.0 * float(np.median(speed)))
    blend_limit = min(dropped + limit, len(joints) - 2)
    while dropped < blend_limit and speed[dropped] > threshold:
        dropped += 1
    return dropped


def resample_rotations(rotations, translations, source_fps, fps):
    """Resample local transforms to `fps`: slerp rotations, lerp translations at exact target times.

    rotations: (F, S, 3, 3); translations: (F, S, 3) -> (T, S, 3, 3), (T, S, 3), T = floor(duration * fps) + 1.
    """
    frames = rotations.shape[0]
    if frames == 1 or abs(source_fps - fps) < 1e-9:
        return rotations, translations
    duration = (frames - 1) / source_fps
    times = np.arange(int(np.floor(duration * fps + 1e-6)) + 1) / fps
    position = times * source_fps
    lower = np.minimum(np.floor(position).astype(np.int64), frames - 2)
    frac = position - lower  # (T,)
    quats = matrix_to_quat(rotations)  # (F, S, 4)
    q = quat_slerp(quats[lower], quats[lower + 1], frac[:, None])
    t = translations[lower] + frac[:, None, None] * (translations[lower + 1] - translations[lower])
    return quat_to_matrix(q), t


def import_motion(path, asf=None, bone_map=None, fps=20.0, units=None) -> ImportedMotion:
    """Import a mocap file onto the 22-joint skeleton.

    Args:
        path: .bvh, or .amc (with `asf`, or an .asf found beside it).
        bone_map: None (detect the convention from bone names), a user map dict / JSON path keyed by our joint names.
        fps: output frame rate (20 = HumanML3D).
        units: force a length unit name from UNITS (BVH only); None detects it.
    Returns:
        ImportedMotion with joints (T, 22, 3) float32, metres, Y-up, facing +Z at frame 0, root at the xz origin,
        lowest foot joint at y = 0.
    """
    if not 0 < fps <= 1000:
        raise MotionError(f"output fps must be between 0 and 1000, got {fps}")
    source = read_source(path, asf)
    frames = source.frames
    if frames < 2:
        raise MotionError(f"{Path(path).name} has {frames} frame; a motion needs at least 2")

    # Resolve the bone map on a few frames (bones are rigid), then pose only the source joints it needs.
    probe_frames = np.unique(np.linspace(0, frames - 1, min(frames, 32)).round().astype(np.int64))
    probe = forward_kinematics(source.parents, *source.transforms(None, probe_frames))
    resolved = bone_maps.resolve(source.names, source.parents, probe, bone_map)
    keep = _needed_joints(source.parents, resolved.weights)
    remap = {int(old): new for new, old in enumerate(keep)}
    parents = np.array([remap.get(int(source.parents[j]), -1) for j in keep], dtype=np.int64)
    weights = resolved.weights[:, keep]  # (22, K)
    rotations, translations = source.transforms(keep)
    for j in resolved.straighten:
        if j in remap:
            translations[:, remap[j]] = straighten_offset(translations[:, remap[j]])
    joints = weights @ forward_kinematics(parents, rotations, translations)  # (F, 22, 3) file units

    if source.metres_per_unit is not None:
        unit_name, scale = "asf", source.metres_per_unit
    else:
        if units is not None and units not in UNITS:
            raise MotionError(f"unknown units {units!r}; use one of {', '.join(UNITS)}")
        unit_name = units or detect_units(joints)
        scale = UNITS[unit_name]
    joints = joints * scale

    dropped = count_tpose_frames(joints, source.fps)
    up = detect_up(joints[dropped:])

    # Resample the source's local rotations (after dropping converter frames) and FK again at the target rate.
    if abs(source.fps - fps) > 1e-9:
        rotations, translations = resample_rotations(rotations[dropped:], translations[dropped:], source.fps, fps)
        joints = weights @ (forward_kinematics(parents, rotations, translations) * scale)  # (T, 22, 3) metres
    else:
        joints = joints[dropped:]

    joints = to_y_up_facing_z(joints, up)
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
        up_axis=_axis_name(up),
        dropped_frames=int(dropped),
        source_frames=int(frames),
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

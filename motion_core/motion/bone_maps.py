"""Bone maps: which source bones give each of our 22 joints, for common skeleton conventions, detected by bone names.

A source skeleton (BVH or ASF) gives world positions of its joints (S of them, end sites included). We build a fixed
(22, S) weight matrix W so that our joints = W @ source positions, per frame. Rows are:
- a direct bone for 16 joints (hips, knees, ankles, feet, neck, head, shoulders, elbows, wrists);
- pelvis, spine1, spine2, spine3: points along the source spine (the polyline from the mid-point of the two hip
  joints up the bone chain to the neck), at the arc-length fractions where SMPL has them, so a source with two, three
  or four spine bones lands the same way;
- collars: a blend of neck, shoulder and spine3, because sources put the clavicle root anywhere from the midline
  (CMU/MotionBuilder) to halfway to the shoulder, while SMPL's collar sits between neck and shoulder.
A user map (`{"pelvis": "Hips", ...}`, keyed by our joint names) may give any joint directly; a value is a bone name,
a list of bone names (their mean) or a {bone: weight} object. Joints it leaves out are derived as above.

Bone names match after dropping a namespace prefix ("mixamorig:Hips" -> "Hips").
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.skeleton import JOINT_NAMES

# The 16 joints every map names directly (SMPL joint centres ~ the head of the matching source bone).
DIRECT_JOINTS = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot",
    "neck", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
SPINE_JOINTS = ("pelvis", "spine1", "spine2", "spine3")
# Arc-length fractions of pelvis, spine1..3 along hip-midpoint -> neck, from SMPL's t2m skeleton (000021) bone
# lengths: hip-midpoint->pelvis 0.085, pelvis->spine1 0.132, ->spine2 0.143, ->spine3 0.057, ->neck 0.219 m.
_SPINE_LENGTHS = np.array([0.085, 0.1316, 0.1432, 0.0574, 0.2194])
SPINE_FRACTIONS = np.cumsum(_SPINE_LENGTHS)[:4] / _SPINE_LENGTHS.sum()
# Collar = 0.4 neck + 0.4 shoulder + 0.2 spine3 (fits SMPL's collar to ~2 cm on a HumanML3D sample frame).
COLLAR_BLEND = {"neck": 0.4, "shoulder": 0.4, "spine3": 0.2}


@dataclass(frozen=True)
class BoneMap:
    """A convention: our joint name -> source bone name, for at least the 16 DIRECT_JOINTS.

    `marker` bones must exist too (they tell apart conventions that share limb names, e.g. MotionBuilder vs Mixamo).
    `straighten` bones get their rest OFFSET turned onto its dominant axis (length kept) before FK: for converters
    that copied the capture's rotations onto a rest pose whose bone is angled (see cgspeed-daz).
    """

    name: str
    description: str
    bones: dict
    markers: tuple = field(default=())
    straighten: tuple = field(default=())

    def required(self):
        return set(self.bones.values()) | set(self.markers)


def _sided(left_prefix, right_prefix, names):
    """{"left_hip": "<L>Thigh", "right_hip": "<R>Thigh", ...} from {"hip": "Thigh", ...}."""
    out = {}
    for joint, bone in names.items():
        out[f"left_{joint}"] = left_prefix + bone
        out[f"right_{joint}"] = right_prefix + bone
    return out


CONVENTIONS = (
    BoneMap(
        "motion-mamba",
        "our own BVH export (bones named as the 22 joints)",
        {name: name for name in JOINT_NAMES},
    ),
    BoneMap(
        "cgspeed-daz",
        "cgspeed CMU BVH, Daz-friendly (root 'hip')",
        {
            **_sided("l", "r", {"hip": "Thigh", "knee": "Shin", "ankle": "Foot", "foot": "Foot_end",
                                "shoulder": "Shldr", "elbow": "ForeArm", "wrist": "Hand"}),
            "neck": "neck", "head": "head",
        },
        markers=("hip", "abdomen", "chest"),
        # The Daz rest pose angles the hand 17 degrees forward of the forearm, while the rotations are CMU's
        # (forearm and hand along one axis): the straightened offset puts the wrist where the MotionBuilder and
        # iClone conversions of the same trials have it (11.7 -> 4.4 cm mean wrist distance on 02_01).
        straighten=("lHand", "rHand"),
    ),
    BoneMap(
        "cgspeed-motionbuilder",
        "cgspeed CMU BVH, MotionBuilder-friendly (root 'Hips')",
        {
            **_sided("Left", "Right", {"hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase",
                                       "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand"}),
            "neck": "Neck1", "head": "Head",
        },
        markers=("Hips", "LHipJoint", "LowerBack", "Spine1"),
    ),
    BoneMap(
        "cgspeed-3dsmax",
        "cgspeed CMU BVH, 3dsMax-friendly (root 'Hips', LeftHip/LeftKnee/LeftAnkle)",
        {
            **_sided("Left", "Right", {"hip": "Hip", "knee": "Knee", "ankle": "Ankle", "foot": "Toe",
                                       "shoulder": "Shoulder", "elbow": "Elbow", "wrist": "Wrist"}),
            "neck": "Neck", "head": "Head",
        },
        markers=("Hips", "Chest"),
    ),
    BoneMap(
        "iclone",
        "Character Creator / iClone rig (CC_Base_*, optional RL_BoneRoot)",
        {
            **_sided("CC_Base_L_", "CC_Base_R_", {"hip": "Thigh", "knee": "Calf", "ankle": "Foot", "foot": "ToeBase",
                                                  "shoulder": "Upperarm", "elbow": "Forearm", "wrist": "Hand"}),
            "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
        },
        markers=("CC_Base_Hip",),
    ),
    BoneMap(
        "cmu-asf",
        "CMU ASF/AMC skeleton (root, lfemur, ltibia, ...), also as BVH",
        {
            **_sided("l", "r", {"hip": "femur", "knee": "tibia", "ankle": "foot", "foot": "toes",
                                "shoulder": "humerus", "elbow": "radius", "wrist": "wrist"}),
            "neck": "lowerneck", "head": "head",
        },
        markers=("lowerback", "thorax"),
    ),
    BoneMap(
        "mixamo",
        "Mixamo rig (mixamorig:Hips, Spine, Spine1, Spine2, ...)",
        {
            **_sided("Left", "Right", {"hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase",
                                       "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand"}),
            "neck": "Neck", "head": "Head",
        },
        markers=("Hips", "Spine", "Spine2"),
    ),
)  # fmt: skip

def strip_namespace(name: str) -> str:
    """'mixamorig:LeftArm' -> 'LeftArm'; 'Armature|Hips' -> 'Hips'."""
    for sep in (":", "|"):
        if sep in name:
            name = name.rsplit(sep, 1)[1]
    return name


@dataclass
class ResolvedMap:
    """weights: (22, S) float64, our joints = weights @ source positions (S,3); convention: its name;
    straighten: source joint indices whose rest offsets are to be axis-aligned (BoneMap.straighten)."""

    weights: np.ndarray
    convention: str
    straighten: tuple = ()


def detect_convention(source_names):
    """The first built-in BoneMap whose bones all exist in `source_names`; else MotionError naming what is missing."""
    present = {strip_namespace(n) for n in source_names}
    best, best_missing = None, None
    for bone_map in CONVENTIONS:
        missing = sorted(bone_map.required() - present)
        if not missing:
            return bone_map
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = bone_map, missing
    unmapped = [j for j, b in best.bones.items() if b not in present]
    raise MotionError(
        f"unknown skeleton: could not map joints {', '.join(unmapped) or '(markers ' + ', '.join(best_missing) + ')'} "
        f"(closest convention: {best.name}); pass --map MAP.json with our joint names as keys, "
        'e.g. {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...}'
    )


def load_user_map(path_or_dict):
    """A user bone map from a JSON file path or a dict: {our joint name: bone | [bones] | {bone: weight}}."""
    if isinstance(path_or_dict, dict):
        data = path_or_dict
    else:
        path = Path(path_or_dict)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise MotionError(f"bone map not found: {path}") from None
        except (OSError, ValueError) as error:
            raise MotionError(
                f'bone map {path.name} is not valid JSON ({error}); write {{"pelvis": "Hips", ...}}'
            ) from None
    if not isinstance(data, dict):
        raise MotionError('a bone map must be a JSON object like {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...}')
    unknown = sorted(set(data) - set(JOINT_NAMES))
    if unknown:
        raise MotionError(f"bone map has unknown joint names {', '.join(unknown)}; use: {', '.join(JOINT_NAMES)}")
    return data


def resolve(source_names, source_parents, positions, bone_map=None) -> ResolvedMap:
    """Build the (22, S) weight matrix mapping source joint positions onto our 22 joints.

    Args:
        source_names: S names; source_parents: (S,) ints (-1 root), parents before children.
        positions: (F, S, 3) world positions of the source joints (any units); used for spine arc lengths.
        bone_map: None (detect), a dict or a JSON path (user map keyed by our joint names), or a BoneMap.
    """
    stripped = [strip_namespace(n) for n in source_names]
    index = {}
    for i, n in enumerate(stripped):
        index.setdefault(n, i)
    if bone_map is None:
        bone_map = detect_convention(stripped)
    straighten = ()
    if isinstance(bone_map, BoneMap):
        convention, spec = bone_map.name, dict(bone_map.bones)
        straighten = tuple(index[b] for b in bone_map.straighten if b in index)
    else:
        convention, spec = "user-map", load_user_map(bone_map)

    S = len(source_names)
    rows = {}
    missing = []
    for joint, value in spec.items():
        row = _row_from_value(joint, value, index, S, missing)
        if row is not None:
            rows[joint] = row
    if missing:
        raise MotionError(f"bone map names bones not in this file: {', '.join(sorted(set(missing)))}; check --map")
    lacking = [j for j in DIRECT_JOINTS if j not in rows]
    if lacking:
        raise MotionError(f"bone map lacks joints {', '.join(lacking)}; add them to --map (keys are our joint names)")

    spine_rows = _spine_rows(rows, spec, index, source_parents, positions, S)
    for joint, row in spine_rows.items():
        rows.setdefault(joint, row)
    for side in ("left", "right"):
        blend = (
            COLLAR_BLEND["neck"] * rows["neck"]
            + COLLAR_BLEND["shoulder"] * rows[f"{side}_shoulder"]
            + COLLAR_BLEND["spine3"] * rows["spine3"]
        )
        rows.setdefault(f"{side}_collar", blend)
    weights = np.stack([rows[j] for j in JOINT_NAMES])
    return ResolvedMap(weights=weights, convention=convention, straighten=straighten)


def _row_from_value(joint, value, index, S, missing):
    if isinstance(value, str):
        value = {value: 1.0}
    elif isinstance(value, (list, tuple)):
        if not value:
            raise MotionError(f"bone map entry for {joint} is an empty list")
        value = {b: 1.0 / len(value) for b in value}
    elif not isinstance(value, dict):
        raise MotionError(f"bone map entry for {joint} must be a bone name, a list of names or {{name: weight}}")
    row = np.zeros(S)
    for bone, weight in value.items():
        key = strip_namespace(str(bone))
        if key not in index:
            missing.append(str(bone))
            continue
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise MotionError(f"bone map weight for {joint}/{bone} is not a number") from None
        if not 0 < weight < float("inf"):  # also NaN: a joint must be a positive blend of its bones
            raise MotionError(f"bone map weight for {joint}/{bone} must be a positive number (its share of the "
                              f"joint), got {weight:g}")
        row[index[key]] += weight
    return row


def _spine_rows(rows, spec, index, parents, positions, S):
    """pelvis, spine1..3 at SMPL arc-length fractions along [hip midpoint, spine chain..., neck]."""
    hip_mid = 0.5 * (rows["left_hip"] + rows["right_hip"])
    neck_bone = _main_bone(rows["neck"])
    hip_bone = _main_bone(rows["left_hip"])
    chain = _path_below_common_ancestor(parents, hip_bone, neck_bone)  # bones from above the LCA to the neck
    vertices = [hip_mid] + [np.eye(S)[b] for b in chain[:-1]] + [rows["neck"]]
    # Segment lengths from the median over frames (bones are rigid, so any frame gives nearly the same).
    points = np.einsum("vs,fsc->fvc", np.stack(vertices), positions)  # (F, V, 3)
    lengths = np.median(np.linalg.norm(np.diff(points, axis=1), axis=-1), axis=0)  # (V-1,)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    total = cumulative[-1]
    if not total > 0:
        raise MotionError("the skeleton's spine has zero length (neck at the hips); pass --map MAP.json")
    out = {}
    for joint, fraction in zip(SPINE_JOINTS, SPINE_FRACTIONS):
        target = fraction * total
        seg = int(np.clip(np.searchsorted(cumulative, target, side="right") - 1, 0, len(lengths) - 1))
        t = (target - cumulative[seg]) / lengths[seg] if lengths[seg] > 0 else 0.0
        out[joint] = (1.0 - t) * vertices[seg] + t * vertices[seg + 1]
    return out


def _main_bone(row):
    return int(np.argmax(row))


def _path_below_common_ancestor(parents, a, b):
    """Bones on the path from (exclusive) the lowest common ancestor of a and b down to b (inclusive)."""
    ancestors_a = set()
    j = a
    while j >= 0:
        ancestors_a.add(j)
        j = int(parents[j])
    path = []
    j = b
    while j >= 0 and j not in ancestors_a:
        path.append(j)
        j = int(parents[j])
    return path[::-1]

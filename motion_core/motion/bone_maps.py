"""Bone maps: which source bones give each of our 22 joints, for common skeleton conventions, detected by bone names.

A source skeleton (BVH or ASF) gives world positions and rotations of its joints (S of them, end sites included).
Our joints come from them as follows (`ResolvedMap.joints`):
- a direct bone for 16 joints (hips, knees, ankles, feet, neck, head, shoulders, elbows, wrists): that bone's joint;
- pelvis, spine1, spine2, spine3: points along the source spine (the polyline from the mid-point of the two hip
  joints up the bone chain to the neck), at the arc-length fractions where SMPL has them, so a source with two, three
  or four spine bones lands the same way; a point within SPINE_SNAP of a source spine joint moves onto it;
- collars: a blend of neck, shoulder and spine3, because sources put the clavicle root anywhere from the midline
  (CMU/MotionBuilder) to halfway to the shoulder, while SMPL's collar sits between neck and shoulder.
These derived joints are rigid: each rides on one source bone (a spine point on the bone whose segment holds it, a
collar on the bone that carries the shoulder, i.e. the clavicle) at a fixed offset in that bone's frame, the
least-squares fit over the clip's frames. So a bone of ours whose two ends ride on one source bone keeps one length
(collar -> shoulder always); one that spans a source joint still bends with it (measured in the tests).
A user map (`{"pelvis": "Hips", ...}`, keyed by our joint names) may give any joint directly; a value is a bone name,
a list of bone names (their mean) or a {bone: weight} object; null, and keys starting with "_", are ignored. Joints
it leaves out are derived as above. `suggest_map` writes a starter from bone names.

Rig presets (`PRESETS`: Mixamo, Rigify, CC/iClone, UE4/5, SMPL) name a target armature's bone for all 22 joints;
the add-on retargets onto them (`detect`, `resolve_preset`). The conventions that a rig family shares with files
(Mixamo, CC/iClone) take their 16 direct bones from its preset, so each family is spelled once.

Bone names in files match after dropping a namespace prefix ("mixamorig:Hips" -> "Hips"). End Sites have no name in a
BVH file; they are named `<parent bone>_end` ("LeftToeBase_end", "head_end"), and an ASF leaf bone's end `<bone>_end`.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

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
# A derived spine joint within this fraction of the spine's length from a source spine joint moves onto it, so the
# bones on either side keep their lengths (see _spine_points). Measured on the CMU sample (max length change over a
# clip, pelvis->spine1 / spine1->spine2): 0.05 takes iClone from 26 / 9 mm to 13 / 0 mm and Daz from 2 mm to 0 at a
# cost of 0.3 cm in cross-convention pose distance (3.3 -> 3.6 cm, daz vs iclone 02_01); 0.1 makes every spine bone
# rigid in all five conventions but moves spine joints 3-5 cm and costs 2-3 cm of pose distance (to 5.6-6.9 cm).
SPINE_SNAP = 0.05


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


# ----------------------------------------------------------------------------------------------------------------------
# Rig presets: a target armature's bones for all 22 joints (the add-on retargets onto them; its bone_maps.py holds
# their UI labels and the user's saved maps).
#
# A bone is mapped to the joint at its *head* (Mixamo `LeftArm` starts at the shoulder joint). Preset values may list
# alternatives; the first one the armature has wins. Names match exactly (any case) or as a suffix after a separator
# (`name_matches`), so `mixamorig:LeftArm`, `mixamorig1_LeftArm` and `Armature|LeftArm` all match `LeftArm`.

Names = Union[str, Tuple[str, ...]]


def _sides(left_template: str, right_template: str, parts: Dict[str, Names]) -> Dict[str, Names]:
    """Expand {joint_suffix: name pattern with {s}} into left/right entries (rig presets; see `_sided` for files)."""
    out: Dict[str, Names] = {}
    for suffix, pattern in parts.items():
        for side, token in (("left", left_template), ("right", right_template)):
            if isinstance(pattern, tuple):
                out[f"{side}_{suffix}"] = tuple(p.format(s=token) for p in pattern)
            else:
                out[f"{side}_{suffix}"] = pattern.format(s=token)
    return out


_LIMBS = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist")

PRESETS: Dict[str, Dict[str, Names]] = {
    "SMPL": {**{j: j for j in JOINT_NAMES}},
    "SMPL_X": {  # MPI/Meshcapade SMPL(-X) add-ons and SMPL FBX exports (`m_avg_L_Hip` matches as a suffix)
        "pelvis": "Pelvis", "spine1": "Spine1", "spine2": "Spine2", "spine3": "Spine3", "neck": "Neck", "head": "Head",
        **_sides("L", "R", dict(zip(_LIMBS, ("{s}_Hip", "{s}_Knee", "{s}_Ankle", "{s}_Foot", "{s}_Collar",
                                             "{s}_Shoulder", "{s}_Elbow", "{s}_Wrist")))),
    },
    "MIXAMO": {
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
        **_sides("Left", "Right", dict(zip(_LIMBS, ("{s}UpLeg", "{s}Leg", "{s}Foot", "{s}ToeBase", "{s}Shoulder",
                                                    "{s}Arm", "{s}ForeArm", "{s}Hand")))),
    },
    "RIGIFY_DEFORM": {
        "pelvis": "DEF-spine", "spine1": "DEF-spine.001", "spine2": "DEF-spine.002", "spine3": "DEF-spine.003",
        "neck": "DEF-spine.004", "head": "DEF-spine.006",
        **_sides("L", "R", dict(zip(_LIMBS, ("DEF-thigh.{s}", "DEF-shin.{s}", "DEF-foot.{s}", "DEF-toe.{s}",
                                             "DEF-shoulder.{s}", "DEF-upper_arm.{s}", "DEF-forearm.{s}",
                                             "DEF-hand.{s}")))),
    },
    "RIGIFY_CONTROL": {  # FK controls (see RIG_EXTRAS: deform bones mark the joints, torso carries the root)
        "pelvis": ("spine_fk", "torso"), "spine1": "spine_fk.001", "spine2": "spine_fk.002",
        "spine3": ("spine_fk.003", "chest"), "neck": "neck", "head": "head",
        **_sides("L", "R", dict(zip(_LIMBS, ("thigh_fk.{s}", "shin_fk.{s}", "foot_fk.{s}", ("toe_fk.{s}", "toe.{s}"),
                                             "shoulder.{s}", "upper_arm_fk.{s}", "forearm_fk.{s}", "hand_fk.{s}")))),
    },
    "CC_ICLONE": {  # Character Creator / iClone / ActorCore (CC_Base_ prefix; CC3+ names)
        "pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
        "spine3": "CC_Base_Spine02", "neck": ("CC_Base_NeckTwist01", "CC_Base_Neck"), "head": "CC_Base_Head",
        **_sides("L", "R", dict(zip(_LIMBS, ("CC_Base_{s}_Thigh", "CC_Base_{s}_Calf", "CC_Base_{s}_Foot",
                                             "CC_Base_{s}_ToeBase", "CC_Base_{s}_Clavicle", "CC_Base_{s}_Upperarm",
                                             "CC_Base_{s}_Forearm", "CC_Base_{s}_Hand")))),
    },
    "UE5_MANNEQUIN": {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05", "neck": "neck_01",
        "head": "head",
        **_sides("l", "r", dict(zip(_LIMBS, ("thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}", "clavicle_{s}",
                                             "upperarm_{s}", "lowerarm_{s}", "hand_{s}")))),
    },
    "UE4_MANNEQUIN": {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01",
        "head": "head",
        **_sides("l", "r", dict(zip(_LIMBS, ("thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}", "clavicle_{s}",
                                             "upperarm_{s}", "lowerarm_{s}", "hand_{s}")))),
    },
}


@dataclass(frozen=True)
class RigExtras:
    """What a preset of animation controls needs beyond joint -> bone.

    markers: the preset whose bones sit on the joints (the controls do not: Rigify's lower spine controls pivot at
        their tops). followers: bone -> joint, more bones that turn with that joint (Rigify's torso, the master
        above the hips and chest). root: the bone keyed with the root motion. switches: (bone, property, value)
        keyed in the new action so the controls drive the body (limbs to FK, neck and head following the chest).
    """

    markers: Optional[str] = None
    followers: Dict[str, str] = field(default_factory=dict)
    root: Optional[str] = None
    switches: Tuple[Tuple[str, str, float], ...] = ()


RIG_EXTRAS = {
    "RIGIFY_CONTROL": RigExtras(
        markers="RIGIFY_DEFORM", followers={"torso": "pelvis"}, root="torso",
        switches=tuple((f"{limb}_parent.{s}", prop, value) for limb in ("upper_arm", "thigh") for s in "LR"
                       for prop, value in (("IK_FK", 1.0), ("FK_limb_follow", 0.0)))
        + (("torso", "neck_follow", 1.0), ("torso", "head_follow", 1.0))),
}

# A usable map needs the root and enough of the body to pose it.
MIN_MAPPED = 12
_SEPARATORS = ":_|. -"


def name_matches(bone: str, wanted: str) -> bool:
    """Exact (case-insensitive) or a suffix after a separator: `mixamorig:LeftArm` matches `LeftArm`."""
    b, w = bone.lower(), wanted.lower()
    if b == w:
        return True
    return b.endswith(w) and b[-len(w) - 1] in _SEPARATORS


def resolve_preset(preset: Dict[str, Names], bone_names: Iterable[str]) -> Dict[str, str]:
    """Map a preset onto an armature's bones: joint -> bone name, for the joints the armature has."""
    bones = list(bone_names)
    exact = {b.lower(): b for b in bones}
    out: Dict[str, str] = {}
    for joint, wanted in preset.items():
        for candidate in (wanted if isinstance(wanted, tuple) else (wanted,)):
            found = exact.get(candidate.lower())
            if found is None:
                # Shortest matching name: `mixamorig:Spine` beats `mixamorig:Spine1` for "Spine" (the latter
                # does not match anyway), and a prefixed exact name beats a longer chain.
                hits = sorted((b for b in bones if name_matches(b, candidate)), key=len)
                found = hits[0] if hits else None
            if found is not None:
                out[joint] = found
                break
    # One bone cannot follow two joints.
    seen: Dict[str, str] = {}
    for joint in list(out):
        if out[joint] in seen:
            del out[joint]
        else:
            seen[out[joint]] = joint
    return out


def best_match(bone_names: Sequence[str], driven: Iterable[str] = ()) -> Tuple[Optional[str], Dict[str, str]]:
    """The preset that maps the most joints of this armature, usable or not: (preset key or None, joint -> bone).

    driven: bones whose transforms constraints set (the add-on's generation.driven_bones); a preset whose bones are
    mostly driven is passed over (Rigify's deform bones follow its controls, so keys on them would change nothing).
    Ties go to the preset with the pelvis, then to the earlier preset.
    """
    driven = set(driven)
    best_key: Optional[str] = None
    best_map: Dict[str, str] = {}
    for key, preset in PRESETS.items():
        mapping = resolve_preset(preset, bone_names)
        if mapping and 2 * sum(b in driven for b in mapping.values()) > len(mapping):
            continue
        if ("pelvis" in mapping, len(mapping)) > ("pelvis" in best_map, len(best_map)):
            best_key, best_map = key, mapping
    return best_key, best_map


def usable(mapping: Dict[str, str]) -> bool:
    """Enough of the body to pose a rig: the pelvis and at least MIN_MAPPED joints."""
    return "pelvis" in mapping and len(mapping) >= MIN_MAPPED


def detect(bone_names: Sequence[str], driven: Iterable[str] = ()) -> Tuple[Optional[str], Dict[str, str]]:
    """The preset that maps the most joints of this armature: (preset key, or None when no preset is usable,
    joint -> bone of the best match, partial or not). driven: see `best_match`."""
    key, mapping = best_match(bone_names, driven)
    return (key if usable(mapping) else None), mapping


def missing_joints(mapping: Dict[str, str]) -> List[str]:
    return [j for j in JOINT_NAMES if j not in mapping]


# The order a convention lists its direct joints in (limbs left then right, then neck and head).
_DIRECT_ORDER = tuple(f"{side}_{part}" for part in ("hip", "knee", "ankle", "foot", "shoulder", "elbow", "wrist")
                      for side in ("left", "right")) + ("neck", "head")


def _direct_bones(preset):
    """A rig preset's bones for the 16 DIRECT_JOINTS (the first alternative each): one spelling of a rig family for
    both the rig presets and the file conventions."""
    return {j: preset[j] if isinstance(preset[j], str) else preset[j][0] for j in _DIRECT_ORDER}


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
        _direct_bones(PRESETS["CC_ICLONE"]),
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
        _direct_bones(PRESETS["MIXAMO"]),
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
    """How our 22 joints come from a source pose (S joints, world positions P (S, 3), world rotations G (S, 3, 3)):

        joint k = weights[k] @ P + G[anchors[k]] @ local_offsets[k]     (the second term only where anchors[k] >= 0)

    weights: (22, S) float64; a derived joint's row is one-hot on its anchor. anchors: (22,) int, -1 for joints given
    by the map (bones or blends), else the source joint whose frame carries the derived joint rigidly.
    local_offsets: (22, 3) in that frame, source units. convention: its name. straighten: source joint indices whose
    rest offsets are to be axis-aligned (BoneMap.straighten).
    """

    weights: np.ndarray
    convention: str
    straighten: tuple = ()
    anchors: np.ndarray = None
    local_offsets: np.ndarray = None

    def joints(self, positions, rotations):
        """Our joints (..., 22, 3) from source world positions (..., S, 3) and world rotations (..., S, 3, 3)."""
        out = self.weights @ positions  # (22, S) @ (..., S, 3)
        if self.anchors is not None:
            for k in np.nonzero(self.anchors >= 0)[0]:
                out[..., k, :] += rotations[..., self.anchors[k], :, :] @ self.local_offsets[k]
        return out


def detect_convention(source_names):
    """The first built-in BoneMap whose bones (and markers) all exist in `source_names`; else the first whose 16 bones
    exist without its markers; else MotionError naming the file's bones and, when one convention has most of the 16
    joints, which of them it lacks."""
    present = {strip_namespace(n) for n in source_names}
    for bone_map in CONVENTIONS:
        if bone_map.required() <= present:
            return bone_map
    for bone_map in CONVENTIONS:
        if set(bone_map.bones.values()) <= present:
            return bone_map
    best = max(CONVENTIONS, key=lambda m: sum(b in present for b in m.bones.values()))
    unmapped = [j for j, b in best.bones.items() if b not in present]
    # A convention is worth naming only when it has most of the joints; otherwise it is noise.
    closest = (
        f"closest convention {best.name} lacks joints {', '.join(unmapped)}; "
        if len(unmapped) < len(best.bones) / 2
        else "its bone names match no built-in convention; "
    )
    raise MotionError(
        f"unknown skeleton: {closest}pass --map MAP.json keyed by our joint names "
        f'(e.g. {{"left_hip": "LeftUpLeg", ...}}; --suggest-map MAP.json writes a starter); '
        f"this file's bones: {_bone_list(_ordered(source_names))}"
    )


def _ordered(source_names):
    """Namespace-free names in file order, each once."""
    seen, out = set(), []
    for name in source_names:
        name = strip_namespace(name)
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


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
    # Keys starting with "_" are notes (a --suggest-map starter has _about and _bones); null marks a joint to fill.
    data = {k: v for k, v in data.items() if not str(k).startswith("_") and v is not None}
    unknown = sorted(set(data) - set(JOINT_NAMES))
    if unknown:
        raise MotionError(f"bone map has unknown joint names {', '.join(unknown)}; use: {', '.join(JOINT_NAMES)}")
    return data


def resolve(source_names, source_parents, positions, bone_map=None, rotations=None) -> ResolvedMap:
    """Build the map from source joint positions (and rotations) onto our 22 joints.

    Args:
        source_names: S names; source_parents: (S,) ints (-1 root), parents before children.
        positions: (F, S, 3) world positions of the source joints on a few frames (any units).
        bone_map: None (detect), a dict or a JSON path (user map keyed by our joint names), or a BoneMap.
        rotations: (F, S, 3, 3) world rotations on the same frames; the derived joints (pelvis, spine1-3, collars)
            ride rigidly on one source bone each (see module docstring), so their bones keep one length.
    """
    if rotations is None:
        raise ValueError("resolve needs the world rotations of the probe frames (rotations=(F, S, 3, 3))")
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
        raise MotionError(
            f"bone map names bones not in this file: {', '.join(sorted(set(missing)))}; check --map "
            f"(this file's bones: {_bone_list(_ordered(source_names))})"
        )
    lacking = [j for j in DIRECT_JOINTS if j not in rows]
    if lacking:
        raise MotionError(
            f"bone map lacks joints {', '.join(lacking)}; add them to --map (keys are our joint names, values bones "
            f"of this file: {_bone_list(_ordered(source_names))})"
        )

    # Derived joints: (anchor source joint, its reference positions (F, 3) on the probe frames).
    derived = {}
    for joint, found in _spine_points(rows, source_parents, positions).items():
        if joint not in rows:
            derived[joint] = found
    spine3 = rows["spine3"] @ positions if "spine3" in rows else derived["spine3"][1]
    for side in ("left", "right"):
        joint = f"{side}_collar"
        if joint in rows:
            continue
        shoulder = rows[f"{side}_shoulder"]
        reference = (
            COLLAR_BLEND["neck"] * (rows["neck"] @ positions)
            + COLLAR_BLEND["shoulder"] * (shoulder @ positions)
            + COLLAR_BLEND["spine3"] * spine3
        )
        # The collar rides on the bone that carries the shoulder joint (the clavicle where the source has one), so
        # collar -> shoulder keeps its length, as the clavicle does.
        derived[joint] = (_parent_or_self(source_parents, _main_bone(shoulder)), reference)

    anchors = np.full(len(JOINT_NAMES), -1, dtype=np.int64)
    local_offsets = np.zeros((len(JOINT_NAMES), 3))
    for joint, (anchor, reference) in derived.items():
        k = JOINT_NAMES.index(joint)
        rows[joint] = np.eye(S)[anchor]
        anchors[k] = anchor
        # The fixed offset that best reproduces the reference point over the probe frames (least squares: the mean
        # of its position in the anchor's frame).
        local = np.einsum("fji,fj->fi", rotations[:, anchor], reference - positions[:, anchor])
        local_offsets[k] = local.mean(axis=0)
    weights = np.stack([rows[j] for j in JOINT_NAMES])
    return ResolvedMap(weights, convention, straighten, anchors, local_offsets)


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


def _spine_points(rows, parents, positions):
    """pelvis, spine1..3 at SMPL arc-length fractions along the source spine: the polyline [hip midpoint, spine
    chain joints..., neck]. Each point lies on one segment, and a segment is rigid in one source joint's frame
    (the hip midpoint -> first chain joint segment in the frame of their common ancestor, a later segment in the
    frame of the joint it starts at), so that joint is its anchor. Returns {joint: (anchor, positions (F, 3))}."""
    hip_mid = 0.5 * (rows["left_hip"] + rows["right_hip"])
    neck_bone = _main_bone(rows["neck"])
    hip_bone = _main_bone(rows["left_hip"])
    chain = _path_below_common_ancestor(parents, hip_bone, neck_bone)  # bones from above the LCA to the neck
    if not chain:
        raise MotionError("the neck bone is an ancestor of the hips in this map; map neck to a bone above the hips")
    S = positions.shape[1]
    vertices = [hip_mid] + [np.eye(S)[b] for b in chain[:-1]] + [rows["neck"]]
    bodies = [int(parents[chain[0]])] + list(chain[:-1])  # the frame each segment is rigid in
    points = np.einsum("vs,fsc->fvc", np.stack(vertices), positions)  # (F, V, 3)
    # Segment lengths from the median over frames (bones are rigid, so any frame gives nearly the same).
    lengths = np.median(np.linalg.norm(np.diff(points, axis=1), axis=-1), axis=0)  # (V-1,)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    total = cumulative[-1]
    if not total > 0:
        raise MotionError("the skeleton's spine has zero length (neck at the hips); pass --map MAP.json")
    arc = list(SPINE_FRACTIONS * total) + [total]  # pelvis, spine1..3, neck (fixed: a mapped bone)
    # A bone of ours whose ends lie on two source bones changes length when the source joint between them bends.
    # Where the joint of ours nearer to that pivot is within SPINE_SNAP of it, it moves onto it: a pivot is rigid in
    # both bones' frames. Each joint moves at most once; the neck never moves; the pelvis stays on the hips' bone.
    pivots = cumulative[1:-1]
    moved = [False] * 5
    for pivot in pivots:
        for k in range(4):
            if arc[k] < pivot - 1e-9 and arc[k + 1] > pivot + 1e-9:
                near = [j for j in (k, k + 1) if j < 4 and not moved[j]]
                choices = [j for j in near if abs(arc[j] - pivot) <= SPINE_SNAP * total]
                if choices:
                    j = min(choices, key=lambda j: abs(arc[j] - pivot))
                    arc[j], moved[j] = pivot, True
                break
    out = {}
    for joint, target in zip(SPINE_JOINTS, arc):
        seg = int(np.clip(np.searchsorted(cumulative, target + 1e-9 * total, side="right") - 1, 0, len(lengths) - 1))
        if joint == "pelvis":
            seg = 0  # a pelvis on the first pivot rides on the hips' bone, with the hips
        t = np.clip((target - cumulative[seg]) / lengths[seg], 0.0, 1.0) if lengths[seg] > 0 else 0.0
        out[joint] = (bodies[seg], (1.0 - t) * points[:, seg] + t * points[:, seg + 1])
    return out


def _parent_or_self(parents, joint):
    parent = int(parents[joint])
    return parent if parent >= 0 else joint


def _bone_list(names, limit=60):
    """The file's own bone names for a message (end sites left out), shortened past `limit` names."""
    bones = [n for n in names if not n.endswith("_end")] or list(names)
    shown = ", ".join(bones[:limit])
    return shown + (f" ... ({len(bones)} in all)" if len(bones) > limit else "")


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


# ----------------------------------------------------------------------------------------------------------------------
# A starter map from bone names (motion-mamba import FILE --suggest-map MAP.json)

# Limb part -> name patterns, most specific first, matched (whole) against a bone's name with its namespace, shared
# prefix (CC_Base_, Bip01) and side marker removed, lower case, letters and digits only.
_LIMB_PATTERNS = {
    "hip": ("upleg", "upperleg", "thigh", "femur", "hip"),
    "knee": ("leg", "lowerleg", "shin", "calf", "knee", "tibia"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", r"toes?\d*", "ball"),
    "collar": ("clavicle", "collar", "shoulder"),
    "shoulder": ("upperarm", "arm", "shldr", "humerus", "shoulder"),
    "elbow": ("forearm", "lowerarm", "elbow", "radius"),
    "wrist": ("wrist", "hand"),
}
_CENTRE_PATTERNS = {
    "pelvis": ("hips", "pelvis", "hip", "root"),
    "neck": (r"(lower)?neck(twist)?\d*",),
    "head": ("head",),
}
# Each part must sit below the one before it in the tree (a knee below its hip).
_LIMB_PARENT = {"knee": "hip", "ankle": "knee", "foot": "ankle", "shoulder": "collar", "elbow": "shoulder",
                "wrist": "elbow"}  # fmt: skip
_SIDES = {"left": ("l", "left"), "right": ("r", "right")}


def _tokens(name):
    """Lower-case name parts: 'CC_Base_L_Thigh' -> [cc, base, l, thigh]; 'LeftUpLeg' -> [left, up, leg]; 'Toe0' ->
    [toe, 0]."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", strip_namespace(name))
    spaced = re.sub(r"([A-Za-z])(\d)", r"\1 \2", spaced)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def _matches(patterns, text):
    return any(re.fullmatch(p, text) for p in patterns)


def _side_and_part(tokens, prefix):
    """(side or None, the rest joined) after dropping the shared prefix tokens and one side marker."""
    tokens = tokens[len(prefix):] if tokens[: len(prefix)] == prefix else tokens
    for side, markers in _SIDES.items():
        for i, token in enumerate(tokens):
            if token in markers and len(tokens) > 1:
                return side, "".join(tokens[:i] + tokens[i + 1 :])
        joined = "".join(tokens)
        for marker in sorted(markers, key=len, reverse=True):  # 'leftupleg', 'lfemur' (CMU)
            rest = joined[len(marker) :]
            if joined.startswith(marker) and any(_matches(p, rest) for p in _LIMB_PATTERNS.values()):
                return side, rest
    return None, "".join(tokens)


def _ancestors(parents, j):
    out = set()
    j = int(parents[j])
    while j >= 0:
        out.add(j)
        j = int(parents[j])
    return out


def suggest_map(source_names, source_parents):
    """A starter bone map for an unknown skeleton, from its bone names and tree.

    Returns (mapping, notes): mapping is {our joint: bone name or None} for the 16 DIRECT_JOINTS (None = no confident
    match: fill it in; pelvis, spine and collars are left out, to be derived); notes is {our joint: [candidate
    bones]} where several bones matched equally. A joint is filled only when exactly one bone
    matches its best pattern and it sits below the joint before it in the chain (a knee below its hip). A missing toe
    falls back to the ankle's End Site (`<ankle bone>_end`).
    """
    names = [strip_namespace(n) for n in source_names]
    parents = np.asarray(source_parents)
    tokens = [_tokens(n) for n in names]
    # A first token shared by most bones is a rig prefix (cc_base_, bip01): not part of the name.
    prefix = []
    while True:
        depth = len(prefix)
        heads = [t[depth] for t in tokens if len(t) > depth + 1 and t[:depth] == prefix]
        if not heads:
            break
        head = max(set(heads), key=heads.count)
        if heads.count(head) <= len(names) / 2:
            break
        prefix.append(head)
    is_end = [n.endswith("_end") for n in names]  # End Sites (see module docstring)
    parsed = [_side_and_part(t, prefix) if not end else (None, "") for t, end in zip(tokens, is_end)]
    mapping, notes, used = {}, {}, set()

    def pick(patterns, side, below=None, first=False):
        for pattern in patterns:
            found = [
                j for j, (s, part) in enumerate(parsed)
                if s == side and j not in used and part and _matches((pattern,), part)
                and (below is None or below in _ancestors(parents, j))
            ]  # fmt: skip
            if not found:
                continue
            if first:  # the bone nearest the root (a neck of two bones: the lower one)
                found = [min(found, key=lambda j: len(_ancestors(parents, j)))]
            return found
        return []

    for name, patterns in _CENTRE_PATTERNS.items():
        below = mapping.get("neck") if name == "head" else None
        found = pick(patterns, None, below=None if below is None else names.index(below), first=True)
        if found:
            mapping[name] = names[found[0]]
            used.add(found[0])
    for side in _SIDES:
        for part in _LIMB_PATTERNS:
            joint = f"{side}_{part}"
            parent_part = _LIMB_PARENT.get(part)
            parent_bone = mapping.get(f"{side}_{parent_part}") if parent_part else None
            below = names.index(parent_bone) if parent_bone else None
            found = pick(_LIMB_PATTERNS[part], side, below=below)
            if len(found) == 1:
                mapping[joint] = names[found[0]]
                used.add(found[0])
            elif found:
                notes[joint] = [names[j] for j in found]
        ankle = mapping.get(f"{side}_ankle")
        if f"{side}_foot" not in mapping and ankle and f"{ankle}_end" in names:
            mapping[f"{side}_foot"] = f"{ankle}_end"
    # Pelvis and collars were matched only to steer the limbs (a clavicle is not an upper arm); the starter leaves
    # them out, as the built-in conventions do: derived, they sit where SMPL has them, while a source's root and
    # clavicle start anywhere from the hip line to the waist and from the midline to the shoulder.
    ordered = {joint: mapping.get(joint) for joint in JOINT_NAMES if joint in DIRECT_JOINTS}
    return ordered, {j: c for j, c in notes.items() if j in DIRECT_JOINTS}

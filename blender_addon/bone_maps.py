"""Bone-map presets: SMPL joint name -> target bone name, automatic detection, and saved custom maps.

A bone is mapped to the SMPL joint at its *head* (Mixamo `LeftArm` starts at the shoulder joint). Preset values may
list alternatives; the first one the armature has wins. Names match exactly or as a suffix after a separator, so
`mixamorig:LeftArm`, `mixamorig1_LeftArm` and `Armature|LeftArm` all match `LeftArm`. No bpy here.
"""

import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)

Names = Union[str, Tuple[str, ...]]


def _sided(left_template: str, right_template: str, parts: Dict[str, Names]) -> Dict[str, Names]:
    """Expand {joint_suffix: name pattern with {s}} into left/right entries."""
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
    "SMPL": {**{j: j for j in JOINTS}},
    "SMPL_X": {  # MPI/Meshcapade SMPL(-X) add-ons and SMPL FBX exports (`m_avg_L_Hip` matches as a suffix)
        "pelvis": "Pelvis", "spine1": "Spine1", "spine2": "Spine2", "spine3": "Spine3", "neck": "Neck", "head": "Head",
        **_sided("L", "R", dict(zip(_LIMBS, ("{s}_Hip", "{s}_Knee", "{s}_Ankle", "{s}_Foot", "{s}_Collar",
                                             "{s}_Shoulder", "{s}_Elbow", "{s}_Wrist")))),
    },
    "MIXAMO": {
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
        **_sided("Left", "Right", dict(zip(_LIMBS, ("{s}UpLeg", "{s}Leg", "{s}Foot", "{s}ToeBase", "{s}Shoulder",
                                                    "{s}Arm", "{s}ForeArm", "{s}Hand")))),
    },
    "RIGIFY_DEFORM": {
        "pelvis": "DEF-spine", "spine1": "DEF-spine.001", "spine2": "DEF-spine.002", "spine3": "DEF-spine.003",
        "neck": "DEF-spine.004", "head": "DEF-spine.006",
        **_sided("L", "R", dict(zip(_LIMBS, ("DEF-thigh.{s}", "DEF-shin.{s}", "DEF-foot.{s}", "DEF-toe.{s}",
                                             "DEF-shoulder.{s}", "DEF-upper_arm.{s}", "DEF-forearm.{s}",
                                             "DEF-hand.{s}")))),
    },
    "RIGIFY_CONTROL": {  # FK controls (see RIG_EXTRAS: deform bones mark the joints, torso carries the root)
        "pelvis": ("spine_fk", "torso"), "spine1": "spine_fk.001", "spine2": "spine_fk.002",
        "spine3": ("spine_fk.003", "chest"), "neck": "neck", "head": "head",
        **_sided("L", "R", dict(zip(_LIMBS, ("thigh_fk.{s}", "shin_fk.{s}", "foot_fk.{s}", ("toe_fk.{s}", "toe.{s}"),
                                             "shoulder.{s}", "upper_arm_fk.{s}", "forearm_fk.{s}", "hand_fk.{s}")))),
    },
    "CC_ICLONE": {  # Character Creator / iClone / ActorCore (CC_Base_ prefix; CC3+ names)
        "pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
        "spine3": "CC_Base_Spine02", "neck": ("CC_Base_NeckTwist01", "CC_Base_Neck"), "head": "CC_Base_Head",
        **_sided("L", "R", dict(zip(_LIMBS, ("CC_Base_{s}_Thigh", "CC_Base_{s}_Calf", "CC_Base_{s}_Foot",
                                             "CC_Base_{s}_ToeBase", "CC_Base_{s}_Clavicle", "CC_Base_{s}_Upperarm",
                                             "CC_Base_{s}_Forearm", "CC_Base_{s}_Hand")))),
    },
    "UE5_MANNEQUIN": {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05", "neck": "neck_01",
        "head": "head",
        **_sided("l", "r", dict(zip(_LIMBS, ("thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}", "clavicle_{s}",
                                             "upperarm_{s}", "lowerarm_{s}", "hand_{s}")))),
    },
    "UE4_MANNEQUIN": {
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01",
        "head": "head",
        **_sided("l", "r", dict(zip(_LIMBS, ("thigh_{s}", "calf_{s}", "foot_{s}", "ball_{s}", "clavicle_{s}",
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

PRESET_LABELS = {
    "SMPL": "SMPL-22 (this add-on, HumanML3D names)",
    "SMPL_X": "SMPL / SMPL-X (MPI add-on names)",
    "MIXAMO": "Mixamo",
    "RIGIFY_DEFORM": "Rigify (deform bones)",
    "RIGIFY_CONTROL": "Rigify (FK controls)",
    "CC_ICLONE": "Character Creator / iClone",
    "UE5_MANNEQUIN": "Unreal Engine 5 mannequin",
    "UE4_MANNEQUIN": "Unreal Engine 4 mannequin",
}

# A usable map needs the root and enough of the body to pose it.
MIN_MAPPED = 12
_SEPARATORS = ":_|. -"


def _matches(bone: str, wanted: str) -> bool:
    """Exact (case-insensitive) or a suffix after a separator: `mixamorig:LeftArm` matches `LeftArm`."""
    b, w = bone.lower(), wanted.lower()
    if b == w:
        return True
    return b.endswith(w) and b[-len(w) - 1] in _SEPARATORS


def resolve(preset: Dict[str, Names], bone_names: Iterable[str]) -> Dict[str, str]:
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
                hits = sorted((b for b in bones if _matches(b, candidate)), key=len)
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

    driven: bones whose transforms constraints set (see generation.driven_bones); a preset whose bones are mostly
    driven is passed over (Rigify's deform bones follow its controls, so keys on them would change nothing).
    Ties go to the preset with the pelvis, then to the earlier preset.
    """
    driven = set(driven)
    best_key: Optional[str] = None
    best_map: Dict[str, str] = {}
    for key, preset in PRESETS.items():
        mapping = resolve(preset, bone_names)
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
    return [j for j in JOINTS if j not in mapping]


# ---- saved custom maps: one JSON file per map, {"name": ..., "map": {joint: bone}} ----

def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()) or "map"


def save_custom_map(folder: str, name: str, mapping: Dict[str, str]) -> str:
    """Write a custom map to folder/<name>.json and return the path."""
    unknown = sorted(set(mapping) - set(JOINTS))
    if unknown:
        raise ValueError(f"unknown joint names {unknown}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, _safe_file_name(name) + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"name": name, "map": mapping}, f, indent=1, sort_keys=True)
    return path


def load_custom_maps(folder: str) -> Dict[str, Dict[str, str]]:
    """All saved maps in `folder`: name -> {joint: bone}. Unreadable files are skipped (listed as nothing)."""
    maps: Dict[str, Dict[str, str]] = {}
    if not os.path.isdir(folder):
        return maps
    for file_name in sorted(os.listdir(folder)):
        if not file_name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, file_name), encoding="utf-8") as f:
                data = json.load(f)
            maps[str(data["name"])] = {str(k): str(v) for k, v in data["map"].items() if k in JOINTS}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return maps

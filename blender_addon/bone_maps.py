"""Bone maps in the add-on: the rig presets' UI labels and the user's saved custom maps. No bpy here.

The presets themselves (joint -> bone names of each rig family), their matching rule and auto-detection live with
the file conventions in motion_core.motion.bone_maps, re-exported here for the add-on's modules.
"""

import json
import os
import re
from typing import Dict

from . import vendor

vendor.ensure_motion_core()

from motion_core.motion.bone_maps import (  # noqa: E402,F401 (re-exported for the add-on)
    MIN_MAPPED,
    PRESETS,
    RIG_EXTRAS,
    RigExtras,
    best_match,
    detect,
    missing_joints,
    resolve_preset,
    usable,
)
from motion_core.motion.skeleton import JOINT_NAMES  # noqa: E402

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


# ---- saved custom maps: one JSON file per map, {"name": ..., "map": {joint: bone}} ----

def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()) or "map"


def save_custom_map(folder: str, name: str, mapping: Dict[str, str]) -> str:
    """Write a custom map to folder/<name>.json and return the path."""
    unknown = sorted(set(mapping) - set(JOINT_NAMES))
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
            maps[str(data["name"])] = {str(k): str(v) for k, v in data["map"].items() if k in JOINT_NAMES}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return maps

"""Bone-map presets, auto-detection from bone names, and saved custom maps (plain Python, no scene needed)."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy")  # importing the add-on package imports bpy
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from blender_addon import bone_maps  # noqa: E402

MIXAMO = ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2", "mixamorig:Neck",
          "mixamorig:Head", "mixamorig:HeadTop_End"] + [
    f"mixamorig:{side}{part}" for side in ("Left", "Right")
    for part in ("UpLeg", "Leg", "Foot", "ToeBase", "Shoulder", "Arm", "ForeArm", "Hand", "HandIndex1")]
RIGIFY_DEF = ["DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-spine.004", "DEF-spine.005",
              "DEF-spine.006"] + [f"DEF-{p}.{s}" for s in "LR" for p in
                                  ("thigh", "thigh.001", "shin", "foot", "toe", "shoulder", "upper_arm", "forearm",
                                   "hand")]
UE5 = ["root", "pelvis", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01", "neck_02", "head"] + [
    f"{p}_{s}" for s in "lr" for p in ("thigh", "calf", "foot", "ball", "clavicle", "upperarm", "lowerarm", "hand")]
CC = ["CC_Base_BoneRoot", "CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
      "CC_Base_NeckTwist01", "CC_Base_Head"] + [
    f"CC_Base_{s}_{p}" for s in "LR" for p in ("Thigh", "Calf", "Foot", "ToeBase", "Clavicle", "Upperarm", "Forearm",
                                               "Hand")]

# The bones of an SMPL-22 rig this add-on builds (rig.create_smpl_armature), written out in the order a parent-first
# armature lists them, with the glTF-style "Armature|" namespace an FBX/glTF round trip adds.
SMPL_RIG = ["Armature|" + b for b in (
    "pelvis", "left_hip", "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
    "right_foot", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "left_shoulder", "left_elbow",
    "left_wrist", "right_collar", "right_shoulder", "right_elbow", "right_wrist")]
# The armature of Meshcapade's SMPL-X Blender add-on (the common way to get an SMPL-family body into Blender): a
# "root" bone, then the 55 SMPL-X joints in SMPL-X order (vchoutas/smplx joint_names.py): the 22 body joints, jaw,
# eyes and 15 finger bones per hand, some of which share a side and a prefix with the arm bones.
SMPLX_ADDON_RIG = ["root", "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
                   "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
                   "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                   "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf"] + [
    f"{side}_{finger}{i}" for side in ("left", "right") for finger in ("index", "middle", "pinky", "ring", "thumb")
    for i in (1, 2, 3)]


@pytest.mark.parametrize("bones, expected", [
    (MIXAMO, "MIXAMO"), ([b.replace("mixamorig:", "mixamorig1_") for b in MIXAMO], "MIXAMO"),
    (RIGIFY_DEF, "RIGIFY_DEFORM"), (UE5, "UE5_MANNEQUIN"), (CC, "CC_ICLONE"),
    (SMPLX_ADDON_RIG, "SMPL"), (SMPL_RIG, "SMPL"), (["m_avg_" + b for b in (
        "Pelvis", "Spine1", "Spine2", "Spine3", "Neck", "Head", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle",
        "R_Ankle", "L_Foot", "R_Foot", "L_Collar", "R_Collar", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
        "L_Wrist", "R_Wrist")], "SMPL_X"),
])
def test_detect_recognises_common_rigs(bones, expected):
    preset, mapping = bone_maps.detect(bones)
    assert preset == expected
    assert len(mapping) == 22 and len(set(mapping.values())) == 22 and set(mapping.values()) <= set(bones)


def test_smpl_preset_maps_each_joint_to_its_own_bone():
    _, mapping = bone_maps.detect(SMPL_RIG)
    assert all(bone == "Armature|" + joint for joint, bone in mapping.items())
    _, mapping = bone_maps.detect(SMPLX_ADDON_RIG)
    assert all(bone == joint for joint, bone in mapping.items())  # wrists, not fingers; pelvis, not root


def test_mixamo_suffix_matching_is_exact_per_bone():
    mapping = bone_maps.resolve_preset(bone_maps.PRESETS["MIXAMO"], MIXAMO)
    assert mapping["spine1"] == "mixamorig:Spine" and mapping["spine2"] == "mixamorig:Spine1"
    assert mapping["left_knee"] == "mixamorig:LeftLeg" and mapping["left_hip"] == "mixamorig:LeftUpLeg"
    assert mapping["left_wrist"] == "mixamorig:LeftHand"  # not LeftHandIndex1
    assert mapping["left_shoulder"] == "mixamorig:LeftArm" and mapping["left_elbow"] == "mixamorig:LeftForeArm"


def test_ue5_spine_uses_the_chest_bone():
    mapping = bone_maps.resolve_preset(bone_maps.PRESETS["UE5_MANNEQUIN"], UE5)
    assert (mapping["spine1"], mapping["spine3"]) == ("spine_01", "spine_05")


def test_unknown_rig_is_not_detected():
    preset, mapping = bone_maps.detect(["Bone", "Bone.001", "Bone.002"])
    assert preset is None and len(mapping) < bone_maps.MIN_MAPPED


def test_custom_maps_round_trip(tmp_path):
    mapping = {"pelvis": "hip_ctrl", "left_hip": "thigh L"}
    path = bone_maps.save_custom_map(str(tmp_path), "My rig/v2", mapping)
    assert Path(path).parent == tmp_path and "/" not in Path(path).name
    (tmp_path / "broken.json").write_text("{not json")
    assert bone_maps.load_custom_maps(str(tmp_path)) == {"My rig/v2": mapping}
    with pytest.raises(ValueError, match="unknown joint"):
        bone_maps.save_custom_map(str(tmp_path), "bad", {"tail": "x"})


def test_detect_passes_over_constraint_driven_bones_and_reports_partial_matches():
    rigify = RIGIFY_DEF + ["torso", "spine_fk", "spine_fk.001", "spine_fk.002", "spine_fk.003", "neck", "head"] + [
        f"{p}.{s}" for s in "LR" for p in ("thigh_fk", "shin_fk", "foot_fk", "toe_fk", "shoulder", "upper_arm_fk",
                                            "forearm_fk", "hand_fk")]
    assert bone_maps.detect(rigify)[0] == "RIGIFY_DEFORM"  # names alone: the deform bones come first
    preset, mapping = bone_maps.detect(rigify, driven=[b for b in rigify if b.startswith("DEF-")])
    assert preset == "RIGIFY_CONTROL" and mapping["pelvis"] == "spine_fk" and len(mapping) == 22
    few = MIXAMO[:3] + [b for b in MIXAMO if "Left" in b][:5]  # 8 Mixamo bones: not usable, but reported
    assert bone_maps.detect(few)[0] is None
    key, partial = bone_maps.best_match(few)
    assert key == "MIXAMO" and len(partial) == 8 and not bone_maps.usable(partial)


def test_the_addon_takes_its_presets_from_motion_core():
    from motion_core.motion import bone_maps as engine_maps

    assert bone_maps.PRESETS is engine_maps.PRESETS and bone_maps.detect is engine_maps.detect
    assert set(bone_maps.PRESET_LABELS) == set(engine_maps.PRESETS)

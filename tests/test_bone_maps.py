"""Bone maps (motion_core.motion.bone_maps): detection errors that help write a map, and the starter map.

Name sets below are the naming schemes of common rigs written out by hand (no third-party files): Mixamo, Unreal's
mannequin, 3ds Max Biped, Blender Rigify's metarig, CMU ASF, cgspeed's CMU conversions, Character Creator.
"""

import json

import numpy as np
import pytest

from motion_core.errors import MotionError
from motion_core.motion import bone_maps
from motion_core.motion.bone_maps import DIRECT_JOINTS, detect_convention, load_user_map, suggest_map


def tree(spec):
    """names, parents from 'child<parent' pairs in order ('Hips' alone for the root)."""
    names, parents = [], []
    for item in spec.split():
        child, _, parent = item.partition("<")
        names.append(child)
        parents.append(names.index(parent) if parent else -1)
    return names, np.array(parents)


def limbs(prefix, sep, parts, side_first=True, left="L", right="R", root="", collar_parent=""):
    """'child<parent' pairs of two legs and two arms named prefix + side + sep + part (or part + sep + side)."""
    out = []
    for side in (left, right):
        def n(part):
            return f"{prefix}{side}{sep}{part}" if side_first else f"{prefix}{part}{sep}{side}"
        legs, arms = parts[:4], parts[4:]
        chain = [root] + [n(p) for p in legs]
        out += [f"{c}<{p}" for p, c in zip(chain[:-1], chain[1:])]
        chain = [collar_parent] + [n(p) for p in arms]
        out += [f"{c}<{p}" for p, c in zip(chain[:-1], chain[1:])]
    return " ".join(out)


RIGS = {
    "mixamo": (
        "mixamorig:Hips mixamorig:Spine<mixamorig:Hips mixamorig:Spine1<mixamorig:Spine "
        "mixamorig:Spine2<mixamorig:Spine1 mixamorig:Neck<mixamorig:Spine2 mixamorig:Head<mixamorig:Neck "
        "mixamorig:HeadTop_End<mixamorig:Head "
        + limbs("mixamorig:", "", ["UpLeg", "Leg", "Foot", "ToeBase", "Shoulder", "Arm", "ForeArm", "Hand"],
                left="Left", right="Right", root="mixamorig:Hips", collar_parent="mixamorig:Spine2"),
        {"left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot", "left_foot": "LeftToeBase",
         "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "neck": "Neck",
         "head": "Head", "right_wrist": "RightHand"},
    ),
    "unreal": (
        "root pelvis<root spine_01<pelvis spine_02<spine_01 spine_03<spine_02 neck_01<spine_03 head<neck_01 "
        + limbs("", "_", ["thigh", "calf", "foot", "ball", "clavicle", "upperarm", "lowerarm", "hand"],
                side_first=False, left="l", right="r", root="pelvis", collar_parent="spine_03"),
        {"left_hip": "thigh_l", "left_knee": "calf_l", "left_ankle": "foot_l", "left_foot": "ball_l",
         "left_shoulder": "upperarm_l", "left_elbow": "lowerarm_l", "left_wrist": "hand_l", "neck": "neck_01",
         "head": "head", "right_knee": "calf_r"},
    ),
    "biped": (
        "Bip01 Bip01_Pelvis<Bip01 Bip01_Spine<Bip01_Pelvis Bip01_Spine1<Bip01_Spine Bip01_Neck<Bip01_Spine1 "
        "Bip01_Head<Bip01_Neck "
        + limbs("Bip01_", "_", ["Thigh", "Calf", "Foot", "Toe0", "Clavicle", "UpperArm", "Forearm", "Hand"],
                root="Bip01_Spine", collar_parent="Bip01_Neck"),
        {"left_hip": "Bip01_L_Thigh", "left_knee": "Bip01_L_Calf", "left_ankle": "Bip01_L_Foot",
         "left_foot": "Bip01_L_Toe0", "left_shoulder": "Bip01_L_UpperArm", "left_elbow": "Bip01_L_Forearm",
         "left_wrist": "Bip01_L_Hand", "neck": "Bip01_Neck", "head": "Bip01_Head"},
    ),
    "rigify-metarig": (
        "spine spine.001<spine spine.002<spine.001 spine.003<spine.002 spine.004<spine.003 spine.005<spine.004 "
        "spine.006<spine.005 "
        + limbs("", ".", ["thigh", "shin", "foot", "toe", "shoulder", "upper_arm", "forearm", "hand"],
                side_first=False, root="spine", collar_parent="spine.003"),
        # Rigify numbers its neck and head (spine.004-006): no name says which, so they are left to fill.
        {"left_hip": "thigh.L", "left_knee": "shin.L", "left_ankle": "foot.L", "left_foot": "toe.L",
         "left_shoulder": "upper_arm.L", "left_elbow": "forearm.L", "left_wrist": "hand.L", "neck": None,
         "head": None},
    ),
    "cmu-asf": (
        "root lowerback<root upperback<lowerback thorax<upperback lowerneck<thorax upperneck<lowerneck "
        "head<upperneck lhipjoint<root lfemur<lhipjoint ltibia<lfemur lfoot<ltibia ltoes<lfoot "
        "rhipjoint<root rfemur<rhipjoint rtibia<rfemur rfoot<rtibia rtoes<rfoot lclavicle<thorax "
        "lhumerus<lclavicle lradius<lhumerus lwrist<lradius lhand<lwrist rclavicle<thorax rhumerus<rclavicle "
        "rradius<rhumerus rwrist<rradius rhand<rwrist",
        {"left_hip": "lfemur", "left_knee": "ltibia", "left_ankle": "lfoot", "left_foot": "ltoes",
         "left_shoulder": "lhumerus", "left_elbow": "lradius", "left_wrist": "lwrist", "neck": "lowerneck",
         "head": "head"},
    ),
    "daz-no-toes": (
        "hip abdomen<hip chest<abdomen neck<chest head<neck lThigh<hip lShin<lThigh lFoot<lShin lFoot_end<lFoot "
        "rThigh<hip rShin<rThigh rFoot<rShin rFoot_end<rFoot lCollar<chest lShldr<lCollar lForeArm<lShldr "
        "lHand<lForeArm rCollar<chest rShldr<rCollar rForeArm<rShldr rHand<rForeArm",
        # No toe bone: the ankle's End Site stands in (End Sites are named <parent>_end).
        {"left_foot": "lFoot_end", "right_foot": "rFoot_end", "left_shoulder": "lShldr", "right_hip": "rThigh"},
    ),
}


@pytest.mark.parametrize("rig", sorted(RIGS))
def test_suggest_map_fills_confident_matches(rig):
    spec, expected = RIGS[rig]
    names, parents = tree(spec)
    mapping, notes = suggest_map(names, parents)
    assert list(mapping) == [j for j in bone_maps.JOINT_NAMES if j in DIRECT_JOINTS]
    for joint, bone in expected.items():
        assert mapping[joint] == bone, (joint, mapping[joint])


def test_suggest_map_leaves_ambiguous_joints_open():
    # Two bones under the left forearm match "hand" equally: the wrist stays open and both are named.
    names, parents = tree(RIGS["unreal"][0] + " Hand_L<lowerarm_l")
    mapping, notes = suggest_map(names, parents)
    assert mapping["left_wrist"] is None and notes == {"left_wrist": ["hand_l", "Hand_L"]}
    assert mapping["right_wrist"] == "hand_r"


def test_unknown_skeleton_lists_its_bones_and_a_meaningful_closest_convention():
    names, _ = tree(RIGS["rigify-metarig"][0])
    with pytest.raises(MotionError) as info:
        detect_convention(names)
    message = str(info.value)
    assert "\n" not in message and "--map" in message and "--suggest-map" in message
    assert "this file's bones: spine, spine.001" in message and "upper_arm.L" in message
    assert "closest" not in message  # no convention has most of its joints: naming one would mislead
    # A MotionBuilder file with four leg bones renamed: MotionBuilder has 12 of 16, so it is named with what lacks.
    mb = ["Hips", "LHipJoint", "thigh_L", "shin_L", "LeftFoot", "LeftToeBase", "RHipJoint", "thigh_R", "shin_R",
          "RightFoot", "RightToeBase", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head", "LeftShoulder",
          "LeftArm", "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand"]
    with pytest.raises(MotionError, match="closest convention cgspeed-motionbuilder lacks joints left_hip, right_hip, "
                                          "left_knee, right_knee;.*this file's bones: Hips, LHipJoint, thigh_L"):
        detect_convention(mb)


def test_markers_missing_still_detects_when_all_bones_are_there():
    # A Mixamo rig with two spine bones (no Spine2 marker) is still Mixamo.
    names, _ = tree(RIGS["mixamo"][0].replace("mixamorig:Spine2<mixamorig:Spine1 ", "")
                    .replace("<mixamorig:Spine2", "<mixamorig:Spine1"))
    assert detect_convention(names).name == "mixamo"


def test_user_map_notes_and_nulls(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"_about": "notes", "_bones": ["a"], "left_hip": "thigh_l", "left_knee": None}))
    assert load_user_map(path) == {"left_hip": "thigh_l"}
    names, parents = tree(RIGS["unreal"][0])
    positions = np.zeros((1, len(names), 3))
    rotations = np.broadcast_to(np.eye(3), (1, len(names), 3, 3))
    with pytest.raises(MotionError, match="lacks joints .*left_knee.*values bones of this file: root, pelvis"):
        bone_maps.resolve(names, parents, positions, str(path), rotations=rotations)


def test_file_conventions_spell_rig_families_as_their_rig_presets():
    by_name = {m.name: m for m in bone_maps.CONVENTIONS}
    for convention, preset in (("mixamo", "MIXAMO"), ("iclone", "CC_ICLONE")):
        for joint, bone in by_name[convention].bones.items():
            wanted = bone_maps.PRESETS[preset][joint]
            assert bone == (wanted if isinstance(wanted, str) else wanted[0])
    assert set(by_name["mixamo"].bones) == set(bone_maps.DIRECT_JOINTS)


def test_rig_preset_names_match_whole_words_after_a_separator():
    assert bone_maps.name_matches("mixamorig:LeftArm", "LeftArm") and bone_maps.name_matches("leftarm", "LeftArm")
    assert not bone_maps.name_matches("mixamorig:LeftForeArm", "Arm")
    assert not bone_maps.name_matches("mixamorig:Spine1", "Spine")

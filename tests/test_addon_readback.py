"""Reading a rig's motion back (blender_addon/readback.py) and what is built on it, inside real Blender (PyPI bpy):
span edits ("Regenerate span", in-betweening) and "Continue from current frame".

Rigs: the add-on's own SMPL-22 rig and a Mixamo-style rig stored the FBX way (Y-up data in centimetres, A-pose arms,
other proportions; tests/rig_gallery.py), animated by our bake or keyed by hand (Bezier keys, Euler bones). Sampling
uses a tiny random temporal-latent model, in process and through the worker subprocess: its motion is noise, so the
tests check what the add-on guarantees whatever the model makes: frames outside the span as they were, the seams
continuous, a continuation starting on the rig's pose, and errors that change nothing.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (ships with bpy)

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from motion_core.motion import skeleton  # noqa: E402
from rig_gallery import (bake_joints, leg_length, mixamo_rig, on_rig_proportions, reset_panel_state,  # noqa: E402
                         rest_world_heads, to_blender, walk_clip)

ADDON = "blender_addon"
NAMES = list(skeleton.JOINT_NAMES)
CM = 0.01


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    os.environ["MOTION_MAMBA_USER_DIR"] = str(tmp_path_factory.mktemp("mm_user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(ADDON, default_set=True)
    yield bpy
    addon_utils.disable(ADDON, default_set=True)
    os.environ.pop("MOTION_MAMBA_USER_DIR", None)


@pytest.fixture(scope="module")
def tiny_temporal_model(tmp_path_factory):
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig

    folder = tmp_path_factory.mktemp("tiny_temporal_model")
    MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0).save_pretrained(folder)
    return folder


@pytest.fixture
def scene(blender):
    for collection in (bpy.data.objects, bpy.data.actions, bpy.data.armatures, bpy.data.meshes):
        for block in list(collection):
            collection.remove(block)
    scene = bpy.context.scene
    reset_panel_state(scene)
    scene.timeline_markers.clear()
    scene.use_preview_range = False
    scene.frame_set(1)
    return scene


def use_backend(mode, weights):
    p = bpy.context.preferences.addons[ADDON].preferences
    p.backend, p.weights_dir, p.device = mode, str(weights), "cpu"
    p.python_path = sys.executable if mode == "EXTERNAL" else ""


def select(obj):
    bpy.context.view_layer.objects.active = obj


def heads_over(obj, bones, frames):
    """(len(frames), K, 3) world heads of `bones`, evaluated at each whole scene frame (bpy, not the add-on)."""
    out = []
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        out.append([np.asarray(obj.matrix_world @ obj.pose.bones[b].head) for b in bones])
    return np.array(out)


def snapshot():
    """What a failed request must not change: data-blocks, active actions and their keys, the scene's frames."""
    scene = bpy.context.scene
    keys = []
    for action in bpy.data.actions:
        for layer in action.layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    keys += [(action.name, fc.data_path, fc.array_index, len(fc.keyframe_points)) for fc in bag.fcurves]
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": sorted((a.name, a.use_fake_user) for a in bpy.data.actions),
        "keys": sorted(keys),
        "active": sorted((o.name, o.animation_data.action.name if o.animation_data and o.animation_data.action
                          else "") for o in bpy.data.objects),
        "results": len(scene.motion_mamba.results),
        "frames": (scene.frame_current, scene.frame_start, scene.frame_end),
    }


def hand_keyed_action(obj, names):
    """The user's own animation, not ours: Euler bones keyed by hand every 12 frames with Bezier interpolation (legs
    and arms swinging, the hips bobbing and moving), frames 1-61."""
    rng = np.random.default_rng(5)
    obj.animation_data_create()
    hips = obj.pose.bones[names["pelvis"]]
    for joint in ("left_hip", "right_hip", "left_knee", "right_knee", "left_shoulder", "right_shoulder", "spine1"):
        pb = obj.pose.bones[names[joint]]
        pb.rotation_mode = "XYZ"
        phase, size = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.5)
        for frame in range(1, 62, 12):
            pb.rotation_euler = (size * np.sin(phase + frame / 6.0), 0.1 * np.cos(phase + frame / 9.0), 0.0)
            pb.keyframe_insert("rotation_euler", frame=frame)
    for frame in range(1, 62, 12):
        hips.location = (0.0, 4.0 * np.sin(frame / 5.0), frame * 1.5)  # armature units: centimetres here
        hips.keyframe_insert("location", frame=frame)
    action = obj.animation_data.action
    action.name = "UserTake"
    return action


def read(obj, first, count, bone_map="AUTO"):
    """readback.read_motion on `obj` with the panel's bone map resolution."""
    from blender_addon import generation, readback

    settings = bpy.context.scene.motion_mamba
    settings.bone_map = bone_map
    return readback.read_motion(bpy.context, generation.resolve_bone_map(settings, obj), first, count)


# ---------------------------------------------------------------------------------------------------------- read-back

def test_read_back_of_a_baked_motion_matches_it(scene):
    """Our bake, read back: the SMPL rig (the clip's own proportions) gives the clip's joints; the Mixamo-style rig
    (FBX-style, other proportions) gives the clip on its own skeleton. Both with the model's leg length, and
    `scale` puts them back exactly where the rig stands."""
    from motion_core.motion.retarget import MODEL_LEG_LENGTH

    joints, _ = walk_clip()
    count = len(joints)
    smpl, result = bake_joints(joints, target=None)
    assert result == {"FINISHED"}
    back = read(smpl, 1.0, count, bone_map="SMPL")
    assert back.joints.shape == (count, 22, 3) and back.frame_step == 1.0
    assert abs(leg_length(back.joints) - MODEL_LEG_LENGTH) < 1e-4
    smpl_error = np.abs(back.joints * back.scale - joints).max()  # the rig stands elsewhere: its location is not read

    mixamo, names = mixamo_rig()
    _, result = bake_joints(joints, target=mixamo, bone_map="MIXAMO")
    assert result == {"FINISHED"}
    back = read(mixamo, 1.0, count, bone_map="MIXAMO")
    assert abs(leg_length(back.joints) - MODEL_LEG_LENGTH) < 1e-4
    markers = [names[n] for n in NAMES]
    posed = heads_over(mixamo, markers, range(1, count + 1)) - np.asarray(mixamo.location)
    round_trip = np.abs(to_blender(back.joints * back.scale) - posed).max()
    rest = rest_world_heads(mixamo, markers) - np.asarray(mixamo.location)
    expected = on_rig_proportions(rest, joints, leg_length(rest) / leg_length(joints))
    shape_error = np.abs(to_blender(back.joints * back.scale) - expected).max(axis=(1, 2))
    print(f"read-back: SMPL rig vs clip {smpl_error / CM:.3f} cm; Mixamo vs its posed heads {round_trip / CM:.4f} cm, "
          f"vs the clip on its skeleton median {np.median(shape_error) / CM:.2f} cm, max {shape_error.max() / CM:.2f} cm")
    assert smpl_error < 0.5 * CM
    assert round_trip < 0.1 * CM
    assert np.median(shape_error) < 1.5 * CM  # the bake's own fit (feet on the rig's floor) is all that differs

    # At 24 fps the 20 fps samples fall between scene frames (subframes); every 5th lands on every 6th frame.
    scene.render.fps = 24
    back24 = read(mixamo, 1.0, 40, bone_map="MIXAMO")
    scene.render.fps = 20
    assert back24.frame_step == pytest.approx(1.2)
    np.testing.assert_allclose(back24.joints[::5], back.joints[:48:6], atol=1e-6)

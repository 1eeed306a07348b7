"""Reading a rig's motion back (blender_addon/readback.py) and what is built on it, inside real Blender (PyPI bpy):
span edits ("Regenerate span", in-betweening) and "Continue from current frame".

Rigs: the add-on's own SMPL-22 rig and a Mixamo-style rig stored the FBX way (Y-up data in centimetres, A-pose arms,
other proportions; tests/rig_gallery.py), animated by our bake or keyed by hand (Bezier keys, Euler bones). Sampling
uses a tiny random temporal-latent model, in process and through the worker subprocess: its motion is noise, so the
tests check what the add-on guarantees whatever the model makes: frames outside the span as they were (every channel
of every bone bit for bit, twist and unmapped bones included), the seams continuous, a continuation starting on the
rig's pose and standing on its floor, and errors that change nothing.
"""

import os
import re
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
    """mode: a backend of the preferences, or "STAND_IN": in process with SplicingGenerator instead of a model."""
    from blender_addon import backend, prefs

    backend.shutdown_all()  # a fresh backend: an in-process one would keep the last test's generator
    p = bpy.context.preferences.addons[ADDON].preferences
    p.backend, p.weights_dir, p.device = "IN_PROCESS" if mode == "STAND_IN" else mode, str(weights), "cpu"
    p.python_path = sys.executable if mode == "EXTERNAL" else ""
    if mode == "STAND_IN":
        backend.get_backend(prefs.backend_config(bpy.context))._generator = SplicingGenerator()


class SplicingGenerator:
    """Stands in for MotionGenerator's edit_span and generate_sequence with smooth motion: a procedural clip of
    jumping jacks spliced in by the engine's own splice (what the real methods do with the model's frames), so the
    seams can be held to a walk's smoothness (a random model's frames are noise)."""

    def __init__(self):
        from motion_core.data.procedural.library import make_clip

        self.clip = make_clip("jumping_jacks", np.random.default_rng(2)).joints.astype(np.float64)

    def _frames(self, count):
        return self.clip[np.arange(count) % len(self.clip)]

    def edit_span(self, joints, first, last, prompt, variations=1, progress=None, **_):
        from motion_core.motion.clip import Motion
        from motion_core.motion.splice import splice_between

        out = splice_between(joints, self._frames(len(joints)), first, last)
        return Motion(joints=np.repeat(out[None], variations, 0).astype(np.float32), fps=20.0, prompt=prompt, seed=0)

    def generate_sequence(self, segments, variations=1, start=None, **_):
        from motion_core.motion.clip import Motion
        from motion_core.motion.splice import splice_after

        frames = int(round(sum(seconds for _, seconds in segments) * 20))
        out = splice_after(start, self._frames(len(start) - 1 + frames))
        return Motion(joints=np.repeat(out[None], variations, 0).astype(np.float32), fps=20.0, prompt="", seed=0)


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


# ---------------------------------------------------------------------------------------------------------- span edits

def seam_jump(heads, frame, first):
    """Largest change of velocity (m / frame) across scene frame `frame` of heads (F, K, 3) that start at `first`."""
    i = frame - first
    return float(np.abs((heads[i + 1] - heads[i]) - (heads[i] - heads[i - 1])).max())


@pytest.mark.parametrize("rig_kind, mode, fps", [("mixamo_by_hand", "STAND_IN", 20), ("mixamo_by_hand", "STAND_IN", 24),
                                                ("mixamo_by_hand", "IN_PROCESS", 20), ("smpl_ours", "EXTERNAL", 20)])
def test_regenerate_span_keeps_the_rest_and_joins_smoothly(scene, tiny_temporal_model, rig_kind, mode, fps):
    """Frames 20-40 of an action regenerated: a new action, the user's untouched, every frame up to 20 and from 40 on
    within 1 cm of the old one, and no jump in speed at either seam beyond the take's own (smooth new frames from the
    stand-in; the random model's are noise, so there the rule only catches a pasted, unspliced span). At 24 fps the
    rig is read at subframes and keyed back on whole frames: the kept frames carry that resampling's error."""
    from blender_addon import bake

    use_backend(mode, tiny_temporal_model)
    settings = scene.motion_mamba
    if rig_kind == "mixamo_by_hand":
        obj, names = mixamo_rig()
        user_action = hand_keyed_action(obj, names)
        settings.bone_map = "MIXAMO"
        last_frame = 61
    else:
        joints, _ = walk_clip()
        obj, _ = bake_joints(joints[:60], target=None)
        names = {n: n for n in NAMES}
        user_action = obj.animation_data.action
        settings.bone_map = "SMPL"
        last_frame = 60
    select(obj)
    scene.render.fps = fps
    markers = [names[n] for n in NAMES]
    frames = range(1, last_frame + 1)
    old = heads_over(obj, markers, frames)
    old_keys = [(fc.data_path, fc.array_index, [tuple(k.co) for k in fc.keyframe_points])
                for fc in bake.fcurves_for(obj, user_action)]
    actions_before = set(bpy.data.actions)

    settings.prompt, settings.steps, settings.seed = "a person jumps", 2, 4
    settings.span_start, settings.span_end = 20, 40
    assert bpy.ops.motion_mamba.generate(span=True) == {"FINISHED"}, \
        bpy.context.window_manager.motion_mamba_status.last_error

    new_action = obj.animation_data.action
    assert new_action not in actions_before and set(bpy.data.actions) - actions_before == {new_action}
    # whole frames of the action it replaces (at 24 fps up to the last 20 fps sample inside it)
    assert new_action.frame_range[0] == 1.0 and last_frame - 1 <= new_action.frame_range[1] <= last_frame
    frames = range(1, int(new_action.frame_range[1]) + 1)
    old = old[:len(frames)]
    assert [(fc.data_path, fc.array_index, [tuple(k.co) for k in fc.keyframe_points])
            for fc in bake.fcurves_for(obj, user_action)] == old_keys  # the user's action is untouched
    bake.fcurves_for(obj, new_action)
    new = heads_over(obj, markers, frames)
    outside = [f - 1 for f in frames if f <= 20 or f >= 40]
    inside = [f - 1 for f in frames if 20 < f < 40]
    kept_error = np.abs(new[outside] - old[outside]).max()
    changed = np.abs(new[inside] - old[inside]).max()
    jumps = {f: (seam_jump(new, f, 1), seam_jump(old, f, 1)) for f in (20, 40)}
    result = settings.results[settings.results_index]
    print(f"{rig_kind}/{mode}/{fps} fps: frames outside 20-40 moved {kept_error / CM:.3f} cm, inside up to {changed / CM:.1f} cm; "
          f"velocity change at the seams (new, old) cm/frame: " +
          ", ".join(f"{f}: {a / CM:.2f}, {b / CM:.2f}" for f, (a, b) in jumps.items()))
    assert kept_error < 1 * CM
    assert changed > 2 * CM  # the span really is new motion
    # The seam rule: the largest change of velocity at a seam <= 1.2x the 95th percentile of the take's own.
    roughness = np.percentile([seam_jump(new, f, 1) for f in range(2, len(frames)) if f not in (20, 40)], 95)
    print(f"    the take's own velocity change, 95th percentile: {roughness / CM:.2f} cm/frame")
    for frame, (new_jump, old_jump) in jumps.items():
        assert new_jump <= 1.2 * roughness, f"a jump in speed at frame {frame}: {new_jump / CM:.2f} cm/frame"
    assert result.placed_rig == obj.name and "20–40" in result.label
    # Baking the stored result again puts it back in the same place on the same rig.
    assert bpy.ops.motion_mamba.bake_result() == {"FINISHED"}
    assert np.abs(heads_over(obj, markers, frames) - new).max() < 1e-4


def test_in_between_two_keyed_poses(scene, tiny_temporal_model):
    """Two poses keyed by hand (frames 1-10 and 41-50 held, nothing between but Blender's interpolation): the gap
    11-40 is generated from the two selected markers; the poses stay where they were keyed."""
    use_backend("IN_PROCESS", tiny_temporal_model)
    settings = scene.motion_mamba
    obj, names = mixamo_rig()
    obj.animation_data_create()
    for joint, values in (("left_hip", (0.4, -0.6)), ("right_shoulder", (-0.5, 0.7)), ("spine1", (0.0, 0.3))):
        pb = obj.pose.bones[names[joint]]
        pb.rotation_mode = "XYZ"
        for frame, value in ((1, values[0]), (10, values[0]), (41, values[1]), (50, values[1])):
            pb.rotation_euler = (value, 0.0, 0.0)
            pb.keyframe_insert("rotation_euler", frame=frame)
    select(obj)
    settings.bone_map = "MIXAMO"
    for frame in (10, 41):
        scene.timeline_markers.new(f"pose {frame}", frame=frame).select = True
    markers = [names[n] for n in NAMES]
    old = heads_over(obj, markers, (10, 41))
    settings.prompt, settings.steps = "a person steps to the side", 2
    assert bpy.ops.motion_mamba.generate(span=True) == {"FINISHED"}, \
        bpy.context.window_manager.motion_mamba_status.last_error
    error = np.abs(heads_over(obj, markers, (10, 41)) - old).max()
    print(f"in-between: keyed poses moved {error / CM:.3f} cm")
    assert error < 1 * CM


# ---------------------------------------------------------------------------------------------------------- continuation

@pytest.mark.parametrize("timeline, mode", [(False, "STAND_IN"), (True, "IN_PROCESS")])
def test_continue_from_current_frame(scene, tiny_temporal_model, timeline, mode):
    """A new take from frame 30 of a walking rig: its action starts at frame 30 on the rig's pose there, moving on
    as the rig was moving: the change of velocity there within the seam rule of the span edits."""
    use_backend(mode, tiny_temporal_model)
    settings = scene.motion_mamba
    joints, _ = walk_clip()
    obj, names = mixamo_rig()
    bake_joints(joints[:60], target=obj, bone_map="MIXAMO")
    select(obj)
    markers = [names[n] for n in NAMES]
    old = heads_over(obj, markers, (29, 30))
    scene.frame_set(30)
    settings.continue_from_frame, settings.target, settings.steps = True, "NEW_RIG", 2  # the selected rig continues
    settings.prompt, settings.seconds = "a person waves", 1.5
    if timeline:
        settings.segments.clear()
        for prompt in ("a person turns", "a person sits"):
            item = settings.segments.add()
            item.prompt, item.seconds = prompt, 1.0
    objects = set(bpy.data.objects)
    assert bpy.ops.motion_mamba.generate(timeline=timeline) == {"FINISHED"}, \
        bpy.context.window_manager.motion_mamba_status.last_error
    assert set(bpy.data.objects) == objects  # no new rig: the selected one continues
    action = obj.animation_data.action
    assert action.frame_range[0] == 30.0
    assert action.frame_range[1] == pytest.approx(30 + (40 if timeline else 30) - 1, abs=1)
    new = heads_over(obj, markers, range(30, int(action.frame_range[1]) + 1))
    start_error = np.abs(new[0] - old[1]).max()
    step_change = np.abs((new[1] - new[0]) - (old[1] - old[0])).max()
    roughness = np.percentile([seam_jump(new, f, 0) for f in range(1, len(new) - 1)], 95)
    print(f"continue ({mode}, timeline={timeline}): first frame {start_error / CM:.3f} cm from the rig's pose; "
          f"change of velocity there {step_change / CM:.2f} cm/frame (the take's own, 95th percentile: "
          f"{roughness / CM:.2f})")
    assert start_error < 1 * CM
    assert step_change <= 1.2 * roughness
    if timeline:
        assert sorted(m.frame for m in scene.timeline_markers) == [30, 50]  # segments start at the current frame


# ---------------------------------------------------------------------------------------------------------- errors

def test_errors_are_one_line_and_change_nothing(scene, tiny_temporal_model):
    use_backend("IN_PROCESS", tiny_temporal_model)
    settings = scene.motion_mamba
    status = bpy.context.window_manager.motion_mamba_status
    joints, _ = walk_clip()
    smpl, _ = bake_joints(joints[:60], target=None)
    settings.results.clear()
    bpy.ops.object.armature_add()
    odd = bpy.context.active_object  # one bone called "Bone": no bone map
    odd.animation_data_create()
    odd.pose.bones["Bone"].keyframe_insert("location", frame=1)
    odd.pose.bones["Bone"].keyframe_insert("location", frame=60)
    bpy.ops.object.armature_add()
    still = bpy.context.active_object
    still.name = "Still"
    settings.prompt, settings.steps = "a person jumps", 2
    before = snapshot()

    def fails(expected, **operator):
        with pytest.raises(RuntimeError, match=re.escape(expected)):  # bpy.ops raises the reported error
            bpy.ops.motion_mamba.generate(**operator)
        assert expected in status.last_error and "\n" not in status.last_error
        assert snapshot() == before, expected

    select(None)
    fails("Select the armature whose action", span=True)
    settings.continue_from_frame = True
    fails("Select the armature to continue from")
    select(odd)
    fails("Could not recognise the bones")
    settings.continue_from_frame = False
    fails("Could not recognise the bones", span=True)
    settings.bone_map = "SMPL"
    select(still)
    settings.bone_map = "AUTO"
    fails("Could not recognise the bones", span=True)
    select(smpl)
    settings.span_start = settings.span_end = 0
    fails("Set the frames to regenerate", span=True)
    for (a, b), expected in (((30, 20), "ends before it starts"), ((1, 20), "not inside the action"),
                             ((40, 60), "not inside the action"), ((-10, 20), "not inside the action"),
                             ((20, 21), "too close together")):
        settings.span_start, settings.span_end = a, b
        fails(expected, span=True)
    settings.span_start, settings.span_end = 20, 40
    settings.prompt = "  "
    fails("Type a prompt for the span", span=True)
    settings.prompt = "a person jumps"
    settings.bone_map = "CUSTOM"  # 21 joints: enough to bake onto, not to read a whole body back
    for joint in NAMES:
        if joint != "left_collar":
            entry = settings.custom_map.add()
            entry.joint, entry.bone = joint, joint
    fails("needs all 22 joints in the bone map (missing left_collar)", span=True)
    settings.continue_from_frame = True
    fails("needs all 22 joints in the bone map (missing left_collar)")
    settings.continue_from_frame, settings.bone_map = False, "SMPL"
    action = smpl.animation_data.action
    action.use_frame_range, action.frame_start, action.frame_end = True, 1, 12100  # 10 min 5 s at 20 fps
    before = snapshot()
    settings.span_start, settings.span_end = 20, 12090  # only the span and its context are read: its length counts
    fails("span 10.1 minutes", span=True)
    settings.span_start, settings.span_end = 20, 40
    action.use_frame_range = False
    smpl.animation_data.action = None
    before = snapshot()
    fails("has no action to edit", span=True)
    # The 'From Timeline' button: markers first, then the preview range.
    with pytest.raises(RuntimeError, match="Select two timeline markers"):
        bpy.ops.motion_mamba.span_from_timeline()
    scene.use_preview_range, scene.frame_preview_start, scene.frame_preview_end = True, 12, 34
    assert bpy.ops.motion_mamba.span_from_timeline() == {"FINISHED"}
    assert (settings.span_start, settings.span_end) == (12, 34)


def curve_table(obj, action):
    """(data path, index) -> (every key's co, handles and interpolation, the F-curve) of `action`."""
    from blender_addon import bake

    return {(fc.data_path, fc.array_index): ([tuple(k.co) + tuple(k.handle_left) + tuple(k.handle_right)
                                              + (k.interpolation,) for k in fc.keyframe_points], fc)
            for fc in bake.fcurves_for(obj, action)}


def test_span_edit_changes_only_the_mapped_bones_inside_the_span(scene):
    """The user's detail survives a span edit: an unmapped finger's keys, a mapped forearm's twist (Euler Y about its
    own axis, which joint positions cannot carry), a quaternion head turn and every other channel evaluate bit for bit
    as before on every whole frame up to A and from B on; the user's action is untouched; the pose at A and B is the
    user's exactly; inside the span the keyed bones move and the twist goes on (the user's at A fading into B's)."""
    from blender_addon import bake

    use_backend("STAND_IN", "")
    settings = scene.motion_mamba
    obj, names = mixamo_rig()
    user_action = hand_keyed_action(obj, names)
    finger, forearm, head = "mixamorig:LeftHandIndex1", obj.pose.bones[names["left_elbow"]], names["head"]
    pb = obj.pose.bones[finger]
    pb.rotation_mode = "XYZ"
    for frame in range(1, 62, 6):  # a finger curling (Bezier) through the whole take
        pb.rotation_euler = (0.6 * np.sin(frame / 4.0), 0.0, 0.2)
        pb.keyframe_insert("rotation_euler", frame=frame)
    forearm.rotation_mode = "XYZ"
    for frame in range(1, 62, 10):  # the forearm twisting about its own axis (Y)
        forearm.rotation_euler = (0.3, 0.9 * np.sin(frame / 7.0), 0.0)
        forearm.keyframe_insert("rotation_euler", frame=frame)
    hb = obj.pose.bones[head]
    hb.rotation_mode = "QUATERNION"
    for frame in (1, 30, 61):  # a head turn, keyed as quaternions
        angle = 0.8 * np.sin(frame / 10.0)
        hb.rotation_quaternion = (np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0)
        hb.keyframe_insert("rotation_quaternion", frame=frame)
    select(obj)
    settings.bone_map = "MIXAMO"
    a, b = 20, 40
    frames = list(range(1, 62))
    before = curve_table(obj, user_action)
    old_values = {key: [fc.evaluate(f) for f in frames] for key, (_, fc) in before.items()}
    all_bones = [p.name for p in obj.pose.bones]
    old_pose = []
    for f in frames:
        scene.frame_set(f)
        old_pose.append(np.array([np.asarray(obj.pose.bones[n].matrix) for n in all_bones]))

    settings.prompt, settings.steps, settings.seed = "a person jumps", 2, 4
    settings.span_start, settings.span_end = a, b
    assert bpy.ops.motion_mamba.generate(span=True) == {"FINISHED"}, \
        bpy.context.window_manager.motion_mamba_status.last_error
    new_action = obj.animation_data.action
    assert new_action != user_action
    after = curve_table(obj, user_action)
    assert {k: rows for k, (rows, _) in after.items()} == {k: rows for k, (rows, _) in before.items()}  # untouched
    edited = curve_table(obj, new_action)
    assert set(before) <= set(edited)
    finger_path = f'pose.bones["{finger}"].rotation_euler'
    for i in range(3):
        assert edited[(finger_path, i)][0] == before[(finger_path, i)][0]  # the finger's keys, bit for bit
    outside = [j for j, f in enumerate(frames) if f <= a or f >= b]
    for key, values in old_values.items():
        new_values = [edited[key][1].evaluate(f) for f in frames]
        assert [new_values[j] for j in outside] == [values[j] for j in outside], key
    moved, twist_inside = 0.0, []
    twist_path = forearm.path_from_id("rotation_euler")
    for j, f in enumerate(frames):
        scene.frame_set(f)
        pose = np.array([np.asarray(obj.pose.bones[n].matrix) for n in all_bones])
        if f <= a or f >= b:
            np.testing.assert_array_equal(pose, old_pose[j], err_msg=f"frame {f}")
        else:
            moved = max(moved, float(np.abs(pose[:, :3, 3] - old_pose[j][:, :3, 3]).max()))
            twist_inside.append(edited[(twist_path, 1)][1].evaluate(f))
    print(f"span edit on a hand-keyed rig: outside {a}-{b} bit-identical; inside the bones moved up to "
          f"{moved:.1f} cm (armature units); forearm twist inside "
          f"{min(twist_inside):.2f}..{max(twist_inside):.2f} rad (user's at A {old_values[(twist_path, 1)][a - 1]:.2f}, "
          f"at B {old_values[(twist_path, 1)][b - 1]:.2f})")
    assert moved > 2.0  # centimetres of armature space: the span is new motion
    # The user's twist goes on into the span: each frame within the range of the user's at A and B and the new
    # motion's own twist (the stand-in's is small), not reset to zero at the seams.
    ends = (old_values[(twist_path, 1)][a - 1], old_values[(twist_path, 1)][b - 1])
    assert abs(twist_inside[0] - ends[0]) < 0.2 and abs(twist_inside[-1] - ends[1]) < 0.2


def test_continuation_keeps_the_rigs_floor(scene):
    """A rig whose feet stand 15 cm above where the model's would (a SMPL rig made from a clip raised 15 cm): the
    continued frames stand on the same floor as the frames read back (lowest foot joint, 10th percentile, within
    2 cm), not on the model's, once the given pose has been let go of."""
    use_backend("STAND_IN", "")
    settings = scene.motion_mamba
    joints, _ = walk_clip()
    raised = joints + np.array([0.0, 0.15, 0.0])
    obj, _ = bake_joints(raised[:60], target=None)
    select(obj)
    feet = [n for n in NAMES if n.endswith("_ankle") or n.endswith("_foot")]
    old = heads_over(obj, feet, range(11, 31))[..., 2].min(axis=1)  # (F,) lowest foot joint, world Z
    scene.frame_set(30)
    settings.bone_map, settings.continue_from_frame, settings.target = "SMPL", True, "NEW_RIG"
    settings.prompt, settings.seconds, settings.steps = "a person does jumping jacks", 4.0, 2
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}, bpy.context.window_manager.motion_mamba_status.last_error
    action = obj.animation_data.action
    new = heads_over(obj, feet, range(30 + 25, int(action.frame_range[1]) + 1))[..., 2].min(axis=1)
    old_floor, new_floor = np.percentile(old, 10), np.percentile(new, 10)
    print(f"continuation floor: read-back {old_floor / CM:.1f} cm, new frames {new_floor / CM:.1f} cm")
    assert abs(new_floor - old_floor) < 2 * CM

"""The add-on inside real Blender (PyPI bpy, headless): registration, generation end to end, retarget accuracy on two
rigs, cancel, bad input, and the user's own action.

Generation runs with a small random model (MotionGenerator.random, saved with save_pretrained) both in-process and
through the `motion-mamba worker` subprocess. Random weights give non-rigid joints, which no armature can follow, so
those runs are compared with the rigid skeleton nearest to them (same IK, the rig's bone lengths); the 1 cm check on
raw generator joints uses a generator stand-in that returns a rigid procedural walk (what a trained model produces
up to its bone-length noise), on an SMPL rig and on a Mixamo-named rig with another rest pose.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (ships with bpy)

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from motion_core.motion import skeleton  # noqa: E402
from motion_core.motion.clip import Motion  # noqa: E402
from rig_gallery import reset_panel_state  # noqa: E402  (the add-on panel reset both bpy test files use)

ADDON = "blender_addon"
NAMES = list(skeleton.JOINT_NAMES)
CM = 0.01


# ---------------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mm_user")
    os.environ["MOTION_MAMBA_USER_DIR"] = str(path)
    yield path
    os.environ.pop("MOTION_MAMBA_USER_DIR", None)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator

    folder = tmp_path_factory.mktemp("tiny_model")
    MotionGenerator.random(seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def blender(user_dir):
    """One factory-fresh Blender for the module; disabling the add-on at the end stops its worker."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    if ADDON in bpy.context.preferences.addons:
        addon_utils.disable(ADDON, default_set=True)


@pytest.fixture
def scene(blender):
    """An emptied scene with the add-on enabled and its settings at their defaults. The scene is cleared by hand
    (not read_factory_settings, which unregisters the add-on) so a running worker is reused across tests."""
    if ADDON not in bpy.context.preferences.addons:
        addon_utils.enable(ADDON, default_set=True)
    for collection in (bpy.data.objects, bpy.data.actions, bpy.data.armatures, bpy.data.meshes, bpy.data.cameras):
        for block in list(collection):
            collection.remove(block)
    scene = bpy.context.scene
    reset_panel_state(scene)
    yield scene


def preferences():
    return bpy.context.preferences.addons[ADDON].preferences


def use_backend(mode, weights=None, python=""):
    p = preferences()
    p.backend, p.weights_dir, p.python_path, p.device = mode, str(weights or ""), python, "cpu"


def snapshot():
    """What a failed or cancelled generation must not change."""
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": sorted(a.name for a in bpy.data.actions),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "results": len(scene.motion_mamba.results),
        "frame_end": scene.frame_end,
        "active_actions": sorted((o.name, o.animation_data.action.name if o.animation_data and
                                  o.animation_data.action else "") for o in bpy.data.objects),
    }


def posed_world_heads(obj, bone_names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([np.asarray(obj.matrix_world @ obj.pose.bones[n].head) for n in bone_names])


def to_blender(joints):
    """Motion space (Y-up) -> Blender world (Z-up), written out independently of the add-on: (x, y, z) -> (x, -z, y)."""
    joints = np.asarray(joints, dtype=np.float64)
    return np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)


def max_joint_error(obj, bone_names, joints, start_frame=1):
    """Max over frames and joints of |baked head - joint| in metres. joints: (T, 22, 3) motion space."""
    target = to_blender(joints)
    errors = [np.abs(posed_world_heads(obj, bone_names, start_frame + t) - target[t]).max()
              for t in range(0, len(joints), 3)]
    return float(max(errors))


def new_armatures(before):
    return [o for o in bpy.data.objects if o.type == "ARMATURE" and o.name not in before["objects"]]


def rigid_equivalent(joints):
    """The rigid skeleton motion nearest to `joints`: swing IK, then FK with the clip's rest offsets."""
    joints = np.asarray(joints, dtype=np.float64)
    local, root = skeleton.joints_to_rotations(joints)
    return skeleton.forward_kinematics(local, root, skeleton.rest_offsets(joints))


class RigidWalkGenerator:
    """Stands in for MotionGenerator (same generate signature): a rigid procedural walk with a wave."""

    def __init__(self):
        from motion_core.data.procedural import generate_clip

        self.joints, _ = generate_clip("walk", np.random.default_rng(7))

    def generate(self, prompt, seconds, seed=None, steps=50, guidance=7.5, variations=1, device="auto",
                 progress=None, cancel=None, foot_cleanup=True, sampler=None, candidates=1):
        self.foot_cleanup_calls = getattr(self, "foot_cleanup_calls", []) + [foot_cleanup]
        self.candidates_calls = getattr(self, "candidates_calls", []) + [candidates]
        self.sampler_calls = getattr(self, "sampler_calls", []) + [(sampler, steps)]
        for step in range(1, 4):
            if progress:
                progress(step, 3)
        joints = np.repeat(self.joints[None].astype(np.float32), variations, axis=0)
        return Motion(joints=joints, fps=20.0, prompt=prompt, seed=seed)


def install_stand_in(generator):
    """Route the in-process backend to `generator` (the backend is what the operator will use)."""
    from blender_addon import backend, prefs

    config = prefs.backend_config(bpy.context)
    instance = backend.get_backend(config)
    instance._generator = generator
    return instance


def panel_draws(settings, prop):
    """Whether the generate panel draws `settings.<prop>`."""
    from blender_addon import ui

    calls = []
    ui.VIEW3D_PT_motion_mamba.draw(type("PanelSelf", (), {"layout": RecordingLayout(calls)})(), bpy.context)
    return (settings, prop) in calls


def generate_in_process_with(settings, tmp_path, prop, values):
    """One generation per value of `settings.<prop>` on the in-process backend, into a RigidWalkGenerator stand-in,
    which is returned (it records what each call was given)."""
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    settings.prompt, settings.seconds = "a person walks forward", 1.0
    for value in values:
        setattr(settings, prop, value)
        assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    return stand_in


def worker_requests_with(settings, model, prop, values):
    """One 2-step generation per value of `settings.<prop>` through the worker on `model`; returns the generate
    requests the worker was sent."""
    from blender_addon import backend, prefs

    use_backend("EXTERNAL", model, python=sys.executable)
    worker = backend.get_backend(prefs.backend_config(bpy.context))
    sent, send = [], worker._send
    worker._send = lambda message, *args: (sent.append(message), send(message, *args))[1]
    settings.steps = 2
    try:
        for value in values:
            setattr(settings, prop, value)
            assert bpy.ops.motion_mamba.generate() == {"FINISHED"}, \
                bpy.context.window_manager.motion_mamba_status.last_error
    finally:
        del worker._send
    return [m for m in sent if m["type"] == "generate"]


def build_mixamo_rig(joints, name="Mixamo"):
    """A Mixamo-named armature (prefix `mixamorig:`) with the clip's proportions but another rest pose: A-pose arms
    (40° down), feet flat, all rolls different from ours, an extra end bone and finger; stored the way FBX imports
    arrive: armature data Y-up in centimetres, object rotated 90° about X and scaled 0.01."""
    from blender_addon.bone_maps import PRESETS
    from motion_core.motion.retarget import a_pose_rest_joints

    rest = a_pose_rest_joints(joints, arm_drop_deg=40.0)
    mixamo = dict(PRESETS["MIXAMO"])
    children = {0: 3, 9: 12}
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.collection.objects.link(obj)
    obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
    obj.scale = (CM, CM, CM)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(3)
    for j, joint in enumerate(NAMES):
        eb = data.edit_bones.new("mixamorig:" + mixamo[joint])
        head = rest[j] / CM
        kids = [c for c in range(22) if skeleton.PARENTS[c] == j]
        tail = rest[children.get(j, kids[0])] / CM if kids else head + np.array([0.0, 8.0, 3.0])
        eb.head, eb.tail = tuple(head), tuple(tail)
        eb.roll = float(rng.uniform(-np.pi, np.pi))
        if skeleton.PARENTS[j] >= 0:
            eb.parent = data.edit_bones["mixamorig:" + mixamo[NAMES[skeleton.PARENTS[j]]]]
    end = data.edit_bones.new("mixamorig:HeadTop_End")
    end.head = tuple(rest[15] / CM + np.array([0.0, 15.0, 0.0]))
    end.tail = tuple(rest[15] / CM + np.array([0.0, 20.0, 0.0]))
    end.parent = data.edit_bones["mixamorig:Head"]
    finger = data.edit_bones.new("mixamorig:LeftHandIndex1")
    finger.head = tuple(rest[20] / CM + np.array([3.0, -3.0, 0.0]))
    finger.tail = tuple(rest[20] / CM + np.array([6.0, -6.0, 0.0]))
    finger.parent = data.edit_bones["mixamorig:LeftHand"]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj, ["mixamorig:" + mixamo[n] for n in NAMES]


def key_user_action(obj, bone_name):
    """The user's own animation: two keys on one bone, in an action named 'UserWalk'."""
    obj.animation_data_create()
    pb = obj.pose.bones[bone_name]
    pb.rotation_mode = "XYZ"
    pb.rotation_euler = (0.3, 0.0, 0.0)
    pb.keyframe_insert("rotation_euler", frame=1)
    pb.rotation_euler = (-0.3, 0.0, 0.0)
    pb.keyframe_insert("rotation_euler", frame=10)
    action = obj.animation_data.action
    action.name = "UserWalk"
    return action


def action_key_values(action, obj):
    """All (data_path, index, keys) of an action, through the add-on's version shim."""
    from blender_addon import bake

    anim = obj.animation_data
    saved = (anim.action, getattr(anim, "action_slot", None))
    curves = bake.fcurves_for(obj, action)
    values = sorted((fc.data_path, fc.array_index, tuple(round(k.co[1], 6) for k in fc.keyframe_points))
                    for fc in curves)
    anim.action = saved[0]
    if saved[1] is not None:
        anim.action_slot = saved[1]
    return values


# ------------------------------------------------------------------------------------------------------------- tests

def test_register_unregister_leaves_no_classes(blender):
    import blender_addon
    from blender_addon import operators, prefs, props, ui

    if ADDON not in bpy.context.preferences.addons:
        addon_utils.enable(ADDON, default_set=True)
    all_classes = props.classes + prefs.classes + operators.classes + ui.classes
    assert all(c.is_registered for c in all_classes)
    assert hasattr(bpy.types, "VIEW3D_PT_motion_mamba") and hasattr(bpy.ops.motion_mamba, "generate")
    assert hasattr(bpy.types.Scene, "motion_mamba")
    addon_utils.disable(ADDON, default_set=True)
    assert not [c.__name__ for c in all_classes if c.is_registered]
    assert not hasattr(bpy.types, "VIEW3D_PT_motion_mamba")
    assert not hasattr(bpy.types.Scene, "motion_mamba")
    assert not hasattr(bpy.types.WindowManager, "motion_mamba_status")
    assert blender_addon.bl_info["blender"] == (4, 2, 0)
    addon_utils.enable(ADDON, default_set=True)  # twice in one session works (no stale classes)
    assert hasattr(bpy.types.Scene, "motion_mamba")
    addon_utils.disable(ADDON, default_set=True)


def test_execute_in_process_end_to_end(scene, tiny_model):
    use_backend("IN_PROCESS", tiny_model)
    settings = scene.motion_mamba
    settings.prompt, settings.seconds, settings.steps, settings.seed, settings.variations = "a person waves", 2.0, 4, 5, 2
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    rigs = new_armatures(before)
    assert len(rigs) == 1 and rigs[0].animation_data.action is not None
    assert len(settings.results) == 2 and settings.results[0].frames == 40
    from blender_addon.generation import load_result_joints

    joints = load_result_joints(settings.results[0])
    assert joints.shape == (40, 22, 3)
    # Random weights give non-rigid joints; the rig must follow their nearest rigid motion within 1 cm.
    assert max_joint_error(rigs[0], NAMES, rigid_equivalent(joints)) < 0.01
    assert scene.frame_end >= 40
    # Bake the second variation from the results list onto another new rig: a second new action.
    assert bpy.ops.motion_mamba.bake_result(index=1) == {"FINISHED"}
    assert len(new_armatures(before)) == 2 and len(bpy.data.actions) == 2
    assert bpy.ops.motion_mamba.delete_result(index=1) == {"FINISHED"} and len(settings.results) == 1
    assert len(bpy.data.actions) == 2  # deleting a result keeps what was baked from it


def test_execute_through_worker_subprocess(scene, tiny_model):
    use_backend("EXTERNAL", tiny_model, python=sys.executable)
    settings = scene.motion_mamba
    settings.prompt, settings.seconds, settings.steps, settings.seed = "a person jumps", 1.5, 3, 11
    from blender_addon import prefs
    from motion_core.motion.protocol import load_result

    cached = set(os.listdir(prefs.results_folder()))
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}, bpy.context.window_manager.motion_mamba_status.last_error
    from blender_addon import backend
    from blender_addon.generation import load_result_joints

    workers = [b for b in backend._BACKENDS.values() if isinstance(b, backend.WorkerBackend)]
    assert len(workers) == 1 and workers[0].alive  # stays up between generations
    rig_obj = new_armatures(before)[0]
    joints = load_result_joints(settings.results[0])
    assert joints.shape == (30, 22, 3)
    # The worker wrote the one result file, straight into the results folder; the bake used the joints in memory.
    path = settings.results[0].path
    assert os.path.dirname(path) == prefs.results_folder()
    assert set(os.listdir(prefs.results_folder())) - cached == {os.path.basename(path)}
    assert os.listdir(workers[0]._out_dir) == []
    np.testing.assert_array_equal(load_result(path).joints[0], joints)
    assert max_joint_error(rig_obj, NAMES, rigid_equivalent(joints)) < 0.01
    # Same seed, same settings: the same motion again from the running worker.
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    np.testing.assert_allclose(load_result_joints(settings.results[1]), joints, atol=1e-5)
    assert workers[0].alive and len(backend._BACKENDS) == 1


def check_cancel(scene, mode, python, tiny_model):
    """Start a long generation, cancel after the first sampler steps (what Esc does in the modal operator)."""
    from blender_addon import generation

    use_backend(mode, tiny_model, python=python)
    settings = scene.motion_mamba
    settings.prompt, settings.seconds, settings.steps = "a person dances", 9.0, 1000
    before = snapshot()
    run = generation.GenerationRun(bpy.context).start()
    deadline = time.monotonic() + 60
    while run.poll() == "RUNNING" and run.job.step < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.job.step >= 1, f"{mode}: no progress before the deadline ({run.job.error})"
    run.cancel()
    assert run.wait() == "CANCELLED", f"{mode}: {run.job.error}"
    assert run.job.step < run.job.total
    assert snapshot() == before


def test_cancel_through_worker_leaves_scene_unchanged(scene, tiny_model):
    check_cancel(scene, "EXTERNAL", sys.executable, tiny_model)
    # Esc at once, before sampling starts: whatever the worker still sends, nothing reaches the scene.
    from blender_addon import generation

    scene.motion_mamba.steps, scene.motion_mamba.seconds = 3, 1.0
    before = snapshot()
    run = generation.GenerationRun(bpy.context).start()
    run.cancel()
    assert run.wait() == "CANCELLED" and run.job.result is None
    assert snapshot() == before


def test_worker_crash_is_reported_and_changes_nothing(scene, tiny_model):
    from blender_addon import generation

    use_backend("EXTERNAL", tiny_model, python=sys.executable)
    settings = scene.motion_mamba
    settings.prompt, settings.seconds, settings.steps = "a person falls", 9.0, 1000
    before = snapshot()
    run = generation.GenerationRun(bpy.context).start()
    deadline = time.monotonic() + 60
    while run.poll() == "RUNNING" and run.job.step < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    from blender_addon import backend

    worker = next(iter(backend._BACKENDS.values()))
    worker._process.kill()
    assert run.wait() == "FAILED"
    assert "worker stopped" in run.job.error and "scene are unchanged" in run.job.error
    assert snapshot() == before
    # The next generation starts a fresh worker, here as the "private backend": Blender's Python plus the add-on's
    # own dependency folder (which the installer fills; here torch is linked in from this environment).
    from blender_addon import prefs

    import torch

    deps = Path(prefs.deps_folder())
    if not (deps / "torch").exists():
        (deps / "torch").symlink_to(Path(torch.__file__).parent, target_is_directory=True)
    use_backend("PRIVATE", tiny_model)
    settings.steps, settings.seconds = 2, 1.0
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    worker = next(iter(backend._BACKENDS.values()))
    assert isinstance(worker, backend.WorkerBackend) and worker.config.extra_paths == (str(deps),)
    (deps / "torch").unlink()


def test_joints_match_within_1cm_on_smpl_and_mixamo_rigs(scene, tmp_path):
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    settings = scene.motion_mamba
    settings.prompt, settings.seconds = "a person walks forward", 4.0
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    smpl_rig = new_armatures(before)[0]
    smpl_error = max_joint_error(smpl_rig, NAMES, stand_in.joints)

    mixamo, mixamo_bones = build_mixamo_rig(stand_in.joints)
    bpy.context.view_layer.objects.active = mixamo
    settings.target, settings.bone_map = "SELECTED", "AUTO"
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    assert mixamo.animation_data.action is not None
    mixamo_error = max_joint_error(mixamo, mixamo_bones, stand_in.joints)
    print(f"joint match: SMPL rig {smpl_error * 100:.3f} cm, Mixamo A-pose rig {mixamo_error * 100:.3f} cm")
    assert smpl_error < 0.01
    assert mixamo_error < 0.01
    # The unmapped bones were not keyed.
    from blender_addon import bake

    paths = {fc.data_path for fc in bake.fcurves_for(mixamo, mixamo.animation_data.action)}
    assert not any("HeadTop_End" in p or "Index1" in p for p in paths)


def test_foot_cleanup_checkbox_reaches_both_backends(scene, tiny_model, tmp_path):
    """On by default; the panel draws it; unticked, the in-process generator and the worker are told so."""
    settings = scene.motion_mamba
    assert settings.foot_cleanup is True
    assert panel_draws(settings, "foot_cleanup")
    stand_in = generate_in_process_with(settings, tmp_path, "foot_cleanup", (True, False))
    assert stand_in.foot_cleanup_calls == [True, False]
    sent = worker_requests_with(settings, tiny_model, "foot_cleanup", (False, True))
    assert [m["foot_cleanup"] for m in sent] == [False, True]


def test_takes_to_choose_from_is_drawn_and_reaches_both_backends(scene, tiny_model, tmp_path):
    """The panel's "Takes to choose from" (candidates, default props.DEFAULT_CANDIDATES) goes to the in-process
    generator and into the worker's request; the worker answers with the variations asked for."""
    from blender_addon import props

    settings = scene.motion_mamba
    assert settings.candidates == props.DEFAULT_CANDIDATES
    assert panel_draws(settings, "candidates")
    stand_in = generate_in_process_with(settings, tmp_path, "candidates", (1, 4))
    assert stand_in.candidates_calls == [1, 4]
    settings.variations = 2
    sent = worker_requests_with(settings, tiny_model, "candidates", (2,))
    assert [m["candidates"] for m in sent] == [2]
    assert len(settings.results) >= 2 and settings.results[-1].frames == 20


def test_sampler_choice_moves_the_steps_and_reaches_both_backends(scene, tiny_model, tmp_path):
    """Standard (DDIM, 50 steps) by default; Fast switches to DPM-Solver++ and 10 steps (and back), unless the user
    set another step count; the panel draws it; both backends are told."""
    from blender_addon import props

    settings = scene.motion_mamba
    assert settings.sampler == "ddim" and settings.steps == 50
    assert panel_draws(settings, "sampler")
    settings.sampler = "dpmpp_2m"
    assert settings.steps == props.FAST_STEPS == 10
    settings.sampler = "ddim"
    assert settings.steps == 50
    settings.steps = 30  # the user's own count stays
    settings.sampler = "dpmpp_2m"
    assert settings.steps == 30
    stand_in = generate_in_process_with(settings, tmp_path, "sampler", ("dpmpp_2m", "ddim"))
    assert stand_in.sampler_calls == [("dpmpp_2m", 30), ("ddim", 30)]
    sent = worker_requests_with(settings, tiny_model, "sampler", ("dpmpp_2m", "ddim"))
    assert [m["sampler"] for m in sent] == ["dpmpp_2m", "ddim"]


def test_cancel_in_process_leaves_scene_unchanged(scene, tiny_model):
    check_cancel(scene, "IN_PROCESS", "", tiny_model)


def test_bad_input_reports_and_changes_nothing(scene, tiny_model):
    use_backend("IN_PROCESS", tiny_model)
    settings = scene.motion_mamba
    status = bpy.context.window_manager.motion_mamba_status
    bpy.ops.object.armature_add()
    odd = bpy.context.active_object  # one bone called "Bone": nothing to map
    before = snapshot()
    cases = [
        (dict(prompt="   "), "Type a prompt"),
        (dict(prompt="walk", target="SELECTED", bone_map="AUTO"), "Could not recognise the bones"),
        (dict(prompt="walk", target="SELECTED", bone_map="MIXAMO"), "pelvis"),
    ]
    for values, expected in cases:
        settings.target = "NEW_RIG"
        for key, value in values.items():
            setattr(settings, key, value)
        with pytest.raises(RuntimeError, match=expected):  # bpy.ops raises the reported error
            bpy.ops.motion_mamba.generate()
        assert expected in status.last_error
        assert snapshot() == before
    bpy.context.view_layer.objects.active = None
    settings.target = "SELECTED"
    with pytest.raises(RuntimeError, match="Select the armature"):
        bpy.ops.motion_mamba.generate()
    use_backend("IN_PROCESS", "/nonexistent/model")
    settings.target = "NEW_RIG"
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.motion_mamba.generate()
    assert snapshot() == before and odd.name in bpy.data.objects


def test_results_travel_in_the_blend_and_rigs_line_up(scene, tmp_path):
    """A saved .blend carries its results (packed): they bake after the cache folder is gone, e.g. on another machine.
    New SMPL rigs stand beside the previous one, messages name the action really made, and a success clears the
    last error."""
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    settings = scene.motion_mamba
    settings.prompt = "a person walks"
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    first_name = new_armatures(before)[0].name
    os.remove(settings.results[0].path)  # the user folder of the machine that generated it
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    settings = scene.motion_mamba
    status = bpy.context.window_manager.motion_mamba_status
    assert len(settings.results) == 1 and settings.results[0].action == "MM_a_person_walks_s0_v1"

    settings.target = "SELECTED"
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="Select the armature"):
        bpy.ops.motion_mamba.bake_result(index=0)
    assert status.last_error
    settings.target = "NEW_RIG"
    before = snapshot()
    assert bpy.ops.motion_mamba.bake_result(index=0) == {"FINISHED"}
    assert status.last_error == "" and "'MM_a_person_walks_s0_v1.001'" in status.message
    assert settings.results[0].action == "MM_a_person_walks_s0_v1.001" in bpy.data.actions
    second_rig = new_armatures(before)[0]
    assert (second_rig.location - bpy.data.objects[first_name].location).length == pytest.approx(1.0)  # beside
    heads = posed_world_heads(second_rig, NAMES, 1) - np.asarray(second_rig.location)
    assert np.abs(heads - to_blender(stand_in.joints[0])).max() < 0.01


def test_users_action_survives(scene, tmp_path):
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    mixamo, _ = build_mixamo_rig(stand_in.joints, name="Hero")
    user_action = key_user_action(mixamo, "mixamorig:Spine")
    user_keys = action_key_values(user_action, mixamo)
    settings = scene.motion_mamba
    settings.prompt, settings.target, settings.bone_map = "a person walks", "SELECTED", "MIXAMO"
    bpy.context.view_layer.objects.active = mixamo

    # As an NLA strip: the user's action stays active and untouched.
    settings.push_to_nla = True
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    assert mixamo.animation_data.action == user_action
    strips = [s for t in mixamo.animation_data.nla_tracks for s in t.strips]
    assert len(strips) == 1 and strips[0].action != user_action

    # As the active action: the user's action is kept (fake user), never modified.
    settings.push_to_nla = False
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    new_action = mixamo.animation_data.action
    assert new_action != user_action and new_action.name.startswith("MM_")
    assert "UserWalk" in bpy.data.actions and user_action.use_fake_user
    assert action_key_values(user_action, mixamo) == user_keys
    assert len(bpy.data.actions) == 3  # user's + two generated, nothing overwritten


@pytest.mark.parametrize("fps, fps_base", [(24, 1.0), (30, 1.001), (25, 1.0), (60, 1.0)])
def test_keys_fall_on_whole_scene_frames(scene, tmp_path, fps, fps_base):
    """Motion at 20 fps in a 24 / 29.97 / 25 / 60 fps scene: resampled to one linear key per scene frame, the pose
    at each whole frame is the motion's at that time."""
    scene.render.fps, scene.render.fps_base = fps, fps_base
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    scene.motion_mamba.prompt, scene.motion_mamba.start_frame = "a person walks", 5
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    rig_obj = new_armatures(before)[0]
    from blender_addon import bake

    rate = fps / fps_base
    curves = list(bake.fcurves_for(rig_obj, rig_obj.animation_data.action))
    frames = np.array([k.co[0] for fc in curves for k in fc.keyframe_points])
    assert np.all(frames == np.round(frames)), "every key on a whole frame"
    curve = next(fc for fc in curves if fc.data_path.endswith("location") and fc.array_index == 2)
    duration = (len(stand_in.joints) - 1) / 20.0
    assert len(curve.keyframe_points) == int(np.ceil(duration * rate - 1e-6)) + 1  # through the last pose
    assert curve.keyframe_points[0].co[0] == 5.0
    assert all(k.interpolation == "LINEAR" for k in curve.keyframe_points)
    from motion_core.motion.rotations import quat_slerp

    local, root = skeleton.joints_to_rotations(stand_in.joints.astype(np.float64))
    offsets = skeleton.rest_offsets(stand_in.joints.astype(np.float64))
    for frame in range(5, 5 + int(duration * rate), 7):  # whole frames against the motion at that time
        time = (frame - 5) / rate * 20.0  # in motion frames
        i = min(int(np.floor(time)), len(local) - 2)
        f = time - i  # the motion between its frames: joint rotations slerped, root lerped, then FK
        at_time = skeleton.forward_kinematics(quat_slerp(local[i], local[i + 1], f)[None],
                                              (root[i] * (1 - f) + root[i + 1] * f)[None], offsets)[0]
        scene.frame_set(frame)
        heads = np.array([np.asarray(rig_obj.matrix_world @ rig_obj.pose.bones[n].head) for n in NAMES])
        assert np.linalg.norm(heads - to_blender(at_time), axis=-1).max() < 0.01
    assert scene.frame_end >= 5 + duration * rate - 1


def test_keep_20fps_keys_option(scene, tmp_path):
    """'Keep 20 fps keys': keys every 1.2 frames in a 24 fps scene, linear in between (no handle recalculation)."""
    scene.render.fps = 24
    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    scene.motion_mamba.prompt, scene.motion_mamba.start_frame = "a person walks", 5
    scene.motion_mamba.keep_motion_fps = True
    before = snapshot()
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    rig_obj = new_armatures(before)[0]
    from blender_addon import bake

    curve = next(fc for fc in bake.fcurves_for(rig_obj, rig_obj.animation_data.action)
                 if fc.data_path.endswith("location") and fc.array_index == 2)
    keys = [tuple(k.co) for k in curve.keyframe_points]
    assert len(keys) == len(stand_in.joints)
    assert keys[0][0] == pytest.approx(5.0) and keys[1][0] == pytest.approx(6.2, abs=1e-4)
    assert all(k.interpolation == "LINEAR" for k in curve.keyframe_points)
    middle = (keys[10][0] + keys[11][0]) / 2
    assert curve.evaluate(middle) == pytest.approx((keys[10][1] + keys[11][1]) / 2, abs=1e-5)
    for t in (0, 5, 10, 40):  # motion frames that land on whole scene frames
        bpy.context.scene.frame_set(5 + int(round(t * 1.2)))
        heads = np.array([np.asarray(rig_obj.matrix_world @ rig_obj.pose.bones[n].head) for n in NAMES])
        assert np.abs(heads - to_blender(stand_in.joints[t])).max() < 0.01
    assert scene.frame_end >= 5 + (len(stand_in.joints) - 1) * 1.2


def synthetic_smpl_model(path, rest_joints, sole=0.075):
    """A tiny stand-in for an SMPL model file (the real one is licensed and never used in tests): three vertices per
    joint, the first exactly on the joint, rigidly weighted; plus two hand joints (SMPL-24) that must merge into the
    wrists. Same keys and layout as an SMPL .npz."""
    joints = np.concatenate([rest_joints, rest_joints[[20, 21]] + [[0.08, 0, 0], [-0.08, 0, 0]]])  # (24, 3)
    vertices, faces, weights = [], [], []
    for j, p in enumerate(joints):
        base = len(vertices)
        vertices += [p, p + [0.02, 0, 0], p + [0, 0.02, 0]]
        faces.append([base, base + 1, base + 2])
        weights += [np.eye(24)[j]] * 3
    for j in (7, 8):  # soles under the ankles, as far down as the clip's ankles stand above its floor
        vertices.append(joints[j] - [0.0, sole, 0.0])
        weights.append(np.eye(24)[j])
    regressor = np.zeros((24, len(vertices)))
    regressor[np.arange(24), np.arange(24) * 3] = 1.0
    parents = np.array(list(skeleton.PARENTS) + [20, 21])
    parents[0] = 4294967295  # SMPL files mark the root this way
    np.savez(path, v_template=np.array(vertices), f=np.array(faces), weights=np.array(weights),
             J_regressor=regressor, kintree_table=np.stack([parents, np.arange(24)]))
    return joints


def test_smpl_body_from_a_model_file_follows_the_rig(scene, tmp_path):
    from motion_core.motion.retarget import smpl_rest_joints

    use_backend("IN_PROCESS", tmp_path)
    stand_in = RigidWalkGenerator()
    install_stand_in(stand_in)
    model_path = tmp_path / "smpl_synthetic.npz"
    flat_ankle = stand_in.joints[:, [7, 8], 1].min(axis=0).mean()
    joints24 = synthetic_smpl_model(model_path, smpl_rest_joints(stand_in.joints) + [0.0, 0.95, 0.0], flat_ankle)
    settings = scene.motion_mamba
    settings.prompt = "a person walks"

    preferences().smpl_model_path = str(tmp_path / "model.pkl")  # pickles are refused, nothing changes
    before = snapshot()
    with pytest.raises(RuntimeError, match="pickles"):
        bpy.ops.motion_mamba.generate()
    assert snapshot() == before

    preferences().smpl_model_path = str(model_path)
    assert bpy.ops.motion_mamba.generate() == {"FINISHED"}
    rig_obj = new_armatures(before)[0]
    body = next(o for o in bpy.data.objects if o.parent == rig_obj)
    assert body.type == "MESH" and len(body.data.vertices) == 74 and len(body.vertex_groups) == 22
    hand_vertex = body.data.vertices[22 * 3]  # the left hand joint's vertex, merged into the left wrist group
    assert [body.vertex_groups[g.group].name for g in hand_vertex.groups] == ["left_wrist"]
    for frame in (1, 30, 60):
        bpy.context.scene.frame_set(frame)
        evaluated = body.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        on_joints = np.array([np.asarray(body.matrix_world @ evaluated.vertices[3 * j].co) for j in range(22)])
        body.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()
        heads = posed_world_heads(rig_obj, NAMES, frame)
        assert np.abs(on_joints - heads).max() < 1e-4  # the skin moves with its bones
        assert np.abs(heads - to_blender(stand_in.joints[frame - 1])).max() < 0.01
    preferences().smpl_model_path = ""
    del joints24


class RecordingLayout:
    """Stands in for UILayout in panel draw calls (headless Blender never draws): records prop() calls."""

    def __init__(self, calls):
        self.calls = calls
        self.alert = False

    def prop(self, data, name, **_):
        self.calls.append((data, name))

    def prop_search(self, data, name, search_data, search_name, **_):
        self.calls.extend([(data, name), (search_data, search_name)])

    def __getattr__(self, _name):  # row(), column(), box(), label(), operator(), template_list(), ...
        return lambda *args, **kwargs: self


def test_panels_draw_existing_properties(scene):
    from blender_addon import ui

    bpy.ops.object.armature_add()
    status = bpy.context.window_manager.motion_mamba_status
    for target, running, bone_map in (("NEW_RIG", False, "AUTO"), ("SELECTED", True, "AUTO"),
                                      ("SELECTED", False, "CUSTOM")):
        scene.motion_mamba.target, scene.motion_mamba.bone_map = target, bone_map
        status.running, status.last_error = running, "" if running else "a long error message " * 5
        scene.motion_mamba.custom_map.add().joint = "pelvis"
        scene.motion_mamba.segments.add()
        for panel in (ui.VIEW3D_PT_motion_mamba, ui.VIEW3D_PT_motion_mamba_results, ui.VIEW3D_PT_motion_mamba_bone_map,
                      ui.VIEW3D_PT_motion_mamba_timeline, ui.VIEW3D_PT_motion_mamba_span):
            calls = []
            holder = type("PanelSelf", (), {"layout": RecordingLayout(calls)})()
            panel.draw(holder, bpy.context)
            for data, name in calls:
                assert name in data.bl_rna.properties, f"{panel.__name__} draws missing property {name!r}"
    status.running = False
    calls = []
    preferences().draw.__func__(type("PrefsSelf", (), {"layout": RecordingLayout(calls), **{
        k: getattr(preferences(), k) for k in ("backend", "python_path")}})(), bpy.context)
    assert calls and all(name in preferences().bl_rna.properties for _, name in calls if _ is not None)


class FakeEvent:
    def __init__(self, type_, value="NOTHING"):
        self.type, self.value = type_, value


def modal_driver():
    """The modal operator's methods on a plain object: Blender's background mode has no event loop to run them,
    so the test feeds TIMER / ESC events itself, exactly as the window manager would."""
    from blender_addon.operators import MOTION_MAMBA_OT_generate as op

    reports = []
    driver = type("ModalDriver", (), {name: getattr(op, name) for name in ("_start", "_finish", "_cleanup", "modal")})()
    driver._run, driver._timer, driver.timeline, driver.span = None, None, False, False
    driver.report = lambda kinds, message: reports.append((set(kinds), message))
    return driver, reports


def test_modal_progress_and_esc(scene, tiny_model):
    use_backend("IN_PROCESS", tiny_model)
    status = bpy.context.window_manager.motion_mamba_status
    settings = scene.motion_mamba
    settings.prompt, settings.seconds, settings.steps = "a person spins", 2.0, 6

    driver, reports = modal_driver()
    before = snapshot()
    driver._start(bpy.context)
    assert status.running
    messages, result = set(), {"RUNNING_MODAL"}
    deadline = time.monotonic() + 60
    while result == {"RUNNING_MODAL"} and time.monotonic() < deadline:
        assert driver.modal(bpy.context, FakeEvent("MOUSEMOVE")) == {"PASS_THROUGH"}  # the UI stays usable
        result = driver.modal(bpy.context, FakeEvent("TIMER"))
        messages.add(status.message)
        time.sleep(0.01)
    assert result == {"FINISHED"} and not status.running
    assert any(m.startswith("Denoising step") for m in messages), messages
    rig_name, action = new_armatures(before)[0].name, new_armatures(before)[0].animation_data.action.name
    assert len(new_armatures(before)) == 1 and ({"INFO"}, f"Motion baked onto {rig_name} as '{action}'") in reports

    settings.steps, settings.seconds = 1000, 9.0
    driver, reports = modal_driver()
    before = snapshot()
    driver._start(bpy.context)
    while driver._run.job.step < 1 and time.monotonic() < deadline + 60:
        driver.modal(bpy.context, FakeEvent("TIMER"))
        time.sleep(0.01)
    assert driver.modal(bpy.context, FakeEvent("ESC", "PRESS")) == {"RUNNING_MODAL"}
    result = {"RUNNING_MODAL"}
    while result == {"RUNNING_MODAL"}:
        result = driver.modal(bpy.context, FakeEvent("TIMER"))
        time.sleep(0.01)
    assert result == {"CANCELLED"} and status.message == "Cancelled" and not status.running
    assert snapshot() == before


# ---------------------------------------------------------------------------------------------------------- timeline


def fill_timeline(settings, segments):
    """The segment list through its operators: add after the active row, then edit the new row."""
    settings.segments.clear()
    for prompt, seconds in segments:
        settings.prompt, settings.seconds = prompt, seconds
        assert bpy.ops.motion_mamba.segment_add() == {"FINISHED"}


@pytest.mark.parametrize("mode", ["IN_PROCESS", "EXTERNAL"])
def test_timeline_bakes_one_action_with_segment_markers(scene, tiny_temporal_model, mode):
    use_backend(mode, tiny_temporal_model, python=sys.executable if mode == "EXTERNAL" else "")
    settings = scene.motion_mamba
    scene.timeline_markers.clear()
    scene.render.fps = 24  # markers land on scene frames, not motion frames
    fill_timeline(settings, [("a person walks forward", 2.0), ("a person sits down", 1.5), ("a person waves", 1.0)])
    settings.segments_index = 2
    assert bpy.ops.motion_mamba.segment_move(direction="UP") == {"FINISHED"}  # waves before sitting down
    assert [s.prompt for s in settings.segments] == ["a person walks forward", "a person waves", "a person sits down"]
    settings.steps, settings.seed, settings.start_frame = 2, 3, 10
    before = snapshot()
    assert bpy.ops.motion_mamba.generate(timeline=True) == {"FINISHED"}, \
        bpy.context.window_manager.motion_mamba_status.last_error
    rigs = new_armatures(before)
    assert len(rigs) == 1 and len(bpy.data.actions) == len(before["actions"]) + 1  # one action for the whole take
    assert len(settings.results) == 1 and settings.results[0].frames == 90  # 2 + 1 + 1.5 s at 20 fps
    markers = sorted((m.frame, m.name) for m in scene.timeline_markers)
    assert markers == [(10, "a person walks forward"), (58, "a person waves"), (82, "a person sits down")]
    assert scene.frame_end >= 10 + 90 * 24 / 20 - 1
    from blender_addon.generation import load_result_joints

    joints = load_result_joints(settings.results[0])
    assert joints.shape == (90, 22, 3)
    target = to_blender(rigid_equivalent(joints))
    errors = [np.abs(posed_world_heads(rigs[0], NAMES, 10 + t * 24 // 20) - target[t]).max() for t in range(0, 90, 5)]
    assert max(errors) < 0.01  # every 5th motion frame falls on a scene frame at 24 fps


def test_timeline_editing_and_bad_timelines_change_nothing(scene, tiny_temporal_model):
    use_backend("IN_PROCESS", tiny_temporal_model)
    settings = scene.motion_mamba
    scene.timeline_markers.clear()
    settings.segments.clear()
    before = snapshot()
    with pytest.raises(RuntimeError, match="timeline is empty"):  # bpy.ops raises the reported error
        bpy.ops.motion_mamba.generate(timeline=True)
    fill_timeline(settings, [("a person walks", 2.0), ("a person jumps", 2.0)])
    settings.segments_index = 0
    assert bpy.ops.motion_mamba.segment_add() == {"FINISHED"} and settings.segments_index == 1  # after the active
    settings.segments[1].prompt = "   "
    with pytest.raises(RuntimeError, match="segment 2 has no prompt"):
        bpy.ops.motion_mamba.generate(timeline=True)
    assert bpy.ops.motion_mamba.segment_remove() == {"FINISHED"} and len(settings.segments) == 2
    assert bpy.ops.motion_mamba.segment_move(direction="UP") == {"FINISHED"}
    assert bpy.ops.motion_mamba.segment_move(direction="UP") == {"CANCELLED"}  # already first
    assert [s.prompt for s in settings.segments] == ["a person jumps", "a person walks"]
    settings.segments[0].seconds = 599.0  # 10 min 1 s in all
    with pytest.raises(RuntimeError, match="10 minutes"):
        bpy.ops.motion_mamba.generate(timeline=True)
    assert snapshot() == before and len(scene.timeline_markers) == 0

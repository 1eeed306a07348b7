"""The README's demo: build the extension, install it into headless Blender, generate, bake on two rigs, render.

    .venv/bin/python tools/demo.py --out out      (what `make demo` runs)

1. build dist/motion_mamba-<version>.zip (build_addon.py) and install + enable it as an extension into a sandboxed
   Blender user folder (out/blender_user), the way "Install from Disk" does;
2. generate "a person walks forward and waves" with the default model through the add-on's operator, using the
   worker subprocess (this Python has torch, so it serves as the "external Python"), baked onto a new SMPL-22 rig;
3. build a Mixamo-style rig (mixamorig: names, A-pose, other proportions, centimetre units like an FBX import) and
   bake the same result onto it from the results list (auto-detected bone map);
4. save out/demo.blend and render out/demo.png, a strip of frames (Workbench), then print where everything is.
If the default weights are not installed the demo says so loudly and bakes a clip from the procedural motion library
instead, so the rest of the pipeline still runs; nothing pretends to be model output.
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a person walks forward and waves"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Motion Mamba add-on demo")
    parser.add_argument("--out", default=str(REPO_ROOT / "out"), help="output folder (default out/)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--frames", type=int, default=6, help="frames in the rendered strip")
    parser.add_argument("--backend", choices=["worker", "in_process"], default="worker")
    parser.add_argument("--weights", default="", help="a model folder to use instead of the default model")
    return parser.parse_args(argv)


ARGS = parse_args()
OUT = Path(ARGS.out).resolve()
SANDBOX = OUT / "blender_user"
shutil.rmtree(SANDBOX, ignore_errors=True)  # a fresh "Blender user folder" every run
os.environ["BLENDER_USER_RESOURCES"] = str(SANDBOX)  # must be set before bpy starts

sys.path.insert(0, str(REPO_ROOT))
import build_addon  # noqa: E402

import bpy  # noqa: E402
import numpy as np  # noqa: E402

MODULE = "bl_ext.user_default.motion_mamba"


def say(message):
    print(f"[demo] {message}", flush=True)


def install_extension():
    zip_path = build_addon.build(REPO_ROOT / "dist")
    ok, output = build_addon.validate(zip_path)
    say(f"built {zip_path} ({zip_path.stat().st_size / 1e6:.2f} MB); Blender's validator: {'ok' if ok else output}")
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True)
    if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
        raise SystemExit(f"[demo] installing the extension failed: {result}")
    say(f"installed and enabled as {MODULE} in {SANDBOX}")
    return zip_path


def default_weights_present():
    addon = sys.modules[MODULE]
    lib = Path(addon.__file__).parent / "lib" / "motion_core" / "weights" / "default" / "config.json"
    return lib.is_file()


def worker_available():
    return importlib.util.find_spec("motion_core.worker") is not None or \
        (REPO_ROOT / "motion_core" / "commands" / "worker.py").is_file()


class ProceduralStandIn:
    """Used only when the default weights are missing: the procedural library's walk + wave, not model output."""

    def generate(self, prompt, seconds, seed=None, progress=None, cancel=None, **_):
        from motion_core.data.procedural import generate_clip
        from motion_core.motion.clip import Motion

        rng = np.random.default_rng(seed)
        walk, _ = generate_clip("walk", rng)
        try:
            wave, _ = generate_clip("wave_right", rng)
            joints = np.concatenate([walk, wave + (walk[-1, 0] - wave[0, 0]) * np.array([1.0, 0.0, 1.0])])
        except (KeyError, ValueError):
            joints = walk
        return Motion(joints=joints[None].astype(np.float32), fps=20.0, prompt=prompt, seed=seed)


def generate(context):
    prefs = context.preferences.addons[MODULE].preferences
    settings = context.scene.motion_mamba
    settings.prompt, settings.seconds, settings.seed, settings.steps = PROMPT, ARGS.seconds, ARGS.seed, ARGS.steps
    settings.target, settings.variations, settings.start_frame = "NEW_RIG", 1, 1
    context.scene.cursor.location = (-0.6, 0.0, 0.0)
    addon = sys.modules[MODULE]
    model_note = "default model (motion_core/weights/default)"
    if ARGS.weights:
        prefs.weights_dir = str(Path(ARGS.weights).resolve())
        model_note = f"model folder {prefs.weights_dir}"
        say(f"model: {prefs.weights_dir} (--weights)")
    if not ARGS.weights and not default_weights_present():
        say("!" * 100)
        say("DEFAULT WEIGHTS NOT FOUND in the zip (motion_core/weights/default is empty): the motion below is a")
        say("procedural-library clip (walk, then wave), NOT generated by the model. Train or install the default")
        say("model and rebuild to see real generations.")
        say("!" * 100)
        prefs.backend = "IN_PROCESS"
        backend = addon.backend.get_backend(addon.prefs.backend_config(context))
        backend._generator = ProceduralStandIn()
        model_note = "procedural fallback (no default weights)"
    elif ARGS.backend == "worker" and worker_available():
        prefs.backend, prefs.python_path = "EXTERNAL", sys.executable
        say(f"backend: worker subprocess `{sys.executable} -m motion_core worker`")
    else:
        prefs.backend = "IN_PROCESS"
        say("backend: in-process (no worker command available)" if ARGS.backend == "worker" else "backend: in-process")
    start = time.perf_counter()
    result = bpy.ops.motion_mamba.generate()
    status = context.window_manager.motion_mamba_status
    if result != {"FINISHED"}:
        raise SystemExit(f"[demo] generation failed: {status.last_error}")
    say(f"generated and baked in {time.perf_counter() - start:.1f} s: {status.message}")
    return settings.results[0], model_note


def build_mixamo_style_rig(context, joints):
    """A Mixamo-named rig unlike ours: A-pose arms, 8% shorter, armature data Y-up in centimetres (object rotated
    90° about X and scaled 0.01, as FBX imports arrive), an end bone and fingers that the bone map leaves alone."""
    addon = sys.modules[MODULE]
    from motion_core.motion import skeleton
    from motion_core.motion.retarget import a_pose_rest_joints

    names = list(skeleton.JOINT_NAMES)
    rest = a_pose_rest_joints(joints, arm_drop_deg=45.0) * 0.92
    mixamo = dict(addon.bone_maps.PRESETS["MIXAMO"])
    cm = rest * 100.0  # Y-up centimetres: the armature's own space
    bones = []
    for j, name in enumerate(names):
        parent = skeleton.PARENTS[j]
        kids = [c for c in range(22) if skeleton.PARENTS[c] == j]
        child = {0: 3, 9: 12}.get(j, kids[0] if kids else None)
        tail = cm[child] if child is not None else cm[j] + (cm[j] - cm[parent]) * 0.5
        if name.endswith("_foot"):
            tail = cm[j] + np.array([0.0, 0.0, 8.0])
        bones.append(("mixamorig:" + mixamo[name], "mixamorig:" + mixamo[names[parent]] if parent >= 0 else None,
                      cm[j], tail))
    bones.append(("mixamorig:HeadTop_End", "mixamorig:Head", cm[15] + [0, 16, 0], cm[15] + [0, 20, 0]))
    for side, cap in (("left", "Left"), ("right", "Right")):
        wrist = cm[names.index(f"{side}_wrist")]
        out = wrist - cm[names.index(f"{side}_elbow")]
        out = out / np.linalg.norm(out)
        bones.append((f"mixamorig:{cap}HandIndex1", f"mixamorig:{cap}Hand", wrist + out * 8, wrist + out * 12))
    obj = addon.rig.create_armature(context, "Mixamo_Hero", bones, location=(0.6, 0.0, 0.0))
    obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
    obj.scale = (0.01, 0.01, 0.01)
    context.view_layer.update()
    return obj


def bake_on_mixamo(context, item, joints):
    addon = sys.modules[MODULE]
    mixamo = build_mixamo_style_rig(context, joints)
    body = addon.rig.add_proxy_mesh(context, mixamo)
    settings = context.scene.motion_mamba
    for obj in context.selected_objects:
        obj.select_set(False)
    context.view_layer.objects.active = mixamo
    mixamo.select_set(True)
    settings.target, settings.bone_map = "SELECTED", "AUTO"
    if bpy.ops.motion_mamba.bake_result(index=0) != {"FINISHED"}:
        raise SystemExit(f"[demo] baking onto the Mixamo rig failed: "
                         f"{context.window_manager.motion_mamba_status.last_error}")
    say(f"baked onto {mixamo.name} (auto-detected Mixamo names, A-pose, cm units) as "
        f"{mixamo.animation_data.action.name}")
    return mixamo, body


def joint_errors(context, rig_obj, bone_names, joints, scale=1.0):
    """Max / mean distance (m) between baked bone heads and the generated joints (shifted to the rig's origin)."""
    addon = sys.modules[MODULE]
    errors = []
    origin = addon.rig.blender_to_motion(np.asarray(rig_obj.matrix_world.translation))
    for t in range(0, len(joints), 2):
        context.scene.frame_set(1 + t)
        heads = addon.rig.posed_heads(rig_obj, bone_names) - origin
        target = joints[t].copy() * scale
        errors.append(np.linalg.norm(heads - target, axis=-1))
    errors = np.array(errors)
    return float(errors.max()), float(errors.mean())


def stage(context, rigs):
    scene = context.scene
    # A 1 m checkerboard floor, so travel shows even though the camera follows the character.
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=40, y_subdivisions=40, size=40.0, location=(0.0, 0.0, 0.0))
    floor = context.active_object
    floor.name = "Floor"
    for color in ((0.78, 0.78, 0.76, 1.0), (0.55, 0.56, 0.58, 1.0)):
        material = bpy.data.materials.new("floor")
        material.diffuse_color = color
        floor.data.materials.append(material)
    for polygon in floor.data.polygons:
        x, y = polygon.center.x, polygon.center.y
        polygon.material_index = (int(np.floor(x)) + int(np.floor(y))) % 2
    for obj, color in zip(rigs, ((0.25, 0.5, 0.9, 1.0), (0.95, 0.55, 0.2, 1.0))):
        material = bpy.data.materials.new(f"{obj.name}_color")
        material.diffuse_color = color
        obj.data.materials.append(material)
    camera = bpy.data.objects.new("DemoCamera", bpy.data.cameras.new("DemoCamera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.data.lens = 32
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    shading.show_shadows = True
    shading.show_cavity = False
    world = bpy.data.worlds.new("DemoWorld")
    world.color = (0.8, 0.85, 0.92)
    scene.world = world
    scene.render.resolution_x, scene.render.resolution_y = 320, 400
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    return camera


def aim_camera(camera, target):
    from mathutils import Vector

    target = Vector(target)
    camera.location = target + Vector((2.6, -2.6, 0.35))
    direction = target - camera.location
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def render_strip(context, camera, pelvis_bone_owner, frames, out_png):
    scene = context.scene
    tiles = []
    frame_dir = OUT / "frames"
    frame_dir.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        scene.frame_set(frame)
        rig_obj, bone = pelvis_bone_owner
        pelvis = rig_obj.matrix_world @ rig_obj.pose.bones[bone].head
        aim_camera(camera, (0.0, pelvis.y, 0.85))
        scene.render.filepath = str(frame_dir / f"frame_{i:02d}.png")
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(scene.render.filepath)
        pixels = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        tiles.append(pixels.reshape(image.size[1], image.size[0], 4))
        bpy.data.images.remove(image)
    strip = np.concatenate(tiles, axis=1)  # rows bottom-up, as Blender stores them
    out = bpy.data.images.new("demo_strip", width=strip.shape[1], height=strip.shape[0], alpha=True)
    out.pixels.foreach_set(strip.ravel())
    out.filepath_raw = str(out_png)
    out.file_format = "PNG"
    out.save()
    return out_png


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    zip_path = install_extension()
    context = bpy.context
    context.scene.render.fps = 20
    item, model_note = generate(context)
    addon = sys.modules[MODULE]
    joints = addon.generation.load_result_joints(item)
    smpl_rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o.name.startswith("MM_SMPL"))
    mixamo, _ = bake_on_mixamo(context, item, joints)

    names = list(addon.rig.SMPL_BONE_NAMES)
    smpl_max, smpl_mean = joint_errors(context, smpl_rig, names, joints)
    mixamo_bones = [addon.bone_maps.detect([b.name for b in mixamo.data.bones])[1][n] for n in names]
    # The Mixamo rig is 0.92x our size, and its root path is scaled by the leg-length ratio: compare with 0.92x joints.
    mixamo_max, mixamo_mean = joint_errors(context, mixamo, mixamo_bones, joints, scale=0.92)

    bodies = [o for o in bpy.data.objects if o.type == "MESH" and o.parent in (smpl_rig, mixamo)]
    camera = stage(context, bodies)
    blend = OUT / "demo.blend"
    frames = [int(round(1 + f * (item.frames - 1) / max(ARGS.frames - 1, 1))) for f in range(ARGS.frames)]
    context.scene.frame_set(1)
    aim_camera(camera, (0.0, (smpl_rig.matrix_world @ smpl_rig.pose.bones["pelvis"].head).y, 0.85))
    # Save before rendering: Workbench needs OpenGL (Mesa EGL on a headless Linux box) and aborts the process
    # without it, so the scene file exists either way.
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    say(f"saved {blend}; rendering {len(frames)} frames with Workbench…")
    png = render_strip(context, camera, (smpl_rig, "pelvis"), frames, OUT / "demo.png")
    summary = {
        "prompt": PROMPT, "model": model_note, "seconds": ARGS.seconds, "frames": item.frames, "seed": item.seed,
        "zip": str(zip_path), "blend": str(blend), "png": str(png), "rendered_frames": frames,
        "joint_error_cm": {
            "smpl_rig": {"max": round(smpl_max * 100, 2), "mean": round(smpl_mean * 100, 2)},
            "mixamo_rig_0.92x": {"max": round(mixamo_max * 100, 2), "mean": round(mixamo_mean * 100, 2)},
        },
        "actions": sorted(a.name for a in bpy.data.actions),
    }
    print(json.dumps(summary, indent=1))
    say(f"zip:    {zip_path}")
    say(f"scene:  {blend}  (rigs {smpl_rig.name} and {mixamo.name}, actions {', '.join(summary['actions'])})")
    say(f"render: {png}  ({ARGS.frames} frames: {frames})")
    if model_note.startswith("procedural"):
        say("NOTE: the motion is the procedural fallback, not model output (default weights missing).")


if __name__ == "__main__":
    main()

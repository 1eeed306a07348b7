"""The built zip installs as a Blender extension into a sandboxed user folder and enables; a baked rig renders to PNG.

Each runs in its own Python process: extension install needs BLENDER_USER_RESOURCES set before bpy starts, and a
Workbench render aborts the whole process (not a Python error) on machines without an EGL/OpenGL driver.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
import build_addon  # noqa: E402


def run_script(code, env_extra=None, timeout=180):
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=str(REPO_ROOT))
    return proc


INSTALL = """
import json, sys, bpy, addon_utils
zip_path = sys.argv[-1] if False else {zip!r}
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
module = "bl_ext.user_default.motion_mamba"
import motion_core, importlib
addon = importlib.import_module(module)
from bl_ext.user_default.motion_mamba import prefs, bone_maps
scene = bpy.context.scene
print(json.dumps({{
    "result": sorted(result),
    "enabled": module in bpy.context.preferences.addons,
    "panel": hasattr(bpy.types, "VIEW3D_PT_motion_mamba"),
    "scene_props": hasattr(scene, "motion_mamba"),
    "motion_core": motion_core.__file__,
    "addon_file": addon.__file__,
    "deps_folder": prefs.deps_folder(),
    "prefs": bpy.context.preferences.addons[module].preferences.backend,
    "torch_loaded": "torch" in sys.modules,
}}), flush=True)
import os
os._exit(0)  # bpy 4.2's module teardown can segfault at interpreter exit; the checks above are done
"""


def test_zip_installs_as_extension_in_sandbox_and_enables(tmp_path):
    zip_path = build_addon.build(tmp_path / "dist", with_weights=False)
    sandbox = tmp_path / "blender_user"
    proc = run_script(INSTALL.format(zip=str(zip_path)), {"BLENDER_USER_RESOURCES": str(sandbox)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["result"] == ["FINISHED"] and info["enabled"] and info["panel"] and info["scene_props"]
    assert info["prefs"] == "AUTO"
    assert info["addon_file"].startswith(str(sandbox))
    assert info["motion_core"].startswith(str(sandbox)), "the bundled motion_core must be the one imported"
    assert info["deps_folder"].startswith(str(sandbox))  # user data outside the extension folder
    assert not info["torch_loaded"]  # the add-on never imports torch


RENDER = """
import sys, numpy as np, bpy, addon_utils
sys.path.insert(0, {repo!r})
import os
os.environ["MOTION_MAMBA_USER_DIR"] = {user!r}
bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("blender_addon", default_set=True)
from blender_addon import generation, rig
from motion_core.data.procedural import generate_clip
joints, _ = generate_clip("wave_right", np.random.default_rng(0))
np.savez({npz!r}, joints=joints[None], fps=np.float32(20))
scene = bpy.context.scene
settings = scene.motion_mamba
stored = generation.StoredMotion(path={npz!r}, variation=0, prompt="a person waves", seed=0, fps=20.0)
target = generation.Target(obj=None, bone_map={{n: n for n in rig.SMPL_BONE_NAMES}}, preset="SMPL")
arm, action = generation.bake_result(bpy.context, settings, stored, target)
cam_data = bpy.data.cameras.new("cam")
cam = bpy.data.objects.new("cam", cam_data)
scene.collection.objects.link(cam)
cam.location = (0.0, -4.5, 1.0)
cam.rotation_euler = (np.radians(90), 0.0, 0.0)
scene.camera = cam
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = 160, 120
scene.render.filepath = {png!r}
scene.frame_set(10)
bpy.ops.render.render(write_still=True)
print("rendered", flush=True)
os._exit(0)  # bpy 4.2's module teardown can segfault at interpreter exit; the render is written
"""


def test_workbench_render_to_png(tmp_path):
    png = tmp_path / "frame.png"
    proc = run_script(RENDER.format(repo=str(REPO_ROOT), user=str(tmp_path / "user"), npz=str(tmp_path / "m.npz"),
                                    png=str(png)))
    if proc.returncode in (-6, 134) and "EGL" in (proc.stderr + proc.stdout):
        pytest.skip("no OpenGL/EGL driver for Workbench on this machine")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file()
    from PIL import Image

    image = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)
    assert image.shape == (120, 160, 3)
    background = np.median(image.reshape(-1, 3), axis=0)
    figure = np.abs(image - background).sum(axis=-1) > 30  # the body's pixels differ from the background
    assert 0.005 < figure.mean() < 0.5, figure.mean()
    rows, cols = np.nonzero(figure)
    assert rows.max() - rows.min() > 40  # a standing figure, not a speck

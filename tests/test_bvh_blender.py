"""Blender's own BVH importer (real bpy 5.0.1, headless, in a subprocess) loads our BVH export: bone count, frame
range, and a joint's world position match the motion we wrote."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import TEST_DATA
from motion_core.motion.export import save_motion
from motion_core.motion.mocap import import_motion
from motion_core.motion.skeleton import JOINT_NAMES

pytest.importorskip("bpy")

# Runs inside a fresh Python with bpy: import the file, then report bones, frame range and world joint positions.
BLENDER_SCRIPT = r"""
import json, sys
import bpy
path, frames = sys.argv[1], json.loads(sys.argv[2])
bpy.ops.wm.read_factory_settings(use_empty=True)
# io_anim_bvh ships enabled with bpy 5.0.1; enable it in case a build has it off.
if not hasattr(bpy.ops.import_anim, "bvh"):
    bpy.ops.preferences.addon_enable(module="io_anim_bvh")
bpy.ops.import_anim.bvh(filepath=path, global_scale=1.0, axis_forward="-Z", axis_up="Y", update_scene_fps=True,
                        update_scene_duration=True)
armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
scene = bpy.context.scene
positions = {}
for frame in frames:
    scene.frame_set(frame)
    positions[frame] = {b.name: list(armature.matrix_world @ b.head) for b in armature.pose.bones}
print(json.dumps({
    "bones": len(armature.data.bones),
    "frame_range": list(armature.animation_data.action.frame_range),
    "fps": scene.render.fps / scene.render.fps_base,
    "positions": positions,
}))
"""


def test_blender_imports_our_bvh(tmp_path):
    # The Daz mapping gives a rigid 22-joint skeleton (constant bone lengths), so the BVH reproduces it exactly.
    joints = import_motion(TEST_DATA / "cmu" / "bvh-daz" / "02_01.bvh").joints.astype(np.float64)
    path = save_motion(tmp_path / "clip.bvh", joints, fps=20)
    frames = [1, 20, len(joints)]
    result = subprocess.run(
        [sys.executable, "-c", BLENDER_SCRIPT, str(path), json.dumps(frames)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["bones"] == 22
    assert report["frame_range"] == [1.0, float(len(joints))]
    assert report["fps"] == pytest.approx(20.0)
    # Blender is Z-up: its (bx, by, bz) is our (bx, bz, -by). Blender frame 1 is our frame 0.
    for frame in frames:
        for joint in ("left_wrist", "right_ankle", "head", "left_collar"):
            bx, by, bz = report["positions"][str(frame)][joint]
            ours = joints[frame - 1, JOINT_NAMES.index(joint)]
            np.testing.assert_allclose([bx, bz, -by], ours, atol=1e-3)

"""Bake benchmark: 22 bones × 1,000 frames into a new action, printed as one JSON object.

    .venv/bin/python tools/bench_bake.py [--frames 1000] [--repeats 7]

Times (medians over repeats, milliseconds, same process): `bake_ms` = resampling the 20 fps joints to a 24 fps scene
(`resample_ms` of it) and writing the new action (quaternion keys for 22 bones + root location, foreach_set) — the
budget is 50 ms; `retarget_ms` = the numpy joints -> rotations step at 20 fps, `retarget_scene_ms` the same on the
24 fps frames, which the add-on keys;
`keyframe_insert_ms` = the same keys written one keyframe_insert at a time on a 100-frame slice, scaled to the full
length (the slow path, for comparison). `bake_cpu_ms` is process CPU time, less sensitive to other load on the
machine (reported with the 1-minute load average).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import bpy  # noqa: E402


def walking_joints(frames: int) -> np.ndarray:
    """A long rigid clip: the procedural walk repeated along its path, (frames, 22, 3) motion space."""
    from motion_core.data.procedural import generate_clip

    clip, _ = generate_clip("walk", np.random.default_rng(0))
    reps = int(np.ceil(frames / len(clip)))
    step = clip[-1, 0] - clip[0, 0]
    step[1] = 0.0
    return np.concatenate([clip + step * i for i in range(reps)])[:frames].astype(np.float64)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="bake benchmark")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTION_MAMBA_USER_DIR", tempfile.mkdtemp(prefix="mm_bench_"))

    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True)
    from blender_addon import bake, rig
    from motion_core.motion.retarget import resample_joints, retarget, smpl_rest_joints

    joints = walking_joints(args.frames)
    context = bpy.context
    obj = rig.create_smpl_armature(context, "bench", smpl_rest_joints(joints))
    rest = rig.rig_rest(obj)
    bone_map = {n: n for n in rig.SMPL_BONE_NAMES}

    retarget_times, scene_retarget_times, resample_times, bake_times, bake_cpu_times = [], [], [], [], []
    result = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = retarget(joints, rest, bone_map)
        retarget_times.append(time.perf_counter() - start)
        start, start_cpu = time.perf_counter(), time.process_time()
        at_scene = resample_joints(joints, 20.0, 24.0)
        resample_times.append(time.perf_counter() - start)
        resample_cpu = time.process_time() - start_cpu
        scene_start = time.perf_counter()
        keys = retarget(at_scene, rest, bone_map, scale=result.scale)
        scene_retarget_times.append(time.perf_counter() - scene_start)
        start, start_cpu = time.perf_counter(), time.process_time()
        action = bake.bake(obj, keys, action_name="bench", report=lambda m: None)
        bake_times.append(time.perf_counter() - start + resample_times[-1])
        bake_cpu_times.append(time.process_time() - start_cpu + resample_cpu)
        obj.animation_data.action = None
        bpy.data.actions.remove(action)
    assert result is not None

    # The slow path for comparison: keyframe_insert on 100 frames, scaled.
    slice_frames = min(100, args.frames)
    obj.animation_data.action = None
    start = time.perf_counter()
    for t in range(slice_frames):
        for k, name in enumerate(result.bone_names):
            pb = obj.pose.bones[name]
            pb.rotation_quaternion = result.rotations[t, k].tolist()
            pb.keyframe_insert("rotation_quaternion", frame=t + 1)
    insert_ms = (time.perf_counter() - start) * 1000 * args.frames / slice_frames

    report = {
        "benchmark": "bake",
        "blender": bpy.app.version_string,
        "bones": len(result.bone_names),
        "frames": args.frames,
        "scene_keys": int(keys.rotations.shape[0]),
        "curves": 4 * len(result.bone_names) + 3,
        "repeats": args.repeats,
        "bake_ms": round(statistics.median(bake_times) * 1000, 2),
        "bake_cpu_ms": round(statistics.median(bake_cpu_times) * 1000, 2),  # less sensitive to a busy machine
        "bake_min_ms": round(min(bake_times) * 1000, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "resample_ms": round(statistics.median(resample_times) * 1000, 2),
        "retarget_ms": round(statistics.median(retarget_times) * 1000, 2),
        "retarget_scene_ms": round(statistics.median(scene_retarget_times) * 1000, 2),
        "keyframe_insert_ms_est": round(insert_ms, 1),
        "budget_ms": 50.0,
    }
    report["within_budget"] = report["bake_ms"] <= report["budget_ms"]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading an armature's motion back into motion space: the bake run backwards, for span edits and continuations.

What the bake does, undone step by step:
1. The bake keys whole scene frames; the model works at 20 fps. The rig is evaluated (through the depsgraph, so
   constraints and drivers count) at the scene frames of a 20 fps grid, fractional ones as subframes.
2. Each joint is the head of its marker bone (the bone whose head sits on the joint: the mapped bone, or the rig
   preset's marker such as Rigify's deform bone), in armature space turned by the object's world rotation and scale
   but not moved by its location: the bake plays the motion relative to the object, so rigs stored Y-up or in
   centimetres read back in metres. rig.blender_to_motion then makes it Y-up (the one axis conversion).
3. The bake scales the root path by rig legs / motion legs. Reading divides by rig legs / MODEL_LEG_LENGTH, so the
   joints have the legs of the model's body (what its features assume), and `ReadBack.scale` handed to the bake
   (retarget's `scale`) puts every frame read from the rig back where it was.
Only the mapped joints' positions are read: a bone's twist about its own axis and unmapped bones (fingers) are not
(a span edit keeps them from the user's action: bake.bake_span).
Cost: one depsgraph evaluation per motion frame (about 0.2 ms on the SMPL rig: 2.5 s for 10 minutes), so callers
read only the frames they need and `progress` reports every PROGRESS_EVERY frames.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from . import bone_maps, rig, vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402
from motion_core.motion import protocol  # noqa: E402
from motion_core.motion.retarget import MODEL_LEG_LENGTH, leg_length  # noqa: E402

PROGRESS_EVERY = 200  # motion frames between progress reports (10 s of motion)


@dataclass
class ReadBack:
    """A rig's motion in motion space.

    joints: (T, 22, 3) metres, Y-up, +Z forward, protocol.FPS frames per second, legs MODEL_LEG_LENGTH long.
    first_frame: the scene frame of joints[0]; frame_step: scene frames per motion frame.
    scale: rig / motion, the root-path scale that puts these joints back on the rig where they were read.
    """

    joints: np.ndarray
    first_frame: float
    frame_step: float
    scale: float

    def scene_frame(self, k: float) -> float:
        """The scene frame of motion frame k."""
        return self.first_frame + k * self.frame_step


def marker_bones(target) -> List[str]:
    """The 22 bones whose heads mark the joints, in joint order; MotionError naming the joints the map lacks."""
    markers: Dict[str, str] = target.markers or target.bone_map
    missing = [j for j in bone_maps.JOINT_NAMES if j not in markers]
    if missing:
        raise MotionError(f"Reading the motion of '{target.obj.name}' needs all 22 joints in the bone map (missing "
                          f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}): complete the custom map")
    return [markers[j] for j in bone_maps.JOINT_NAMES]


def frame_step(scene) -> float:
    """Scene frames per motion frame (1.2 for a 24 fps scene)."""
    return float(scene.render.fps / scene.render.fps_base / protocol.FPS)


def read_motion(context, target, first_frame: float, count: int,
                progress: Optional[Callable[[int, int], None]] = None) -> ReadBack:
    """Evaluate `target.obj` at `count` motion frames from scene frame `first_frame` on (20 fps apart) and return its
    joints. The scene's current frame is restored; nothing in bpy.data changes. MotionError when the rig cannot be
    read (joints missing from the map, Edit Mode). progress(done, count) every PROGRESS_EVERY frames and at the end."""
    obj = target.obj
    if obj.mode == "EDIT":
        raise MotionError(f"'{obj.name}' is in Edit Mode: switch to Object or Pose Mode so its animation can be read")
    bones = marker_bones(target)
    rest = rig.rig_rest(obj)
    rig_leg = leg_length({j: rest.heads[rest.index(b)] for j, b in zip(bone_maps.JOINT_NAMES, bones)})
    if not rig_leg or rig_leg < 1e-6:
        raise MotionError(f"The legs of '{obj.name}' have no length in the rest pose: check the bone map's hips, knees "
                          "and ankles")
    scene = context.scene
    step = frame_step(scene)
    world3 = np.asarray(obj.matrix_world.to_3x3(), dtype=np.float64)  # rotation * scale, as rig.rig_rest uses
    heads = np.empty((count, len(bones), 3))
    current = scene.frame_current, scene.frame_subframe
    try:
        for k in range(count):
            frame = first_frame + k * step
            whole = int(np.floor(frame + 1e-6))
            scene.frame_set(whole, subframe=max(frame - whole, 0.0))
            pose = obj.evaluated_get(context.evaluated_depsgraph_get()).pose
            heads[k] = [tuple(pose.bones[b].head) for b in bones]  # armature space
            if progress is not None and ((k + 1) % PROGRESS_EVERY == 0 or k + 1 == count):
                progress(k + 1, count)
    finally:
        scene.frame_set(current[0], subframe=current[1])
    scale = rig_leg / MODEL_LEG_LENGTH
    joints = rig.blender_to_motion(heads @ world3.T) / scale
    return ReadBack(joints=joints, first_frame=float(first_frame), frame_step=step, scale=float(scale))

"""One generation from the panel's settings to keys on a rig, shared by the modal and the blocking operator.

`GenerationRun.start` checks every setting first (so bad input changes nothing), then starts a backend job; `poll`
drains it; `apply` runs only on success and is the only step that touches the scene: it stores the variations in the
results list and bakes the first onto the target. Cancel or failure before `apply` leaves the scene as it was.
"""

import os
import random
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import bpy
import numpy as np

from . import backend as backend_module
from . import bake, bone_maps, prefs, rig, smpl_body, vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402
from motion_core.motion.retarget import retarget, smpl_rest_joints  # noqa: E402

MIN_SECONDS, MAX_SECONDS = 1.0, 9.8  # the VAE decodes at most 196 frames at 20 fps


@dataclass
class Target:
    """Where the motion goes: an existing armature (with its bone map) or a new SMPL rig (obj None)."""

    obj: Optional[bpy.types.Object]
    bone_map: Dict[str, str]
    preset: str


def resolve_bone_map(settings, obj) -> Target:
    """The joint -> bone map for `obj` from the panel's choice, or MotionError saying how to fix it."""
    bone_names = [b.name for b in obj.data.bones]
    choice = settings.bone_map
    if choice == "AUTO":
        preset, mapping = bone_maps.detect(bone_names)
        if preset is None:
            raise MotionError(f"Could not recognise the bones of '{obj.name}': pick a bone-map preset or fill the "
                              "custom map in the Motion panel")
    elif choice == "CUSTOM":
        preset = "CUSTOM"
        mapping = {e.joint: e.bone for e in settings.custom_map if e.bone and e.bone in obj.data.bones}
    elif choice.startswith("USER:"):
        preset = choice
        saved = bone_maps.load_custom_maps(prefs.bone_map_folder()).get(choice[5:], {})
        mapping = {j: b for j, b in saved.items() if b in obj.data.bones}
    else:
        preset = choice
        mapping = bone_maps.resolve(bone_maps.PRESETS[choice], bone_names)
    if "pelvis" not in mapping:
        raise MotionError(f"The bone map does not give '{obj.name}' a hips/pelvis bone: choose another preset or "
                          "set 'pelvis' in the custom map")
    if len(mapping) < bone_maps.MIN_MAPPED:
        missing = ", ".join(bone_maps.missing_joints(mapping)[:6])
        raise MotionError(f"Only {len(mapping)} of 22 joints map onto '{obj.name}' (missing e.g. {missing}): choose "
                          "another preset or complete the custom map")
    return Target(obj=obj, bone_map=mapping, preset=preset)


def read_request(settings) -> backend_module.GenerateRequest:
    """The generation request from the panel settings; MotionError on bad input."""
    prompt = settings.prompt.strip()
    if not prompt:
        raise MotionError("Type a prompt first, e.g. 'a person walks forward and waves'")
    if not MIN_SECONDS <= settings.seconds <= MAX_SECONDS:
        raise MotionError(f"Duration must be between {MIN_SECONDS} and {MAX_SECONDS} seconds")
    if not 1 <= settings.variations <= 4:
        raise MotionError("Variations must be between 1 and 4")
    seed = random.randrange(0, 2**31 - 1) if settings.randomize_seed else int(settings.seed)
    return backend_module.GenerateRequest(prompt=prompt, seconds=float(settings.seconds), seed=seed,
                                          steps=int(settings.steps), guidance=float(settings.guidance),
                                          variations=int(settings.variations),
                                          foot_cleanup=bool(settings.foot_cleanup))


def resolve_target(context, settings) -> Target:
    if settings.target == "NEW_RIG":
        return Target(obj=None, bone_map={n: n for n in rig.SMPL_BONE_NAMES}, preset="SMPL")
    obj = rig.armature_from_context(context)
    if obj is None:
        raise MotionError("Select the armature to animate (or set Target to 'New SMPL-22 armature')")
    if obj.library is not None or (obj.override_library is None and obj.data.library is not None):
        raise MotionError(f"'{obj.name}' is linked from another file: make it local or a library override first")
    return resolve_bone_map(settings, obj)


@dataclass
class StoredMotion:
    """One variation of a saved generation (what a results-list entry points to)."""

    path: str
    variation: int
    prompt: str
    seed: int
    fps: float

    @classmethod
    def from_item(cls, item) -> "StoredMotion":
        return cls(path=item.path, variation=item.variation, prompt=item.prompt, seed=item.seed, fps=item.fps)


class GenerationRun:
    """Start → poll … → apply (success) | nothing (cancel, failure)."""

    def __init__(self, context):
        self.settings = context.scene.motion_mamba
        self.request = read_request(self.settings)
        self.target = resolve_target(context, self.settings)
        self.config = prefs.backend_config(context)
        body_path = prefs.smpl_model_path(context)
        if self.target.obj is None and self.settings.add_body and body_path:
            smpl_body.load_smpl_model(body_path)  # a bad body file fails now, before any work or change
        self.job: Optional[backend_module.Job] = None
        self.started = 0.0

    def start(self) -> "GenerationRun":
        backend = backend_module.get_backend(self.config)
        self.job = backend.generate(self.request)
        self.started = time.perf_counter()
        return self

    def poll(self) -> str:
        assert self.job is not None
        return self.job.poll()

    def wait(self, on_progress: Optional[Callable[[int, int], None]] = None) -> str:
        assert self.job is not None
        return self.job.wait(on_progress=on_progress)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def apply(self, context, report: Callable[[str], None] = print):
        """Store the variations and bake the first one. Returns the armature object that received it."""
        assert self.job is not None and self.job.result is not None
        result = self.job.result
        path = _save_result(result)
        seed = int(result.seed or 0)
        # Bake first: if it fails, the results list is untouched too.
        obj, action = bake_result(context, self.settings, StoredMotion(path, 0, result.prompt, seed, result.fps),
                                  self.target, report=report)
        first = len(self.settings.results)
        for v in range(result.joints.shape[0]):
            item = self.settings.results.add()
            item.prompt, item.seed, item.variation = result.prompt, seed, v
            item.frames, item.fps, item.path = int(result.joints.shape[1]), float(result.fps), path
            item.label = f"{result.prompt[:40]} · seed {seed} · v{v + 1}"
        self.settings.results[first].action = action.name
        self.settings.results_index = first
        return obj


def _save_result(result) -> str:
    folder = prefs.results_folder()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(folder, f"motion_{stamp}_{int(result.seed or 0)}_{os.getpid()}_{id(result) % 10000}.npz")
    np.savez(path, joints=result.joints, fps=np.float32(result.fps), prompt=np.str_(result.prompt),
             seed=np.int64(result.seed or 0))
    return path


def load_result_joints(item) -> np.ndarray:
    """(T, 22, 3) joints of one stored variation, motion space."""
    if not os.path.isfile(item.path):
        raise MotionError(f"The cached motion '{item.path}' is gone: generate it again")
    with np.load(item.path, allow_pickle=False) as data:
        return np.asarray(data["joints"][item.variation], dtype=np.float64)


def bake_result(context, settings, item: StoredMotion, target: Target, report: Callable[[str], None] = print):
    """Retarget and bake one stored variation onto the target (a new SMPL rig when target.obj is None).

    Everything that can fail on user input (cache file, body model) is read before the scene changes.
    Returns (armature object, new action)."""
    joints = load_result_joints(item)
    scene = context.scene
    obj = target.obj
    if context.object is not None and context.object.mode not in ("OBJECT", "POSE"):
        bpy.ops.object.mode_set(mode="OBJECT")  # edit-mode bone data is not what the rig will play with
    if obj is None:
        body_path = prefs.smpl_model_path(context) if settings.add_body else ""
        model = smpl_body.load_smpl_model(body_path) if body_path else None  # before any change to the scene
        # With a body model the rig takes the body's proportions (the root path is scaled by leg length);
        # otherwise the clip's own, so the rig follows the joints exactly.
        rest = model.joints - model.joints[0] if model is not None else smpl_rest_joints(joints)
        obj = rig.create_smpl_armature(context, f"MM_SMPL_s{item.seed}_v{item.variation + 1}", rest)
        obj.location = scene.cursor.location
        if model is not None:
            smpl_body.add_smpl_body(context, obj, model, offset=-model.joints[0])
        elif settings.add_body:
            rig.add_proxy_mesh(context, obj)
    rest = rig.rig_rest(obj)
    retargeted = retarget(joints, rest, target.bone_map, root_motion=settings.root_motion)
    if target.preset == "RIGIFY_CONTROL":
        _rigify_limbs_to_fk(obj)
    step = bake.frame_step_for(scene, item.fps)
    action = bake.bake(obj, retargeted, action_name=bake.action_name_for(item.prompt, item.seed, item.variation),
                       start_frame=float(settings.start_frame), frame_step=step, push_to_nla=settings.push_to_nla,
                       report=report)
    bake.extend_scene_range(scene, settings.start_frame, retargeted.rotations.shape[0], step)
    return obj, action


def _rigify_limbs_to_fk(obj) -> None:
    """Rigify limbs follow their FK controls only with IK_FK = 1 on the limb parents."""
    for name in ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R"):
        bone = obj.pose.bones.get(name)
        if bone is not None and "IK_FK" in bone.keys():
            bone["IK_FK"] = 1.0

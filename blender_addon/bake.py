"""Baking retargeted rotations into a new Action: never touching the user's actions, one call, bulk key writes.

Works on Blender 4.2 (legacy `Action.fcurves`), 4.4/4.5 (slotted actions beside the legacy proxy) and 5.0+ (slotted
only: `Action.fcurves` is gone). Keys are written with `keyframe_points.foreach_set`, 40-55x faster than
`keyframe_insert`. The calling operator carries the single undo step.
A span edit (`bake_span`) is the one bake that starts from the user's keys: a copy of their action in which only the
keyed bones' curves change, and only strictly between the span's kept frames.
"""

from typing import Callable, Dict, List, Optional

import bpy
import numpy as np

from . import rig as rig_module
from . import vendor

vendor.ensure_motion_core()
from motion_core.motion import rotations as rot  # noqa: E402
from motion_core.motion import splice  # noqa: E402

_CONSTANT, _LINEAR = 0, 1  # Keyframe.interpolation enum values of 'CONSTANT', 'LINEAR' (foreach_set takes integers)


def fcurves_for(obj, action):
    """Assign `action` to `obj` and return the F-Curve collection to add curves to (4.2 / 4.4+ / 5.0+)."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    if bpy.app.version < (4, 4, 0):
        return action.fcurves
    slot = anim.action_slot
    if slot is None:
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        anim.action_slot = slot
    from bpy_extras import anim_utils

    ensure = getattr(anim_utils, "action_ensure_channelbag_for_slot", None)
    if ensure is not None:  # 5.0+
        return ensure(action, slot).fcurves
    layer = action.layers[0] if action.layers else action.layers.new("Layer")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True).fcurves


def _new_fcurve(fcurves, data_path: str, index: int, group: str):
    if bpy.app.version < (4, 4, 0):
        return fcurves.new(data_path, index=index, action_group=group)
    if bpy.app.version >= (5, 0, 0):
        return fcurves.new(data_path, index=index, group_name=group)
    curve = fcurves.new(data_path, index=index)  # 4.4/4.5: no group_name argument
    return curve


def _write_keys(fcurve, frames, values, linear) -> None:
    """frames, values: (n,) -> keys in two bulk writes. linear: (n,) int32 of _LINEAR, shared between curves.

    No fcurve.update(): keys arrive sorted, and linear keys never read their handles (recomputing them for every
    curve would double the bake time).
    """
    n = len(frames)
    fcurve.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    fcurve.keyframe_points.foreach_set("co", co)
    fcurve.keyframe_points.foreach_set("interpolation", linear)


def hold_keys(fcurves, constants, frame: float) -> list:
    """One constant key at `frame` per (data path, array index, value) of `constants`, each on a new F-Curve grouped
    by its bone (or "Switches"). Returns the F-Curves in the order of `constants`."""
    hold = np.full(1, _CONSTANT, dtype=np.int32)
    curves = []
    for path, index, value in constants:
        group = path.split('"')[1] if path.startswith("pose.bones[") else "Switches"
        curve = _new_fcurve(fcurves, path, index, group)
        _write_keys(curve, np.array([frame]), np.array([value]), hold)
        curves.append(curve)
    return curves


def rotation_keys(rotations, mode: str):
    """Pose-local quaternions (T, K, 4) (w, x, y, z), hemisphere-continuous -> (data path name, values (T, K, n)) in a
    bone's own rotation mode, so a bake never changes how the user's bones rotate:
    QUATERNION -> rotation_quaternion (w, x, y, z); AXIS_ANGLE -> rotation_axis_angle (angle, x, y, z);
    an Euler order such as 'XYZ' -> rotation_euler (x, y, z), continuous over time (no 2π jumps, no flips).

    Blender's Euler order 'XYZ' turns about X first, then Y, then Z (fixed axes): R = Rz · Ry · Rx, which is the
    intrinsic order 'ZYX' of motion_core.motion.rotations with the angles listed the other way round.
    """
    if mode == "QUATERNION":
        return "rotation_quaternion", rotations
    if mode == "AXIS_ANGLE":
        q = rot.quat_fix(rotations, axis=0)
        half = np.arccos(np.clip(q[..., :1], -1.0, 1.0))  # angle/2 in [0, π]: continuous with q
        axis = q[..., 1:] / np.maximum(np.sin(half), 1e-9)
        axis = np.where(np.sin(half) < 1e-6, [0.0, 1.0, 0.0], axis)  # no turn: any axis, Blender's default Y
        return "rotation_axis_angle", np.concatenate([2.0 * half, axis], axis=-1)
    intrinsic = mode[::-1]
    angles = rot.euler_continuous(rot.quat_to_euler(rotations, intrinsic))  # (T, K, 3) in intrinsic order
    slots = [intrinsic.index(axis) for axis in "XYZ"]
    return "rotation_euler", angles[..., slots]


def bake(obj, retargeted, *, action_name: str, start_frame: float = 1.0, frame_step: float = 1.0,
         push_to_nla: bool = False, constants=(), report: Callable[[str], None] = print):
    """Write `retargeted` (motion_core.motion.retarget.Retargeted) into a new action on armature `obj`.

    Rotations are keyed in each bone's own rotation mode (quaternion, axis-angle or its Euler order): the bake never
    switches a bone's mode, so the user's other actions keep playing as they did.
    frame_step: scene frames per key (1 for keys resampled to the scene's rate). push_to_nla: put the new action on a
    new NLA track instead of making it active, so the armature's current animation stays as it is.
    constants: (data path, array index, value) properties held for the whole action, such as Rigify's IK/FK switches
    or a constraint's influence: keyed once in the new action, never set on the rig itself.
    The user's current action is never modified or deleted; when it is replaced as the active action and nothing
    else uses it, it gets a fake user so saving the file keeps it. Returns the new bpy.types.Action.
    """
    anim = obj.animation_data or obj.animation_data_create()
    previous_action = anim.action
    previous_slot = getattr(anim, "action_slot", None) if previous_action is not None else None
    keep_previous = (not push_to_nla and previous_action is not None and previous_action.users <= 1
                     and not previous_action.use_fake_user)
    if bpy.app.version >= (4, 4, 0) and previous_action is not None:
        anim.action = None  # a fresh action must get a fresh slot, not reuse the previous slot's name
        if hasattr(anim, "last_slot_identifier"):
            anim.last_slot_identifier = ""
    if keep_previous:
        previous_action.use_fake_user = True  # it stops being active: keep it alive when the file is saved

    action = bpy.data.actions.new(action_name)
    if keep_previous:
        report(f"Kept your action '{previous_action.name}' (fake user); the new motion is '{action.name}'")
    fcurves = fcurves_for(obj, action)
    frames_count = retargeted.rotations.shape[0]
    frames = start_frame + np.arange(frames_count, dtype=np.float64) * frame_step
    linear = np.full(frames_count, _LINEAR, dtype=np.int32)

    by_mode: Dict[str, List[int]] = {}  # rotation mode -> the bones' columns
    for k, bone_name in enumerate(retargeted.bone_names):
        by_mode.setdefault(obj.pose.bones[bone_name].rotation_mode, []).append(k)
    for mode, ks in by_mode.items():
        prop, values = rotation_keys(retargeted.rotations[:, ks].astype(np.float64), mode)
        for column, k in enumerate(ks):
            pose_bone = obj.pose.bones[retargeted.bone_names[k]]
            path = pose_bone.path_from_id(prop)
            for i in range(values.shape[-1]):
                _write_keys(_new_fcurve(fcurves, path, i, pose_bone.name), frames, values[:, column, i], linear)
    locations = retargeted.locations / rig_module.object_scale(obj)
    for k, bone_name in enumerate(retargeted.location_bones):
        pose_bone = obj.pose.bones[bone_name]
        path = pose_bone.path_from_id("location")
        for i in range(3):
            _write_keys(_new_fcurve(fcurves, path, i, pose_bone.name), frames, locations[:, k, i], linear)
    hold_keys(fcurves, constants, start_frame)

    if push_to_nla:
        slot = getattr(anim, "action_slot", None)
        anim.action = previous_action
        if previous_slot is not None:
            anim.action_slot = previous_slot
        track = anim.nla_tracks.new()
        track.name = action.name
        strip = track.strips.new(action.name, int(round(start_frame)), action)
        if slot is not None and hasattr(strip, "action_slot"):
            strip.action_slot = slot
    return action


# ------------------------------------------------------------------------------------------------ span edits

# Keyframe properties copied key by key when a curve is spliced (all a key's shape depends on).
_KEY_FLOATS = {"co": 2, "handle_left": 2, "handle_right": 2, "back": 1, "amplitude": 1, "period": 1}
_KEY_ENUMS = ("interpolation", "handle_left_type", "handle_right_type", "easing", "type")


def _channelbag_fcurves(obj, action):
    """Assign `action` (a copy of the object's action) to `obj` on the slot the object used, and return the F-Curve
    collection holding that slot's curves (4.2: the action's own)."""
    anim = obj.animation_data
    slot = getattr(anim, "action_slot", None)
    identifier = slot.identifier if slot is not None else None
    anim.action = action
    if bpy.app.version < (4, 4, 0):
        return action.fcurves
    if identifier is not None and (anim.action_slot is None or anim.action_slot.identifier != identifier):
        match = next((s for s in action.slots if s.identifier == identifier), None)
        if match is not None:
            anim.action_slot = match
    return fcurves_for(obj, action)


def _read_keys(fcurve) -> Dict[str, np.ndarray]:
    n = len(fcurve.keyframe_points)
    keys = {}
    for name, width in _KEY_FLOATS.items():
        keys[name] = np.empty(n * width, dtype=np.float32)
        fcurve.keyframe_points.foreach_get(name, keys[name])
        keys[name] = keys[name].reshape(n, width)
    for name in _KEY_ENUMS:
        keys[name] = np.empty(n, dtype=np.int32)
        fcurve.keyframe_points.foreach_get(name, keys[name])
    return keys


def _new_keys(frames, values, like) -> Dict[str, np.ndarray]:
    """Linear keys at frames (n,) with values (n,), handles on the key (what a Bezier neighbour reads)."""
    co = np.stack([frames, values], axis=-1).astype(np.float32)
    keys = {"co": co, "handle_left": co.copy(), "handle_right": co.copy()}
    keys.update({name: np.zeros((len(co), 1), np.float32) for name in ("back", "amplitude", "period")})
    keys.update({name: np.full(len(co), like[name], np.int32) for name in _KEY_ENUMS})
    keys["interpolation"][:] = _LINEAR
    return keys


def _splice_curve(fcurve, frames, values, action_range) -> None:
    """Replace the keys of `fcurve` strictly inside frames[0] .. frames[-1] (whole scene frames A .. B) with linear
    keys of `values`, keeping the curve's value at every whole frame outside (A, B) exactly as it was.

    values[0], values[-1] must be the curve's own values at A and B. The user's keys at or outside A and B are kept
    with their handles; where the segment that crossed A (or B) was not linear or constant, its whole frames between
    the kept key and A (B) get keys of their old values, so a Bezier that led into the span still reads the same there.
    action_range: the action's frames, to fill up to when the curve extrapolates linearly past a span at its end."""
    a, b = float(frames[0]), float(frames[-1])
    old = _read_keys(fcurve)
    at = old["co"][:, 0]
    before, after = at <= a + 1e-4, at >= b - 1e-4
    kept_a = before.nonzero()[0]
    kept_b = after.nonzero()[0]
    linear_ends = fcurve.extrapolation == "LINEAR"
    hold = (_LINEAR, _CONSTANT)

    fill_a: List[float] = []
    if len(kept_a) and at[kept_a[-1]] < a - 1e-4 and old["interpolation"][kept_a[-1]] not in hold:
        fill_a = list(np.arange(np.floor(at[kept_a[-1]]) + 1, a))
    elif not len(kept_a) and linear_ends:
        fill_a = list(np.arange(np.floor(min(action_range[0], a)), a))
    fill_b: List[float] = []
    crossing = kept_b[0] - 1 if len(kept_b) else len(at) - 1  # the key whose segment held B
    if len(kept_b) and at[kept_b[0]] > b + 1e-4 and (crossing < 0 or old["interpolation"][crossing] not in hold):
        fill_b = list(np.arange(b + 1, np.ceil(at[kept_b[0]])))
    elif not len(kept_b) and linear_ends:
        fill_b = list(np.arange(b + 1, np.ceil(max(action_range[1], b)) + 1))
    fill_a = [f for f in fill_a if f > (at[kept_a[-1]] + 1e-4 if len(kept_a) else -np.inf)]
    fill_b = [f for f in fill_b if f < (at[kept_b[0]] - 1e-4 if len(kept_b) else np.inf)]

    own_a = len(kept_a) and abs(at[kept_a[-1]] - a) <= 1e-4  # a user key sits on A (B): it stays, with its handles
    own_b = len(kept_b) and abs(at[kept_b[0]] - b) <= 1e-4
    new_frames = np.concatenate([fill_a, frames[1 if own_a else 0:len(frames) - 1 if own_b else len(frames)], fill_b])
    new_values = np.concatenate([[fcurve.evaluate(f) for f in fill_a],
                                 values[1 if own_a else 0:len(values) - 1 if own_b else len(values)],
                                 [fcurve.evaluate(f) for f in fill_b]])
    like = {name: (old[name][0] if len(at) else 0) for name in _KEY_ENUMS}
    like["handle_left_type"] = like["handle_right_type"] = 4  # AUTO_CLAMPED: smooth once the user edits the curve
    like["easing"], like["type"] = 0, 0  # AUTO easing, 'KEYFRAME'
    fresh = _new_keys(new_frames, new_values, like)
    if own_a:
        old["interpolation"][kept_a[-1]] = _LINEAR  # the segment from A on is the span's
    parts = [{k: v[kept_a] for k, v in old.items()}, fresh, {k: v[kept_b] for k, v in old.items()}]
    keys = {name: np.concatenate([part[name] for part in parts]) for name in old}
    points = fcurve.keyframe_points
    points.clear()
    points.add(len(keys["interpolation"]))
    for name, array in keys.items():
        points.foreach_set(name, np.ascontiguousarray(array).ravel())


def _user_values(fcurves, pose_bone, prop: str, width: int, frames) -> np.ndarray:
    """(len(frames), width) what the user's action gives `prop` of `pose_bone` at `frames`: its curve, or the bone's
    own value where no curve animates the channel."""
    path = pose_bone.path_from_id(prop)
    out = np.empty((len(frames), width))
    for i in range(width):
        curve = fcurves.find(path, index=i)
        out[:, i] = [curve.evaluate(f) for f in frames] if curve is not None else getattr(pose_bone, prop)[i]
    return out


def _to_quaternions(values, mode: str) -> np.ndarray:
    """The inverse of `rotation_keys`: a bone's channel values (..., n) in `mode` -> quaternions (..., 4)."""
    if mode == "QUATERNION":
        return rot.quat_normalize(values)
    if mode == "AXIS_ANGLE":
        axis = values[..., 1:] / np.maximum(np.linalg.norm(values[..., 1:], axis=-1, keepdims=True), 1e-12)
        return rot.quat_from_axis_angle(axis, values[..., 0])
    intrinsic = mode[::-1]
    return rot.euler_to_quat(values[..., ["XYZ".index(axis) for axis in intrinsic]], intrinsic)


def _match_euler(values, user, mode: str) -> np.ndarray:
    """Euler channels (n, 3) of `mode` made to start on the user's own angles `user` (3,) (the same rotation, maybe
    another branch: + 2π multiples or (a + π, π - b, c + π) in the mode's order), the whole series alike."""
    middle = "XYZ".index(mode[1])
    alternative = values + np.pi
    alternative[:, middle] = np.pi - values[:, middle]
    options = [option + 2 * np.pi * np.round((user - option[0]) / (2 * np.pi)) for option in (values, alternative)]
    return min(options, key=lambda option: float(np.abs(option[0] - user).sum()))


def bake_span(obj, retargeted, *, span, action_name: str, report: Callable[[str], None] = print):
    """A copy of `obj`'s action in which the keyed bones of `retargeted` take its motion over the span, as a new
    active action: everything else (other bones, other channels, keys outside the span) is the user's, exactly.

    retargeted: keys at the whole scene frames A .. B (span = (A, B), the kept frames), one per frame. Each keyed
    bone's rotation is the regenerated one turned by the user's difference at A fading into that at B
    (motion.splice.splice_rotations), written in the bone's own rotation mode; location bones likewise
    (splice_offsets). The keys at A and B keep the user's values, so the pose is the user's there.
    The user's action is never modified; it gets a fake user when nothing else uses it. Returns the new action."""
    anim = obj.animation_data
    source = anim.action
    a, b = span
    frames = np.arange(a, b + 1, dtype=np.float64)
    if retargeted.rotations.shape[0] != len(frames):
        raise ValueError(f"need one key per frame {a}..{b}, got {retargeted.rotations.shape[0]}")
    if source.users <= 1 and not source.use_fake_user:
        source.use_fake_user = True
        report(f"Kept your action '{source.name}' (fake user); the edit is '{action_name}'")
    action = source.copy()
    action.name = action_name
    action.use_fake_user = False
    fcurves = _channelbag_fcurves(obj, action)
    action_range = tuple(source.frame_range)
    ends = np.array([a, b], dtype=np.float64)

    def write(pose_bone, prop, values):
        path = pose_bone.path_from_id(prop)
        for i in range(values.shape[-1]):
            curve = fcurves.find(path, index=i)
            if curve is None:  # not animated: a curve over the span alone holds the bone's value outside it
                curve = _new_fcurve(fcurves, path, i, pose_bone.name)
            _splice_curve(curve, frames, values[:, i], action_range)

    for k, name in enumerate(retargeted.bone_names):
        pose_bone = obj.pose.bones[name]
        mode = pose_bone.rotation_mode
        prop, width = {"QUATERNION": ("rotation_quaternion", 4), "AXIS_ANGLE": ("rotation_axis_angle", 4)}.get(
            mode, ("rotation_euler", 3))
        user = _user_values(fcurves, pose_bone, prop, width, ends)  # (2, width)
        kept = _to_quaternions(user, mode)
        turned = splice.splice_rotations(retargeted.rotations[:, k:k + 1].astype(np.float64), kept[0:1], kept[1:2])
        _, values = rotation_keys(turned, mode)
        values = values[:, 0]
        if mode not in ("QUATERNION", "AXIS_ANGLE"):
            values = _match_euler(values, user[0], mode)
        values[0], values[-1] = user[0], user[1]
        write(pose_bone, prop, values)
    locations = retargeted.locations / rig_module.object_scale(obj)
    for k, name in enumerate(retargeted.location_bones):
        pose_bone = obj.pose.bones[name]
        user = _user_values(fcurves, pose_bone, "location", 3, ends)
        values = splice.splice_offsets(locations[:, k].astype(np.float64), user[0], user[1])
        values[0], values[-1] = user[0], user[1]
        write(pose_bone, "location", values)
    return action


def remove_bake(obj, action, previous_action, previous_slot, had_fake_user: bool) -> None:
    """Undo `bake`: drop the new action (and its NLA track), give back the previous active action and its slot."""
    anim = obj.animation_data
    if anim is not None:
        for track in list(anim.nla_tracks):
            if any(strip.action == action for strip in track.strips):
                anim.nla_tracks.remove(track)
        if anim.action == action or anim.action is None:
            anim.action = previous_action
            if previous_slot is not None and hasattr(anim, "action_slot"):
                anim.action_slot = previous_slot
    if previous_action is not None:
        previous_action.use_fake_user = had_fake_user
    bpy.data.actions.remove(action)


def frame_step_for(scene, motion_fps: float) -> float:
    """Scene frames per motion frame, e.g. 1.2 for a 24 fps scene and 20 fps motion."""
    scene_fps = scene.render.fps / scene.render.fps_base
    return float(scene_fps / motion_fps)


def extend_scene_range(scene, start_frame: float, frames: int, frame_step: float) -> None:
    """Grow the scene's frame range to show the whole motion (never shrinks it)."""
    last = int(np.ceil(start_frame + (frames - 1) * frame_step))
    if scene.frame_end < last:
        scene.frame_end = last


def action_name_for(prompt: str, seed: Optional[int], variation: int) -> str:
    words = "_".join(prompt.strip().split()[:5]) or "motion"
    return f"MM_{words}_s{seed if seed is not None else 'x'}_v{variation + 1}"

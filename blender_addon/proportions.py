"""'Match motion proportions': constant keys in the new action that stretch a rig onto the motion's skeleton.

By default a bake keeps the character's proportions: limbs point where the motion's do, and a rig built unlike the
motion's body (Rigify's stock metarig: a torso a fifth shorter for its legs, its pelvis bone below the hips) lands
its joints elsewhere. With this option the new action also holds, for its whole length, the keys that move the rig's
joint markers onto `motion.proportions.proportioned_rest`: the clip's bone lengths and pelvis and chest shapes,
scaled by leg length, on the rig's own floor. The rig, its rest pose and its other actions are untouched.

Two kinds of keys, both exact whatever the pose, so the retargeting can treat the stretched rig as a rig whose rest
pose is simply different (`RigRest` with moved heads):
- a location on a mapped bone that is not connected to its parent: it moves the bone and everything below it, in its
  parent's frame, which turns with the parent's segment;
- a Y scale on a mapped bone whose chain child sits on its tail, where the bone under it inherits scale without
  shear ('Aligned' or 'None', as in Rigify's FK limbs): the stretch Rigify's own FK controls offer.
The root may move too (the whole rig against its origin, so a root that is the pelvis bone can still take the hips
where the motion has them); the retargeting keys the root every frame, so that shift joins those keys.
Each keyed bone whose head sits on a joint marker must stay on it, so every segment still turns about its joint
(Rigify's lower spine hangs from the chest pivot: moving its FK controls off that pivot would swing the hips wrong).

How the keys are found does not assume how a rig passes them on (constraints, mechanism bones): a temporary action
holds them, the depsgraph poses the rig, and Levenberg-Marquardt steps over a finite-difference Jacobian bring the
markers onto the wanted skeleton. The temporary action is removed and the rig, its actions and the frame are as they were.
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import bpy
import numpy as np

from . import bake
from . import rig as rig_module
from . import vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402
from motion_core.motion import skeleton  # noqa: E402
from motion_core.motion.proportions import proportioned_rest  # noqa: E402
from motion_core.motion.retarget import PRIMARY_CHILD, RigRest  # noqa: E402

Key = Tuple[str, int, float]  # (data path, array index, value) held for the whole action

_NAMES = list(skeleton.JOINT_NAMES)
ON_JOINT = 1e-3  # metres: a bone head this close to a marker sits on that joint
UNSHEARED = ("ALIGNED", "NONE", "NONE_LEGACY")  # inherit-scale modes under which a Y stretch does not shear a child
SCALE_LIMITS = (0.5, 2.0)  # the most a stretch may change a bone
PIVOT_WEIGHT = 3.0  # a joint's pivot leaving its marker costs this much more than a marker off its place
# Locations cost a little for their size, so a length goes into the stretch where one exists (the foot control stays
# on the shin's tip) and locations that only move mechanism nobody sees stay zero. Small enough to bias by < 1 mm.
LOCATION_WEIGHT = 0.01
STEPS = 20  # Levenberg-Marquardt steps (each poses the rig once)
DONE = 1e-4  # metres: every marker this close to its place ends the search
SETTLED = 5e-4  # metres: a step that moves no marker further ends the search
REPORT_RESIDUAL = 0.01  # metres of mean marker distance left over that the bake reports


@dataclass
class _Channel:
    bone: str
    prop: str  # "location" or "scale"
    index: int
    rest: float  # the channel's value at rest


def _chain_parents(obj, bone_map: Dict[str, str]) -> Dict[str, str]:
    """Mapped bone -> the mapped bone of its parent joint whose Y stretch carries it: the bone sits on that bone's tail
    (connected, or through unscaled mechanism such as Rigify's MCH-foot_fk), is its joint's chain child, and the bone
    right under the stretched one inherits scale without shear."""
    bones = obj.data.bones
    out = {}
    for j, name in enumerate(_NAMES):
        parent = skeleton.PARENTS[j]
        if parent < 0 or name not in bone_map or _NAMES[parent] not in bone_map:
            continue
        if PRIMARY_CHILD.get(_NAMES[parent]) != name:
            continue
        child, stretched = bones[bone_map[name]], bones[bone_map[_NAMES[parent]]]
        path = [child] + list(child.parent_recursive)
        if stretched not in path[1:]:
            continue
        below = path[path.index(stretched) - 1]  # the bone right under the stretched one
        on_tail = (child.head_local - stretched.tail_local).length <= ON_JOINT / rig_module.object_scale(obj)
        if on_tail and below.inherit_scale in UNSHEARED:
            out[child.name] = stretched.name
    return out


def _channels(obj, bone_map: Dict[str, str], root: str, hanging: Sequence[str]) -> List[_Channel]:
    """What the calibration may key: the root's location (first), the location of each mapped bone that is not
    connected and that the retargeting does not place itself (`hanging`, see `_hanging`), and the Y scale of each
    bone in `_chain_parents`."""
    out = [_Channel(root, "location", i, 0.0) for i in range(3)]
    for bone_name in dict.fromkeys(bone_map.values()):
        if not obj.data.bones[bone_name].use_connect and bone_name not in hanging and bone_name != root:
            out += [_Channel(bone_name, "location", i, 0.0) for i in range(3)]
    for stretched in dict.fromkeys(_chain_parents(obj, bone_map).values()):
        out.append(_Channel(stretched, "scale", 1, 1.0))
    return out


def _pivots(rest: RigRest, keyed: Sequence[str], markers: Dict[str, str]) -> List[Tuple[str, str]]:
    """(keyed bone, marker bone) pairs whose rest heads coincide: the joint that bone turns about."""
    out = []
    for bone_name in keyed:
        head = rest.heads[rest.index(bone_name)]
        for marker in dict.fromkeys(markers.values()):
            if marker != bone_name and np.linalg.norm(rest.heads[rest.index(marker)] - head) <= ON_JOINT:
                out.append((bone_name, marker))
    return out


def _hanging(obj, keyed: Sequence[str], root: str) -> List[str]:
    """The keyed bones other than the root with no keyed bone above them: the retargeting keys their location
    every frame (they hang from mechanism nothing moves), so the calibration leaves it alone."""
    keyed_set = set(keyed)
    return [b for b in keyed if b != root and not any(p.name in keyed_set for p in obj.data.bones[b].parent_recursive)]


@dataclass
class Stretch:
    """What 'Match motion proportions' adds to a bake.

    keys: (data path, index, value) held for the whole new action (they replace the rest holds of those channels).
    rest: the rig's RigRest under those keys (heads moved; translations and stretches along Y turn no bone), what
        the retargeting works on. root_shift: (3,) metres, the root's own location in that rest pose, in its rest
        frame: the retargeting keys the root every frame, so this is added to those keys instead of held.
    residual: mean distance (metres) left between the markers and the motion's proportions (bones a rig cannot
        move: connected without a stretch, driven by constraints).
    """

    keys: List[Key]
    rest: RigRest
    root_shift: np.ndarray
    residual: float


def match(context, obj, target, joints, rest: RigRest, held: Sequence[Key]) -> Stretch:
    """The keys that put `obj` on the motion's proportions, and the rest pose the retargeting then works on.

    target: generation.Target (all 22 joints marked); joints: (T, 22, 3) motion frame; rest: the rig's RigRest;
    held: what the new action holds anyway (switches, rest holds), held while measuring. MotionError when a joint
    has no marker."""
    markers = dict(target.markers or target.bone_map)
    missing = [n for n in _NAMES if n not in markers]
    if missing:
        raise MotionError(f"'Match motion proportions' needs all 22 joints mapped ({', '.join(missing[:4])} "
                          f"{'are' if len(missing) > 1 else 'is'} not): complete the bone map or turn the option off")
    keyed = list(dict.fromkeys(list(target.bone_map.values()) + list(target.followers)))
    root = target.root or target.bone_map["pelvis"]
    rest_at = {j: rest.heads[rest.index(b)] for j, b in markers.items()}
    want = proportioned_rest(rest_at, joints)  # (22, 3)
    channels = _channels(obj, target.bone_map, root, _hanging(obj, keyed, root))
    pivots = _pivots(rest, keyed, markers)
    values, heads = _solve(context, obj, channels, held, [markers[n] for n in _NAMES], want, pivots,
                           rest.bone_names)
    pose = obj.pose.bones
    keys = [(pose[c.bone].path_from_id(c.prop), c.index, float(v)) for c, v in list(zip(channels, values))[3:]]
    moved = RigRest(bone_names=rest.bone_names, parents=rest.parents, heads=heads, rotations=rest.rotations,
                    follows=rest.follows)
    reached = np.array([heads[rest.index(markers[n])] for n in _NAMES])
    return Stretch(keys=keys, rest=moved, root_shift=values[:3] * rig_module.object_scale(obj),
                   residual=float(np.linalg.norm(reached - want, axis=-1).mean()))


def merge(constants: Sequence[Key], keys: Sequence[Key]) -> List[Key]:
    """`constants` with the channels `keys` sets replaced by theirs."""
    replaced = {(path, index) for path, index, _ in keys}
    return [c for c in constants if (c[0], c[1]) not in replaced] + list(keys)


def _solve(context, obj, channels: List[_Channel], held: Sequence[Key], marker_bones: List[str], want,
           pivots: List[Tuple[str, str]], all_bones: List[str]):
    """Levenberg-Marquardt over the channel values, measured through the depsgraph at rest under a temporary action.

    Returns (values (C,), heads (B, 3) of `all_bones` at the solution, motion frame relative to the object)."""
    scene = context.scene
    pose = obj.pose.bones
    world3 = np.asarray(obj.matrix_world.to_3x3())  # rotation * scale, as rig_rest uses it
    unit = rig_module.object_scale(obj)  # metres per armature unit
    anim = obj.animation_data or obj.animation_data_create()
    previous = (anim.action, getattr(anim, "action_slot", None))
    had_fake_user = previous[0].use_fake_user if previous[0] is not None else False
    frame = scene.frame_current, scene.frame_subframe
    action = bpy.data.actions.new("MM_proportions")
    try:
        fcurves = bake.fcurves_for(obj, action)
        mine = [(pose[c.bone].path_from_id(c.prop), c.index) for c in channels]
        bake.hold_keys(fcurves, [k for k in held if (k[0], k[1]) not in set(mine)], frame[0])
        curves = bake.hold_keys(fcurves, [(p, i, c.rest) for (p, i), c in zip(mine, channels)], frame[0])
        is_location = np.array([c.prop == "location" for c in channels])
        low = np.where(is_location, -np.inf, SCALE_LIMITS[0])
        high = np.where(is_location, np.inf, SCALE_LIMITS[1])
        step = np.where(is_location, 0.01 / unit, 0.01)  # 1 cm, or 1% of a bone's length
        pivot_bones = [b for b, _ in pivots] + [m for _, m in pivots]
        watched = list(dict.fromkeys(marker_bones + pivot_bones))
        at = {name: k for k, name in enumerate(watched)}
        markers_idx = [at[b] for b in marker_bones]
        pivot_idx = ([at[b] for b, _ in pivots], [at[m] for _, m in pivots])

        def heads(values, names):
            for curve, value in zip(curves, values):
                curve.keyframe_points[0].co[1] = value
            scene.frame_set(frame[0])
            return rig_module.blender_to_motion(np.array([world3 @ np.asarray(pose[n].head) for n in names]))

        def residual(values):
            now = heads(values, watched)
            return np.concatenate([
                (now[markers_idx] - want).ravel(),
                PIVOT_WEIGHT * (now[pivot_idx[0]] - now[pivot_idx[1]]).ravel(),
                LOCATION_WEIGHT * np.where(is_location, values * unit, 0.0)])

        def jacobian(values, r):  # (R, C) by forward differences: one pose per channel
            out = np.empty((r.size, len(values)))
            for k in range(len(values)):
                probe = values.copy()
                probe[k] += step[k]
                out[:, k] = (residual(probe) - r) / step[k]
            return out

        # Levenberg-Marquardt. Locations move the markers linearly and stretches nearly so (a stretch of a bone and
        # of its 'Aligned' child multiply): the Jacobian is measured once (one pose per channel), corrected after
        # every step by what that step measured (Broyden), and measured afresh only when a step does not help.
        values = np.array([c.rest for c in channels])
        r = residual(values)
        jac, fresh, failed, damping = jacobian(values, r), True, 0, 1e-3
        for _ in range(STEPS):
            if np.abs(r[:want.size]).max() < DONE or damping > 1e4:
                break
            normal = jac.T @ jac
            normal += damping * (np.diag(np.diag(normal)) + 1e-9 * np.eye(len(values)))
            trial = np.clip(values + np.linalg.solve(normal, -jac.T @ r), low, high)
            r_trial = residual(trial)
            moved = trial - values
            if moved @ moved > 0:
                jac += np.outer(r_trial - r - jac @ moved, moved) / (moved @ moved)
            if r_trial @ r_trial < r @ r:
                settled = np.abs(r_trial[:want.size] - r[:want.size]).max() < SETTLED
                values, r, fresh, failed, damping = trial, r_trial, False, 0, max(damping / 10, 1e-9)
                if settled:
                    break
            elif fresh or failed == 0:  # the corrected Jacobian gets one more, more damped try
                failed, damping = failed + 1, damping * 10
            else:
                jac, fresh, failed = jacobian(values, r), True, 0
        return values, heads(values, all_bones)
    finally:
        bake.remove_bake(obj, action, previous[0], previous[1], had_fake_user)
        scene.frame_set(frame[0], subframe=frame[1])

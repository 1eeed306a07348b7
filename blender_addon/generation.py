"""One generation from the panel's settings to keys on a rig, shared by the modal and the blocking operator.

`GenerationRun.start` checks every setting first (so bad input changes nothing), then starts a backend job; `poll`
drains it; `apply` runs only on success and is the only step that touches the scene: it stores the variations in the
results list and bakes the first onto the target. Cancel or failure before `apply` leaves the scene as it was.
A span edit or a continuation first reads the rig's motion back (readback.py) and bakes the result onto that rig where
it was read (`Placement`). A span edit reads only the frames the engine looks at (the span and its context,
motion.splice.edit_window) and goes into a copy of the rig's action where only the keyed bones' keys inside the span
change (bake.bake_span): twist, fingers, props and every key outside the span stay the user's.
"""

import itertools
import os
import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

import bpy
import numpy as np

from . import backend as backend_module
from . import bake, bone_maps, prefs, proportions, props, readback, rig, smpl_body, vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402
from motion_core.motion import protocol, skeleton  # noqa: E402
from motion_core.motion.protocol import EditRequest, GenerateRequest, SequenceRequest  # noqa: E402
from motion_core.motion.splice import CONTINUE_CONTEXT_FRAMES, EDIT_MIN_GAP, edit_window  # noqa: E402
from motion_core.motion.retarget import leg_scale, resample_joints, retarget, sample, smpl_rest_joints  # noqa: E402

Progress = Optional[Callable[[int, int], None]]  # (done, total): reading a rig's motion back


@dataclass
class Target:
    """Where the motion goes: an existing armature (with its bone map) or a new SMPL rig (obj None).

    bone_map: joint -> the bone that turns with it. markers, followers, root, switches: see bone_maps.RigExtras
    (markers here as joint -> bone; None: the mapped bones mark the joints themselves).
    """

    obj: Optional[bpy.types.Object]
    bone_map: Dict[str, str]
    preset: str
    markers: Optional[Dict[str, str]] = None
    followers: Dict[str, str] = field(default_factory=dict)
    root: Optional[str] = None
    switches: Tuple[Tuple[str, str, float], ...] = ()


# Constraints that set a bone's transform whatever its own keys say (limits and copy-scale do not).
DRIVING_CONSTRAINTS = frozenset({
    "COPY_TRANSFORMS", "COPY_ROTATION", "COPY_LOCATION", "CHILD_OF", "ARMATURE", "DAMPED_TRACK", "LOCKED_TRACK",
    "TRACK_TO", "STRETCH_TO", "TRANSFORM", "ACTION", "IK", "SPLINE_IK", "CLAMP_TO", "FOLLOW_PATH", "PIVOT",
    "SHRINKWRAP", "FLOOR"})


def driven_bones(obj) -> Set[str]:
    """Names of the pose bones an active constraint of DRIVING_CONSTRAINTS moves (e.g. Rigify's DEF- bones)."""
    return {pb.name for pb in obj.pose.bones
            if any(c.type in DRIVING_CONSTRAINTS and not c.mute and c.influence > 0 for c in pb.constraints)}


def check_rows(rows: Dict[str, str], obj, source: str) -> Dict[str, str]:
    """A user's joint -> bone rows, or MotionError naming each row whose bone the armature lacks (a typo must not
    silently drop a joint)."""
    wrong = [f"{joint} → '{bone}'" for joint, bone in rows.items() if bone not in obj.data.bones]
    if wrong:
        raise MotionError(f"The {source} names bones '{obj.name}' does not have: {', '.join(wrong[:4])}"
                          f"{' …' if len(wrong) > 4 else ''}; fix those rows (Detect fills them from the rig)")
    return dict(rows)


def resolve_bone_map(settings, obj) -> Target:
    """The joint -> bone map for `obj` from the panel's choice, or MotionError saying how to fix it."""
    bone_names = [b.name for b in obj.data.bones]
    driven = driven_bones(obj)
    choice = settings.bone_map
    if choice == "AUTO":
        preset, mapping = bone_maps.detect(bone_names, driven)
        if preset is None:
            key, partial = bone_maps.best_match(bone_names, driven)
            best = f" (closest: {bone_maps.PRESET_LABELS[key]}, {len(partial)}/22 joints)" if key else ""
            raise MotionError(f"Could not recognise the bones of '{obj.name}'{best}: pick a bone-map preset or use "
                              "Detect and complete the custom map in the Motion panel")
    elif choice == "CUSTOM":
        preset = "CUSTOM"
        mapping = check_rows({e.joint: e.bone for e in settings.custom_map if e.bone}, obj, "custom map")
    elif choice.startswith("USER:"):
        preset = choice
        saved = bone_maps.load_custom_maps(prefs.bone_map_folder()).get(choice[5:])
        if saved is None:
            raise MotionError(f"The saved bone map '{choice[5:]}' is gone: pick another map")
        mapping = check_rows(saved, obj, f"saved map '{choice[5:]}'")
    else:
        preset = choice
        mapping = bone_maps.resolve_preset(bone_maps.PRESETS[choice], bone_names)
    if "pelvis" not in mapping:
        raise MotionError(f"The bone map does not give '{obj.name}' a hips/pelvis bone: choose another preset or "
                          "set 'pelvis' in the custom map")
    if len(mapping) < bone_maps.MIN_MAPPED:
        missing = ", ".join(bone_maps.missing_joints(mapping)[:6])
        raise MotionError(f"Only {len(mapping)} of 22 joints map onto '{obj.name}' (missing e.g. {missing}): choose "
                          "another preset or complete the custom map")
    target = Target(obj=obj, bone_map=mapping, preset=preset)
    extras = bone_maps.RIG_EXTRAS.get(preset)
    if extras is not None:
        if extras.markers:
            markers = bone_maps.resolve_preset(bone_maps.PRESETS[extras.markers], bone_names)
            target.markers = {j: markers.get(j, b) for j, b in mapping.items()}
        target.followers = {b: j for b, j in extras.followers.items() if b in obj.pose.bones and j in mapping
                            and b not in mapping.values()}
        if extras.root in target.followers or extras.root == mapping["pelvis"]:
            target.root = extras.root
        target.switches = tuple((b, prop, v) for b, prop, v in extras.switches
                                if b in obj.pose.bones and prop in obj.pose.bones[b].keys())
    held = [b for b in list(mapping.values()) + list(target.followers) if b in driven]
    if held and not settings.override_constraints:
        more = f" and {len(held) - 1} more mapped bones" if len(held) > 1 else ""
        raise MotionError(f"Constraints move '{held[0]}'{more} of '{obj.name}', so keys on them would not show: "
                          "choose the rig's controls preset (Rigify: FK controls) or turn on 'Override constraints'")
    return target


def read_request(settings) -> GenerateRequest:
    """The generation request from the panel settings, checked against the engine's limits; MotionError on bad
    input (the panel's own words for what the panel shows)."""
    prompt = settings.prompt.strip()
    if not prompt:
        raise MotionError("Type a prompt first, e.g. 'a person walks forward and waves'")
    # The slider is float32: its 9.8 reads back as 9.800000190734863. Durations are kept to the millisecond.
    seconds = round(float(settings.seconds), 3)
    if not protocol.MIN_SECONDS <= seconds <= protocol.MAX_SECONDS:
        raise MotionError(f"Duration must be between {protocol.MIN_SECONDS} and {protocol.MAX_SECONDS} seconds")
    _check_variations(settings)
    return GenerateRequest(prompt=prompt, seconds=seconds, seed=_seed(settings), steps=int(settings.steps),
                           guidance=float(settings.guidance), variations=int(settings.variations),
                           foot_cleanup=bool(settings.foot_cleanup), sampler=str(settings.sampler),
                           candidates=int(settings.candidates)).checked()


def read_timeline_request(settings) -> SequenceRequest:
    """The timeline request from the panel's segment list (one motion, baked as one action); MotionError on bad
    input."""
    if not len(settings.segments):
        raise MotionError("The timeline is empty: add a segment with the + button beside the list")
    _check_variations(settings)
    # Durations are float32 sliders (4.2 reads back as 4.199999809): kept to the millisecond, as read_request does.
    segments = tuple((s.prompt, round(float(s.seconds), 3)) for s in settings.segments)
    return SequenceRequest(segments=segments, seed=_seed(settings), steps=int(settings.steps),
                           guidance=float(settings.guidance), variations=int(settings.variations),
                           foot_cleanup=bool(settings.foot_cleanup),
                           sampler=str(settings.sampler)).checked()


def timeline_span(scene) -> Optional[Tuple[int, int]]:
    """The frames the timeline points at: the first and last selected markers (two or more selected), else the preview
    range when it is on, else None."""
    selected = sorted(m.frame for m in scene.timeline_markers if m.select)
    if len(selected) >= 2:
        return selected[0], selected[-1]
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return None


def span_frames(context, settings) -> Tuple[int, int]:
    """The scene frames A, B of the span to regenerate (kept, with everything before A and after B): the panel's, or
    while those are unset (equal) the timeline's (`timeline_span`). MotionError when there is none."""
    a, b = int(settings.span_start), int(settings.span_end)
    if a == b:
        found = timeline_span(context.scene)
        if found is None:
            raise MotionError("Set the frames to regenerate: type them in the panel, select two timeline markers or "
                              "turn on the preview range")
        a, b = found
    if b <= a:
        raise MotionError(f"The span ends before it starts (frames {a}–{b}): make the second frame the later one")
    return a, b


def read_edit_request(context, settings, target: Target,
                      progress: Progress = None) -> Tuple[EditRequest, "Placement"]:
    """The span edit the panel asks for on `target`'s current action: its motion read back from the rig over the span
    and the context the engine encodes around it (`edit_window`), frames A..B to regenerate. MotionError (nothing
    read, nothing changed) when the rig has no action, the span is not inside it or too short, or it is too long."""
    obj = target.obj
    assert obj is not None  # active_target gives an existing armature
    anim = obj.animation_data
    action = anim.action if anim is not None else None
    if action is None:
        raise MotionError(f"'{obj.name}' has no action to edit: key it or generate a motion onto it first")
    if not settings.prompt.strip():
        raise MotionError("Type a prompt for the span first, e.g. 'a person jumps'")
    _check_variations(settings)
    a, b = span_frames(context, settings)
    start, end = float(action.frame_range[0]), float(action.frame_range[1])
    step = readback.frame_step(context.scene)
    count = int(np.floor((end - start) / step + 1e-6)) + 1  # motion frames (20 fps) over the action
    # Motion frames kept at the seams, rounded inwards: every scene frame up to A and from B on is kept.
    first, last = int(np.ceil((a - start) / step - 1e-6)), int(np.floor((b - start) / step + 1e-6))
    if first < 1 or last > count - 2:
        raise MotionError(f"Frames {a}–{b} are not inside the action '{action.name}' (frames {start:g}–{end:g}): "
                          "keep at least one of its frames before and after the span")
    if last - first < EDIT_MIN_GAP:
        need = EDIT_MIN_GAP if step == 1.0 else int(np.ceil((EDIT_MIN_GAP + 1) * step))
        raise MotionError(f"Frames {a}–{b} are too close together to regenerate: make the span at least {need} "
                          "frames long")
    lo, hi = edit_window(count, first, last)
    if (hi - lo) / protocol.FPS > protocol.MAX_TIMELINE_SECONDS:
        raise MotionError(f"Frames {a}–{b} span {(b - a) / (step * protocol.FPS * 60):.1f} minutes; span edits "
                          f"regenerate at most {protocol.MAX_TIMELINE_SECONDS / 60:g}: pick a shorter span")
    read = readback.read_motion(context, target, start + lo * step, hi - lo, progress=progress)
    request = EditRequest(joints=read.joints, first=first - lo, last=last - lo, prompt=settings.prompt,
                          seed=_seed(settings), steps=int(settings.steps), guidance=float(settings.guidance),
                          variations=int(settings.variations), foot_cleanup=bool(settings.foot_cleanup),
                          sampler=str(settings.sampler)).checked()
    return request, Placement.of(obj, read, read.first_frame, span=(a, b))


def read_continuation(context, request: Union[GenerateRequest, SequenceRequest], target: Target,
                      progress: Progress = None) -> Tuple[SequenceRequest, "Placement"]:
    """`request` continued from `target`'s pose and velocity at the current frame: the rig's last
    CONTINUE_CONTEXT_FRAMES motion frames up to it are read back and the result is placed to start on it."""
    scene = context.scene
    step = readback.frame_step(scene)
    current = float(scene.frame_current)
    read = readback.read_motion(context, target, current - (CONTINUE_CONTEXT_FRAMES - 1) * step,
                                CONTINUE_CONTEXT_FRAMES, progress=progress)
    if isinstance(request, GenerateRequest):  # one segment: the continuation is a timeline of one
        request = SequenceRequest(segments=((request.prompt, request.seconds),), seed=request.seed,
                                  steps=request.steps, guidance=request.guidance, variations=request.variations,
                                  foot_cleanup=request.foot_cleanup, sampler=request.sampler)
    return replace(request, start=read.joints).checked(), Placement.of(target.obj, read, current)


def _check_variations(settings) -> None:
    if not 1 <= settings.variations <= props.MAX_VARIATIONS:
        raise MotionError(f"Variations must be between 1 and {props.MAX_VARIATIONS}")


def _seed(settings) -> int:
    return random.randrange(0, 2**31 - 1) if settings.randomize_seed else int(settings.seed)


def resolve_target(context, settings) -> Target:
    if settings.target == "NEW_RIG":
        return Target(obj=None, bone_map={n: n for n in rig.SMPL_BONE_NAMES}, preset="SMPL")
    return active_target(context, settings, "Select the armature to animate (or set Target to 'New SMPL-22 armature')")


def active_target(context, settings, missing: str) -> Target:
    """The selected armature with its bone map; MotionError `missing` when no armature is selected."""
    obj = rig.armature_from_context(context)
    if obj is None:
        raise MotionError(missing)
    if obj.library is not None or (obj.override_library is None and obj.data.library is not None):
        raise MotionError(f"'{obj.name}' is linked from another file: make it local or a library override first")
    return resolve_bone_map(settings, obj)


@dataclass
class StoredMotion:
    """One variation of a saved generation (what a results-list entry points to).

    joints: (T, 22, 3) when known (packed in the .blend, or just generated); else read from `path`, the cache file of
    results made before results were packed."""

    path: str
    variation: int
    prompt: str
    seed: int
    fps: float
    joints: Optional[np.ndarray] = None
    placement: Optional["Placement"] = None

    @classmethod
    def from_item(cls, item) -> "StoredMotion":
        span = (item.placed_span[0], item.placed_span[1]) if item.placed_span[0] < item.placed_span[1] else None
        placement = Placement(item.placed_rig, item.placed_frame, item.placed_scale, span) if item.placed_rig else None
        return cls(path=item.path, variation=item.variation, prompt=item.prompt, seed=item.seed, fps=item.fps,
                   joints=packed_joints(item), placement=placement)


@dataclass
class Placement:
    """Where a motion read back from a rig (an edit, a continuation) goes back on that rig: the scene frame of its
    first motion frame and the read-back's root scale (readback.ReadBack). Other targets bake it as usual.
    span: a span edit's kept scene frames (A, B): only the keys between them change (bake.bake_span)."""

    rig: str
    first_frame: float
    scale: float
    span: Optional[Tuple[int, int]] = None

    @classmethod
    def of(cls, obj, read: readback.ReadBack, first: float, span: Optional[Tuple[int, int]] = None) -> "Placement":
        return cls(obj.name, first, read.scale, span)


PACKED_KEY = "joints"  # custom property of a results-list entry: its joints, float32 (T * 22 * 3), saved in the .blend


def pack_joints(item, joints) -> None:
    """Keep a variation's joints (T, 22, 3) in its results-list entry, so the saved .blend carries them: its results
    bake on any machine, without the cache folder they were generated into (~50 KB per 10 s)."""
    item[PACKED_KEY] = np.ascontiguousarray(joints, dtype=np.float32).ravel()


def packed_joints(item) -> Optional[np.ndarray]:
    """(T, 22, 3) float64 joints packed in a results-list entry, or None (an entry from an older file)."""
    if PACKED_KEY not in item.keys():
        return None
    return np.frombuffer(memoryview(item[PACKED_KEY]), dtype=np.float32).reshape(-1, 22, 3).astype(np.float64)


class GenerationRun:
    """Start → poll … → apply (success) | nothing (cancel, failure)."""

    def __init__(self, context, timeline: bool = False, span: bool = False, progress: Progress = None):
        """progress(done, total): frames of the rig read back so far (span edits, continuations)."""
        self.settings = context.scene.motion_mamba
        self.placement: Optional[Placement] = None
        self.request: Union[GenerateRequest, SequenceRequest, EditRequest]
        if span:
            self.target = active_target(context, self.settings, "Select the armature whose action you want to edit")
            self.request, self.placement = read_edit_request(context, self.settings, self.target, progress)
            self.span_label = "{}–{}".format(*span_frames(context, self.settings))
        else:
            self.request = read_timeline_request(self.settings) if timeline else read_request(self.settings)
            if self.settings.continue_from_frame:
                self.target = active_target(context, self.settings,
                                            "Select the armature to continue from (Continue from current frame)")
                self.request, self.placement = read_continuation(context, self.request, self.target, progress)
            else:
                self.target = resolve_target(context, self.settings)
        self.config = prefs.backend_config(context)
        body_path = prefs.smpl_model_path(context)
        if self.target.obj is None and self.settings.add_body and body_path:
            smpl_body.load_smpl_model(body_path)  # a bad body file fails now, before any work or change
        self.job: Optional[backend_module.Job] = None
        self.started = 0.0

    def start(self) -> "GenerationRun":
        backend = backend_module.get_backend(self.config)
        # The result file goes straight into the results folder (the rows point to it); nothing copies it later.
        self.request = replace(self.request, out=new_result_path(self.request.seed))
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
        path = self.request.out or ""
        seed = int(result.seed or 0)
        # Bake first: if it fails, the results list is untouched too (and the result's file goes).
        try:
            obj, action = bake_result(context, self.settings,
                                      StoredMotion(path, 0, result.prompt, seed, result.fps, joints=result.joints[0],
                                                   placement=self.placement),
                                      self.target, report=report)
        except MotionError:
            backend_module.discard(path)
            raise
        first = len(self.settings.results)
        for v in range(result.joints.shape[0]):
            item = self.settings.results.add()
            item.prompt, item.seed, item.variation = result.prompt, seed, v
            item.frames, item.fps, item.path = int(result.joints.shape[1]), float(result.fps), path
            item.label = f"{result.prompt[:40]} · seed {seed} · v{v + 1}"
            if isinstance(self.request, EditRequest):
                item.label = f"{result.prompt[:30]} · frames {self.span_label} · seed {seed} · v{v + 1}"
            if self.placement is not None:
                item.placed_rig, item.placed_frame = self.placement.rig, self.placement.first_frame
                item.placed_scale = self.placement.scale
                item.placed_span = self.placement.span or (0, 0)
            pack_joints(item, result.joints[v])
        self.settings.results[first].action = action.name
        self.settings.results_index = first
        if result.segments and self.settings.segment_markers:
            at = self.placement.first_frame if self.placement is not None else self.settings.start_frame
            add_segment_markers(context.scene, result.segments, result.fps, at)
        return obj


def add_segment_markers(scene, segments, fps: float, start_frame: float) -> None:
    """A timeline marker named after each segment's prompt at the scene frame where the segment starts."""
    scene_fps = scene.render.fps / scene.render.fps_base
    for prompt, first, _ in segments:
        scene.timeline_markers.new(prompt[:63], frame=int(round(start_frame + first * scene_fps / fps)))


_result_numbers = itertools.count(1)


def new_result_path(seed: Optional[int]) -> str:
    """A new file name in the results folder for one generation's result (what remove_cached_result may delete)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"motion_{stamp}_{int(seed or 0)}_{os.getpid()}_{next(_result_numbers)}.npz"
    return os.path.join(prefs.results_folder(), name)


def remove_cached_result(path: str) -> bool:
    """Delete a result's cached file once no results row of any scene points to it. Only files this add-on wrote
    (motion_*.npz directly in its results folder) are ever deleted: a row's path is scene data, and a .blend file
    from elsewhere may point it at any file. Returns whether a file was removed."""
    folder = os.path.realpath(prefs.results_folder())
    real = os.path.realpath(path) if path else ""
    name = os.path.basename(real)
    if os.path.dirname(real) != folder or not (name.startswith("motion_") and name.endswith(".npz")):
        return False
    for scene in bpy.data.scenes:
        # scene.motion_mamba is registered at runtime (props.register); the stubs' Scene cannot know it.
        settings = scene.motion_mamba  # type: ignore[attr-defined]
        if any(os.path.realpath(item.path) == real for item in settings.results if item.path):
            return False
    try:
        os.remove(real)
    except OSError:
        return False
    return True


def load_result_joints(item) -> np.ndarray:
    """(T, 22, 3) joints of one stored variation (a StoredMotion or a results-list entry), motion space: packed in
    the .blend, else from the cache file."""
    joints = item.joints if isinstance(item, StoredMotion) else packed_joints(item)
    if joints is not None:
        return np.asarray(joints, dtype=np.float64)
    if not os.path.isfile(item.path):
        raise MotionError(f"The cached motion '{item.path}' is gone: generate it again")
    joints = protocol.load_result(item.path, "the cached motion").joints
    if not 0 <= item.variation < len(joints):
        raise MotionError(f"The cached motion '{item.path}' has no variation {item.variation + 1}: generate it again")
    return joints[item.variation].astype(np.float64)


def bake_result(context, settings, item: StoredMotion, target: Target, report: Callable[[str], None] = print):
    """Retarget and bake one stored variation onto the target (a new SMPL rig when target.obj is None).

    Everything that can fail on user input (cache file, body model, bone map) is read before the scene changes; a
    bake that turns out not to move the rig is taken back and reported. With settings.match_proportions the new
    action also holds the stretch that puts an existing rig on the motion's proportions (proportions.match), and the
    retargeting works on the rest pose that stretch makes. Returns (armature object, new action)."""
    joints = load_result_joints(item)
    scene = context.scene
    obj = target.obj
    if context.object is not None and context.object.mode not in ("OBJECT", "POSE"):
        bpy.ops.object.mode_set(mode="OBJECT")  # edit-mode bone data is not what the rig will play with
    new_rig = obj is None
    own_proportions = False
    if obj is None:  # new_rig, spelled so that the type checker sees obj set from here on
        body_path = prefs.smpl_model_path(context) if settings.add_body else ""
        model = smpl_body.load_smpl_model(body_path) if body_path else None  # before any change to the scene
        # With a body model the rig takes the body's proportions (the root path is scaled by leg length, the feet
        # matched to the floor); otherwise the clip's own, so the rig follows the joints exactly.
        if model is not None:
            rest = model.joints - model.joints[0]
            rest[:, 1] -= (model.vertices[:, 1] - model.joints[0, 1]).min()  # soles on the floor
        else:
            rest = smpl_rest_joints(joints)
            ankles = [skeleton.JOINT_NAMES.index(f"{s}_ankle") for s in ("left", "right")]
            rest[:, 1] += joints[:, ankles, 1].min(axis=0).mean() - rest[ankles, 1].mean()  # ankles at the clip's floor
            own_proportions = True
        obj = rig.create_smpl_armature(context, f"MM_SMPL_s{item.seed}_v{item.variation + 1}", rest)
        obj.location = rig.free_spot(scene, scene.cursor.location, obj)
        if model is not None:
            smpl_body.add_smpl_body(context, obj, model, offset=rest[0] - model.joints[0])
        elif settings.add_body:
            rig.add_proxy_mesh(context, obj)
    keyed = set(target.bone_map.values()) | set(target.followers)
    switched_off = _below(obj, keyed) if settings.override_constraints else []
    rest_pose = rig.rig_rest(obj, constraints_off=switched_off)
    # A motion read back from this rig goes back where it was read: its own scale and first frame, its path and feet
    # as read (the floor fit would move the frames an edit keeps), one key per scene frame like the action it came from.
    placed = item.placement if item.placement is not None and item.placement.rig == obj.name else None
    if placed is not None and placed.span is not None and obj.animation_data and obj.animation_data.action:
        return obj, _bake_span(context, settings, item, target, joints, placed, report)
    start_frame = float(settings.start_frame) if placed is None else float(placed.first_frame)
    pose = obj.pose
    assert pose is not None  # an armature: a new rig, or the one resolve_target picked
    constants = [(pose.bones[b].path_from_id(f'["{prop}"]'), 0, value) for b, prop, value in target.switches]
    constants += [(c.path_from_id("influence"), 0, 0.0) for name in switched_off
                  for c in pose.bones[name].constraints if c.influence > 0]
    stretch = None  # 'Match motion proportions': keys held for the whole action, and the rest they make
    if settings.match_proportions and not new_rig:
        stretch = proportions.match(context, obj, target, joints, rest_pose,
                                    constants + _rest_keys(obj, keyed, set(), set(switched_off), whole=True))
        rest_pose = stretch.rest
    scene_fps = scene.render.fps / scene.render.fps_base
    if settings.keep_motion_fps and placed is None:
        keyed_joints, step = joints, float(scene_fps / item.fps)
        scale = None
    else:  # one key per scene frame, each retargeted from the motion at its time, so the feet fit every key
        keyed_joints, step = resample_joints(joints, item.fps, scene_fps), 1.0
        scale = leg_scale(joints, rest_pose, target.markers or target.bone_map) if placed is None else placed.scale
    retargeted = retarget(keyed_joints, rest_pose, target.bone_map,
                          root_motion=settings.root_motion or placed is not None, markers=target.markers,
                          followers=target.followers, root_bone=target.root,
                          match_feet=not own_proportions and placed is None, follow_pelvis=own_proportions,
                          scale=scale)
    constants += _rest_keys(obj, keyed, set(retargeted.location_bones), set(switched_off))
    if stretch is not None:
        constants = proportions.merge(constants, stretch.keys)
        retargeted.locations[:, 0] += stretch.root_shift  # the root's place in the stretched rest pose

    anim = obj.animation_data
    previous = (anim.action, getattr(anim, "action_slot", None)) if anim is not None else (None, None)
    had_fake_user = previous[0].use_fake_user if previous[0] is not None else False
    action = bake.bake(obj, retargeted, action_name=bake.action_name_for(item.prompt, item.seed, item.variation),
                       start_frame=start_frame, frame_step=step, push_to_nla=settings.push_to_nla,
                       constants=constants, report=report)
    try:
        if not (settings.push_to_nla and previous[0] is not None):  # a strip under the user's action: theirs wins
            _check_moves(context, obj, target, joints, retargeted, start_frame, step)
    except MotionError:
        bake.remove_bake(obj, action, previous[0], previous[1], had_fake_user)
        if new_rig:
            for child in list(obj.children):
                bpy.data.objects.remove(child)
            data = obj.data
            bpy.data.objects.remove(obj)
            if isinstance(data, bpy.types.Armature):  # always, for a rig made here
                bpy.data.armatures.remove(data)
        raise
    bake.extend_scene_range(scene, start_frame, retargeted.rotations.shape[0], step)
    if stretch is not None and stretch.residual > proportions.REPORT_RESIDUAL:
        report(f"'Match motion proportions' brought the joints of '{obj.name}' within {stretch.residual * 100:.1f} "
               "cm of the motion's body on average: some of its mapped bones can neither move nor stretch (connected, "
               "or driven by constraints)")
    return obj, action


def _bake_span(context, settings, item: StoredMotion, target: Target, joints, placed: Placement,
               report: Callable[[str], None]):
    """A span edit back onto the rig it was read from: the keyed bones' keys at the whole scene frames of the span,
    merged into a copy of the rig's action (bake.bake_span). Returns the new action."""
    obj = target.obj
    assert obj is not None and placed.span is not None
    keyed = set(target.bone_map.values()) | set(target.followers)
    rest_pose = rig.rig_rest(obj, constraints_off=_below(obj, keyed) if settings.override_constraints else [])
    retargeted = retarget(joints, rest_pose, target.bone_map, root_motion=True, markers=target.markers,
                          followers=target.followers, root_bone=target.root, match_feet=False, scale=placed.scale)
    a, b = placed.span
    step = readback.frame_step(context.scene)
    on_frames = sample(retargeted, (np.arange(a, b + 1) - placed.first_frame) / step)
    return bake.bake_span(obj, on_frames, span=(a, b),
                          action_name=bake.action_name_for(item.prompt, item.seed, item.variation), report=report)


_REST_ROTATION = {"QUATERNION": ("rotation_quaternion", (1.0, 0.0, 0.0, 0.0)),
                  "AXIS_ANGLE": ("rotation_axis_angle", (0.0, 0.0, 1.0, 0.0))}


def _rest_keys(obj, keyed, located, switched_off, *, whole: bool = False):
    """(data path, index, value) holding at rest, in the new action, everything the keyed bones hang from or copy
    (parents, constraint targets: Rigify's hips and chest controls, mechanism bones), and the keyed bones' own
    location (unless keyed) and scale. The retargeting assumes that rest pose; keying it means a pose left on the rig
    by another action or by hand cannot bend the result. whole: the keyed bones' rotations too (the rig wholly at
    rest, as measuring its rest pose needs)."""
    pose = obj.pose.bones
    depends, stack = set(), list(keyed)
    while stack:
        pb = pose[stack.pop()]
        ups = [pb.parent.name] if pb.parent else []
        if pb.name not in switched_off:
            for c in pb.constraints:
                if getattr(c, "target", None) == obj and getattr(c, "subtarget", ""):
                    ups.append(c.subtarget)
                ups += [t.subtarget for t in getattr(c, "targets", ()) if t.target == obj and t.subtarget]
        for name in ups:
            if name in pose and name not in depends and name not in keyed:
                depends.add(name)
                stack.append(name)
    out = []
    for name in sorted(depends | set(keyed)):
        pb = pose[name]
        channels: List[Tuple[str, Tuple[float, ...]]] = [("location", (0.0, 0.0, 0.0))] if name not in located else []
        channels.append(("scale", (1.0, 1.0, 1.0)))
        if name in depends or whole:
            channels.append(_REST_ROTATION.get(pb.rotation_mode, ("rotation_euler", (0.0, 0.0, 0.0))))
        out += [(pb.path_from_id(prop), i, v) for prop, values in channels for i, v in enumerate(values)]
    return out


def _below(obj, keyed):
    """The keyed bones that constraints drive and every bone below them: with 'Override constraints' the new action
    switches their constraints off, so the keys show (e.g. Rigify's deform bones and their twist bones, without the
    controls). Keyed bones nothing drives (controls) keep the mechanism below them as it is."""
    driven = set(keyed) & driven_bones(obj)
    return [pb.name for pb in obj.pose.bones
            if pb.name in driven or any(b.name in driven for b in pb.bone.parent_recursive)]


def _check_moves(context, obj, target, joints, retargeted, start_frame, step) -> None:
    """MotionError if the baked rig stands still where the motion moves (constraints or drivers override the keys).

    Samples the first, middle and last frames through the depsgraph and compares the spread of the mapped bones'
    world heads with the clip's own (scaled); restores the scene's current frame."""
    scene = context.scene
    bones = list((target.markers or target.bone_map).values())
    count = retargeted.rotations.shape[0]
    samples = sorted({0, count // 2, count - 1})
    current = scene.frame_current, scene.frame_subframe
    heads = []
    try:
        for k in samples:
            scene.frame_set(int(round(start_frame + k * step)))
            heads.append(rig.posed_heads(obj, bones))
    finally:
        scene.frame_set(current[0], subframe=current[1])
    moved = max(float(np.abs(h - heads[0]).max()) for h in heads)
    clip = joints[np.round(np.linspace(0, len(joints) - 1, len(samples))).astype(int)]
    expected = retargeted.scale * max(float(np.abs(c - clip[0]).max()) for c in clip)
    if expected > 0.02 and moved < 0.1 * expected:
        raise MotionError(f"The new action does not move '{obj.name}': constraints or drivers hold its bones. Choose "
                          "the rig's controls preset (Rigify: FK controls) or turn on 'Override constraints'")

"""Per-scene settings (`scene.motion_mamba`) and per-session status (`window_manager.motion_mamba_status`).

Status lives on the window manager, not the scene, so a failed or cancelled generation changes nothing in the file.
"""

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, IntVectorProperty,
                       PointerProperty, StringProperty)

from . import bone_maps, vendor

vendor.ensure_motion_core()
from motion_core.motion import protocol  # noqa: E402

# The panel's own cap on variations (each one becomes a row of the results list); the engine allows
# protocol.MAX_VARIATIONS. Every other limit is the engine's.
MAX_VARIATIONS = 4
# The fast sampler's step count. On the shipped model DPM-Solver++(2M) in 10 steps passes 126 of the 153 action
# prompts (DDIM in 50: 130; on the previous default 129 against 127, validation FID 0.086 against 0.090), within the
# suite's seed-level noise, in 0.67-0.82 s for a 9.8-s clip on a 2-core CPU (2.9-3.9 s).
FAST_STEPS = 10
# Takes drawn per variation, the best kept (motion_core.candidates): on the shipped model, DDIM 50, the action suite
# passes 140 of 153 prompts with 3 takes against 129 with one; on a GPU they are one batch, on a CPU 3x the time.
DEFAULT_CANDIDATES = 3


def _sampler_changed(self, context):
    """Switching sampler moves the step count between the two defaults, unless the user picked another count."""
    if self.sampler == "dpmpp_2m" and self.steps == protocol.DEFAULT_STEPS:
        self.steps = FAST_STEPS
    elif self.sampler == "ddim" and self.steps == FAST_STEPS:
        self.steps = protocol.DEFAULT_STEPS


def _bone_map_items(self, context):
    items = [("AUTO", "Auto-detect", "Recognise the rig from its bone names")]
    items += [(key, label, f"{label} bone names") for key, label in bone_maps.PRESET_LABELS.items()]
    items.append(("CUSTOM", "Custom (table below)", "Use the joint → bone table in the panel"))
    from . import prefs

    for name in sorted(bone_maps.load_custom_maps(prefs.bone_map_folder())):
        items.append((f"USER:{name}", f"Saved: {name}", f"Saved custom map '{name}'"))
    _bone_map_items.cache = items  # type: ignore[attr-defined]  # Blender needs the strings kept alive
    return items


class MOTION_MAMBA_PG_result(bpy.types.PropertyGroup):
    """One generated variation, kept so it can be baked again or onto another rig."""

    label: StringProperty(name="Label")
    prompt: StringProperty(name="Prompt")
    seed: IntProperty(name="Seed")
    variation: IntProperty(name="Variation", min=0)
    frames: IntProperty(name="Frames")
    fps: FloatProperty(name="FPS", default=protocol.FPS)
    path: StringProperty(name="Cache file", subtype="FILE_PATH")
    action: StringProperty(name="Last baked action")
    # A motion read back from a rig (span edit, continuation) goes back onto that rig where it was read
    # (generation.Placement); empty placed_rig: bake it like any result.
    placed_rig: StringProperty(name="Read from")
    placed_frame: FloatProperty(name="First frame")
    placed_scale: FloatProperty(name="Root scale", default=1.0)
    placed_span: IntVectorProperty(name="Span", size=2)  # a span edit's kept frames A, B (0, 0: not a span edit)


class MOTION_MAMBA_PG_segment(bpy.types.PropertyGroup):
    """One shot of the timeline: what happens and for how long."""

    prompt: StringProperty(name="Prompt", description="What the character does in this segment",
                           default="a person walks forward")
    seconds: FloatProperty(
        name="Duration", description="Length of this segment in seconds", default=4.0, min=protocol.MIN_SECONDS,
        max=protocol.MAX_TIMELINE_SECONDS, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE")


class MOTION_MAMBA_PG_map_entry(bpy.types.PropertyGroup):
    joint: StringProperty(name="Joint")
    bone: StringProperty(name="Bone", description="Target bone that follows this joint (empty: not driven)")


class MOTION_MAMBA_PG_settings(bpy.types.PropertyGroup):
    prompt: StringProperty(
        name="Prompt", description="What the character does, in plain English",
        default="a person walks forward and waves")
    seconds: FloatProperty(
        name="Duration", description="Length of the motion in seconds", default=4.0, min=protocol.MIN_SECONDS,
        max=protocol.MAX_SECONDS, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE")
    seed: IntProperty(name="Seed", description="Same seed and settings give the same motion", default=0, min=0)
    randomize_seed: BoolProperty(
        name="Randomise", description="Pick a new seed for every generation", default=False)
    guidance: FloatProperty(
        name="Prompt strength",
        description="How strongly the motion follows the prompt: higher sticks closer to the words, lower varies "
                    "more (classifier-free guidance scale)",
        default=protocol.DEFAULT_GUIDANCE, min=0.0, max=20.0)  # the engine takes up to MAX_GUIDANCE; 20 is plenty
    steps: IntProperty(
        name="Quality steps",
        description="How many refinement passes make the motion: fewer is faster, more is smoother (denoising "
                    "steps)", default=protocol.DEFAULT_STEPS, min=1, max=protocol.MAX_STEPS)
    sampler: EnumProperty(
        name="Sampler", description="How the refinement passes are taken",
        items=[("ddim", "Standard (DDIM)", f"The paper's sampler, {protocol.DEFAULT_STEPS} steps"),
               ("dpmpp_2m", "Fast (DPM-Solver++)", f"As good in {FAST_STEPS} steps as Standard in "
                f"{protocol.DEFAULT_STEPS} on the shipped model, about 4x faster on a CPU")],
        default=protocol.DEFAULT_SAMPLER, update=_sampler_changed)
    variations: IntProperty(
        name="Variations", description="How many different motions to generate for the prompt", default=1, min=1,
        max=MAX_VARIATIONS)
    candidates: IntProperty(
        name="Takes to choose from",
        description="How many takes to draw for each variation, keeping the one that best shows the prompt (the "
                    "actions it names, then the closest match by the text-motion evaluator). 1 keeps the first take; "
                    "more costs that many times the time on a CPU. Applies to a prompt; timelines and span edits "
                    "draw one take",
        default=DEFAULT_CANDIDATES, min=1, max=protocol.MAX_CANDIDATES)
    foot_cleanup: BoolProperty(
        name="Clean foot contacts", description="Pin each foot to the floor while the model says it is planted "
        "(leg IK, a small pelvis correction, short blends), then filter off the frame-to-frame tremor; off: keep "
        "the generated joints as they are",
        default=True)
    target: EnumProperty(
        name="Target", description="Which armature receives the motion",
        items=[("NEW_RIG", "New SMPL-22 armature", "Create a new armature for each generation"),
               ("SELECTED", "Selected armature", "Retarget onto the active armature with a bone map")],
        default="NEW_RIG")
    bone_map: EnumProperty(name="Bone map", description="How the rig's bones map to the 22 joints",
                           items=_bone_map_items)
    custom_map: CollectionProperty(type=MOTION_MAMBA_PG_map_entry)
    custom_map_name: StringProperty(name="Map name", default="my_rig")
    start_frame: IntProperty(name="Start frame", description="Scene frame of the first key", default=1)
    continue_from_frame: BoolProperty(
        name="Continue from current frame",
        description="Start the new motion from the selected armature's pose at the current frame and carry on with "
                    "its movement, so takes chain without a jump (the rig's last 2 s are read back through its bone "
                    "map; the new action starts at the current frame)",
        default=False)
    span_start: IntProperty(
        name="From", description="Last frame kept before the regenerated span (set both to the same frame to use "
                                 "the two selected timeline markers or the preview range)", default=0)
    span_end: IntProperty(
        name="To", description="First frame kept after the regenerated span (set both to the same frame to use the "
                               "two selected timeline markers or the preview range)", default=0)
    root_motion: BoolProperty(
        name="Root motion", description="Move the character through the scene (off: animate in place)", default=True)
    keep_motion_fps: BoolProperty(
        name="Keep 20 fps keys",
        description="Key the motion's own 20 frames per second, which fall between the scene's frames at other "
                    "rates (off: resample to one key on every scene frame)",
        default=False)
    override_constraints: BoolProperty(
        name="Override constraints",
        description="Bake onto bones that constraints move (such as Rigify's deform bones): the new action switches "
                    "off the constraints of the keyed bones and the bones below them; the rig itself is not changed",
        default=False)
    match_proportions: BoolProperty(
        name="Match motion proportions",
        description="Stretch the character to the motion's body while the new action plays (limb and spine lengths, "
                    "hip and shoulder width), so hands and feet land where the motion puts them. Off keeps your "
                    "character's own proportions. Only the new action holds the stretch: the rig, its rest pose and "
                    "its other actions stay as they are",
        default=False)
    push_to_nla: BoolProperty(
        name="As NLA strip", description="Put each new action on its own NLA track instead of making it active",
        default=False)
    add_body: BoolProperty(
        name="Add body", description="Give new armatures a body so they render: the SMPL model set in the preferences, "
                    "else a simple stick figure", default=True)
    segments: CollectionProperty(type=MOTION_MAMBA_PG_segment)
    segments_index: IntProperty(name="Segment", default=0)
    segment_markers: BoolProperty(
        name="Segment markers", description="Add a timeline marker named after each segment where it starts",
        default=True)
    results: CollectionProperty(type=MOTION_MAMBA_PG_result)
    results_index: IntProperty(name="Result", default=0)


class MOTION_MAMBA_PG_status(bpy.types.PropertyGroup):
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(default="")
    last_error: StringProperty(default="")


class MOTION_MAMBA_PG_install(bpy.types.PropertyGroup):
    running: BoolProperty(default=False)
    failed: BoolProperty(default=False)
    message: StringProperty(default="")


classes = (MOTION_MAMBA_PG_install, MOTION_MAMBA_PG_result, MOTION_MAMBA_PG_segment, MOTION_MAMBA_PG_map_entry,
           MOTION_MAMBA_PG_settings, MOTION_MAMBA_PG_status)


def register_properties() -> None:
    setattr(bpy.types.Scene, "motion_mamba", PointerProperty(type=MOTION_MAMBA_PG_settings))
    setattr(bpy.types.WindowManager, "motion_mamba_status", PointerProperty(type=MOTION_MAMBA_PG_status))
    setattr(bpy.types.WindowManager, "motion_mamba_install", PointerProperty(type=MOTION_MAMBA_PG_install))


def unregister_properties() -> None:
    delattr(bpy.types.WindowManager, "motion_mamba_install")
    delattr(bpy.types.WindowManager, "motion_mamba_status")
    delattr(bpy.types.Scene, "motion_mamba")

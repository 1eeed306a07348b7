"""Operators: thin wrappers that read settings, hand off to generation / bake / deps, and report.

User errors arrive as MotionError: reported in the status bar, shown in the panel, the operator returns CANCELLED
and the scene is unchanged. `motion_mamba.generate` runs modal from the UI (progress, Esc cancels) and blocking
from scripts (`bpy.ops.motion_mamba.generate()` → execute).
"""

from typing import Optional

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import bone_maps, deps, generation, prefs, rig, vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402


def _status(context):
    return context.window_manager.motion_mamba_status


def _picked_result(operator, settings) -> Optional[int]:
    """The result an operator acts on: its `index` property, else the list's active row; None when out of range."""
    index = operator.index if operator.index >= 0 else settings.results_index
    return index if 0 <= index < len(settings.results) else None


def _fail(operator, context, message: str):
    status = _status(context)
    status.running, status.last_error, status.message = False, message, ""
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


def _done(operator, context, message: str):
    """Success: the panel shows `message` and drops the previous error (it no longer applies)."""
    status = _status(context)
    status.last_error, status.message = "", message
    operator.report({"INFO"}, message)
    return {"FINISHED"}


class MOTION_MAMBA_OT_generate(bpy.types.Operator):
    """Generate motion from the prompt and bake it onto the target armature"""

    bl_idname = "motion_mamba.generate"
    bl_label = "Generate"
    bl_description = "Generate a motion from the prompt and bake it onto the target (Esc cancels)"
    bl_options = {"REGISTER", "UNDO"}

    timeline: BoolProperty(name="Timeline", description="Generate the timeline's segments as one motion and action",
                           default=False, options={"SKIP_SAVE"})
    span: BoolProperty(name="Regenerate span", description="Regenerate frames From–To of the selected armature's "
                       "action with the prompt", default=False, options={"SKIP_SAVE"})

    @classmethod
    def description(cls, context, properties):
        if properties.span:
            return ("Regenerate the frames between From and To of the selected armature's action with the prompt, "
                    "keeping the poses and movement at both ends; the rig's motion is read back through its bone map "
                    "(world bone heads at 20 fps) and the result is a copy of your action where only the mapped "
                    "bones' keys inside the span change; your action is kept (Esc cancels)")
        return cls.bl_description

    _run = None
    _timer = None

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.window_manager.motion_mamba_status.running

    def _start(self, context):
        status = _status(context)
        status.last_error, status.message, status.progress = "", "Starting the model…", 0.0
        wm = context.window_manager
        shown = context.window is not None

        def reading(done, total):  # span edits and continuations read the rig first (readback.read_motion)
            status.message, status.progress = f"Reading the rig's motion… {done}/{total} frames", done / total
            if shown:
                wm.progress_update(int(100 * done / total))

        if shown:
            wm.progress_begin(0, 100)
        try:
            run = generation.GenerationRun(context, timeline=self.timeline, span=self.span, progress=reading)
        finally:
            if shown:
                wm.progress_end()
        status.message, status.progress = "Starting the model…", 0.0
        self._run = run.start()
        status.running = True

    def _finish(self, context):
        status = _status(context)
        status.running = False
        state = self._run.poll()
        if state == "CANCELLED":
            status.message = "Cancelled"
            self.report({"WARNING"}, "Generation cancelled; nothing was changed")
            return {"CANCELLED"}
        if state == "FAILED":
            return _fail(self, context, self._run.job.error)
        obj = self._run.apply(context, report=lambda m: self.report({"INFO"}, m))
        result = self._run.job.result
        settings = context.scene.motion_mamba
        action = settings.results[settings.results_index].action  # the action's real name (".001" included)
        status.message = (f"{result.variations} × {result.frames} frames in {result.info['elapsed_s']:.1f} s "
                          f"→ '{action}' on {obj.name}")
        self.report({"INFO"}, f"Motion baked onto {obj.name} as '{action}'")
        return {"FINISHED"}

    def execute(self, context):
        try:
            self._start(context)
            self._run.wait()
            return self._finish(context)
        except MotionError as error:
            if self._run is not None:
                self._run.cancel()
            return _fail(self, context, str(error))

    def invoke(self, context, event):
        if context.window is None:  # background mode / no event loop: a modal operator would never get events
            return self.execute(context)
        try:
            self._start(context)
        except MotionError as error:
            return _fail(self, context, str(error))
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {"RUNNING_MODAL"}

    def _cleanup(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def modal(self, context, event):
        status = _status(context)
        if event.type == "ESC" and event.value == "PRESS":
            self._run.cancel()
            status.message = "Cancelling…"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._run.poll()
        job = self._run.job
        if state == "RUNNING":
            status.progress = job.fraction
            status.message = f"Denoising step {job.step}/{job.total}" if job.total else "Loading the model…"
            context.window_manager.progress_update(int(100 * job.fraction))
            if context.workspace is not None:
                context.workspace.status_text_set(f"Motion Mamba: {status.message} (Esc to cancel)")
            for area in context.screen.areas if context.screen else ():
                if area.type == "VIEW_3D":
                    area.tag_redraw()
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        try:
            return self._finish(context)
        except MotionError as error:
            return _fail(self, context, str(error))

    def cancel(self, context):  # Blender calls this when the modal operator is aborted (e.g. file reload)
        if self._run is not None:
            self._run.cancel()
        self._cleanup(context)
        _status(context).running = False


class MOTION_MAMBA_OT_bake_result(bpy.types.Operator):
    """Bake a stored variation onto the current target"""

    bl_idname = "motion_mamba.bake_result"
    bl_label = "Bake"
    bl_description = "Bake this result onto the target (new SMPL rig or the selected armature) as a new action"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Result", default=-1)

    def execute(self, context):
        settings = context.scene.motion_mamba
        index = _picked_result(self, settings)
        if index is None:
            return _fail(self, context, "Pick a result in the list first")
        try:
            target = generation.resolve_target(context, settings)
            item = settings.results[index]
            obj, action = generation.bake_result(context, settings, generation.StoredMotion.from_item(item), target,
                                                 report=lambda m: self.report({"INFO"}, m))
            item.action = action.name
        except MotionError as error:
            return _fail(self, context, str(error))
        return _done(self, context, f"Baked '{action.name}' onto {obj.name}")


class MOTION_MAMBA_OT_delete_result(bpy.types.Operator):
    """Remove a result from the list (baked actions stay)"""

    bl_idname = "motion_mamba.delete_result"
    bl_label = "Delete"
    bl_description = ("Remove this result from the list and its cached motion file; actions already baked from it "
                      "are kept")
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Result", default=-1)

    def execute(self, context):
        settings = context.scene.motion_mamba
        index = _picked_result(self, settings)
        if index is None:
            return _fail(self, context, "Pick a result in the list first")
        path = settings.results[index].path
        settings.results.remove(index)
        settings.results_index = min(settings.results_index, max(len(settings.results) - 1, 0))
        generation.remove_cached_result(path)  # once no row uses it (variations share one file)
        return {"FINISHED"}


class MOTION_MAMBA_OT_segment_add(bpy.types.Operator):
    """Add a timeline segment after the active one"""

    bl_idname = "motion_mamba.segment_add"
    bl_label = "Add Segment"
    bl_description = "Add a timeline segment after the active one, with the panel's prompt and duration"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.motion_mamba
        item = settings.segments.add()
        item.prompt, item.seconds = settings.prompt, settings.seconds
        index = min(settings.segments_index + 1, len(settings.segments) - 1)
        settings.segments.move(len(settings.segments) - 1, index)
        settings.segments_index = index
        return {"FINISHED"}


class MOTION_MAMBA_OT_segment_remove(bpy.types.Operator):
    """Remove a timeline segment"""

    bl_idname = "motion_mamba.segment_remove"
    bl_label = "Remove Segment"
    bl_description = "Remove the active timeline segment"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Segment", default=-1)

    def execute(self, context):
        settings = context.scene.motion_mamba
        index = self.index if self.index >= 0 else settings.segments_index
        if not 0 <= index < len(settings.segments):
            return _fail(self, context, "Pick a segment in the timeline first")
        settings.segments.remove(index)
        settings.segments_index = min(index, max(len(settings.segments) - 1, 0))
        return {"FINISHED"}


class MOTION_MAMBA_OT_segment_move(bpy.types.Operator):
    """Move the active timeline segment up or down"""

    bl_idname = "motion_mamba.segment_move"
    bl_label = "Move Segment"
    bl_description = "Move the active timeline segment earlier or later"
    bl_options = {"REGISTER", "UNDO"}

    direction: EnumProperty(name="Direction", items=[("UP", "Up", "Earlier"), ("DOWN", "Down", "Later")])

    def execute(self, context):
        settings = context.scene.motion_mamba
        index = settings.segments_index
        other = index - 1 if self.direction == "UP" else index + 1
        if not (0 <= index < len(settings.segments) and 0 <= other < len(settings.segments)):
            return {"CANCELLED"}
        settings.segments.move(index, other)
        settings.segments_index = other
        return {"FINISHED"}


class MOTION_MAMBA_OT_span_from_timeline(bpy.types.Operator):
    """Set the span to regenerate from the timeline"""

    bl_idname = "motion_mamba.span_from_timeline"
    bl_label = "From Timeline"
    bl_description = "Set From and To to the two selected timeline markers, else to the preview range"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        found = generation.timeline_span(context.scene)
        if found is None:
            return _fail(self, context, "Select two timeline markers or turn on the preview range first")
        settings = context.scene.motion_mamba
        settings.span_start, settings.span_end = found
        return {"FINISHED"}


class MOTION_MAMBA_OT_detect_bone_map(bpy.types.Operator):
    """Fill the custom map table from the selected armature's bone names"""

    bl_idname = "motion_mamba.detect_bone_map"
    bl_label = "Detect"
    bl_description = "Fill the custom joint → bone table from the selected armature (auto-detection)"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = rig.armature_from_context(context)
        if obj is None:
            return _fail(self, context, "Select an armature first")
        preset, mapping = bone_maps.best_match([b.name for b in obj.data.bones], generation.driven_bones(obj))
        settings = context.scene.motion_mamba
        settings.custom_map.clear()
        for joint in bone_maps.JOINT_NAMES:
            entry = settings.custom_map.add()
            entry.joint, entry.bone = joint, mapping.get(joint, "")
        settings.bone_map = "CUSTOM"
        label = bone_maps.PRESET_LABELS[preset] if preset else "no preset"
        done = f"Detected {label}: {len(mapping)}/22 joints on {obj.name}"
        if not bone_maps.usable(mapping):
            done += "; fill the empty rows"
        return _done(self, context, done)


class MOTION_MAMBA_OT_save_bone_map(bpy.types.Operator):
    """Save the custom map table under a name, for other files and rigs"""

    bl_idname = "motion_mamba.save_bone_map"
    bl_label = "Save Map"
    bl_description = "Save the custom joint → bone table as a named map (listed under Bone map)"

    name: StringProperty(name="Name", default="")

    def execute(self, context):
        settings = context.scene.motion_mamba
        name = (self.name or settings.custom_map_name).strip()
        mapping = {e.joint: e.bone for e in settings.custom_map if e.bone}
        if not name:
            return _fail(self, context, "Give the map a name")
        if "pelvis" not in mapping:
            return _fail(self, context, "The map needs at least the pelvis/hips bone")
        obj = rig.armature_from_context(context)
        if obj is not None:  # check the rows against the rig they were made for
            try:
                generation.check_rows(mapping, obj, "custom map")
            except MotionError as error:
                return _fail(self, context, str(error))
        path = bone_maps.save_custom_map(prefs.bone_map_folder(), name, mapping)
        return _done(self, context, f"Saved bone map '{name}' to {path}")


class MOTION_MAMBA_OT_install_backend(bpy.types.Operator):
    """Install torch and the engine's requirements into the add-on's private folder (downloads ~0.2-3 GB)"""

    bl_idname = "motion_mamba.install_backend"
    bl_label = "Install backend"
    bl_description = "pip-install torch and the model's requirements into a private folder (needs online access)"

    _installer = None
    _timer = None

    def _begin(self, context):
        if not bpy.app.online_access:
            raise MotionError("Blender is set to work offline: enable Preferences → System → Network → "
                              "'Allow Online Access', then click Install backend again")
        user_prefs = prefs.get_preferences(context)
        variant = user_prefs.torch_variant if user_prefs else "cpu"
        self._installer = deps.Installer(prefs.deps_folder(), deps.install_plan(variant), variant=variant).start()
        state = context.window_manager.motion_mamba_install
        state.running, state.failed, state.message = True, False, "Starting pip…"

    def _end(self, context):
        status, _, message = self._installer.poll()
        state = context.window_manager.motion_mamba_install
        state.running, state.failed, state.message = False, status != "FINISHED", message
        if status != "FINISHED":
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def execute(self, context):
        try:
            self._begin(context)
        except MotionError as error:
            state = context.window_manager.motion_mamba_install
            state.running, state.failed, state.message = False, True, str(error)
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._installer.wait()
        return self._end(context)

    def invoke(self, context, event):
        try:
            self._begin(context)
        except MotionError as error:
            state = context.window_manager.motion_mamba_install
            state.running, state.failed, state.message = False, True, str(error)
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        status, fraction, message = self._installer.poll()
        wm = context.window_manager
        wm.motion_mamba_install.message = message
        wm.progress_update(int(100 * fraction))
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if status == "RUNNING":
            return {"RUNNING_MODAL"}
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        return self._end(context)


classes = (
    MOTION_MAMBA_OT_generate,
    MOTION_MAMBA_OT_bake_result,
    MOTION_MAMBA_OT_delete_result,
    MOTION_MAMBA_OT_segment_add,
    MOTION_MAMBA_OT_segment_remove,
    MOTION_MAMBA_OT_segment_move,
    MOTION_MAMBA_OT_span_from_timeline,
    MOTION_MAMBA_OT_detect_bone_map,
    MOTION_MAMBA_OT_save_bone_map,
    MOTION_MAMBA_OT_install_backend,
)


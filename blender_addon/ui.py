"""The 3D View sidebar tab "Motion": prompt and settings, target and bone map, Generate, a timeline of segments,
results with Bake/Delete."""

from typing import Dict, Tuple

import bpy

from . import generation


class MotionPanel(bpy.types.Panel):
    """Shared placement of the panels (never registered itself)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Motion"


class MOTION_MAMBA_UL_results(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        layout.label(text=item.label, icon="ARMATURE_DATA")
        layout.label(text=f"{item.frames / max(item.fps, 1.0):.1f} s")


class VIEW3D_PT_motion_mamba(MotionPanel):
    bl_idname = "VIEW3D_PT_motion_mamba"
    bl_label = "Motion Mamba"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motion_mamba
        status = context.window_manager.motion_mamba_status
        layout.prop(settings, "prompt", text="")
        col = layout.column(align=True)
        col.prop(settings, "seconds")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "randomize_seed", text="", icon="FILE_REFRESH")
        col.prop(settings, "guidance")
        col.prop(settings, "sampler")
        col.prop(settings, "steps")
        col.prop(settings, "variations")
        col.prop(settings, "candidates")
        col.prop(settings, "foot_cleanup")
        col = layout.column(align=True)
        col.prop(settings, "target", text="")
        if settings.target == "SELECTED":
            obj = generation.rig.armature_from_context(context)
            col.label(text=target_summary(obj, settings.bone_map), icon="ARMATURE_DATA" if obj else "ERROR")
            col.prop(settings, "bone_map")
            if settings.bone_map == "CUSTOM":  # the table the choice refers to, right here
                draw_custom_map(col.box(), settings, obj)
            col.prop(settings, "override_constraints")
            col.prop(settings, "match_proportions")
        col.prop(settings, "continue_from_frame")
        if settings.continue_from_frame and settings.target == "NEW_RIG":  # it continues the selected rig
            obj = generation.rig.armature_from_context(context)
            col.label(text=target_summary(obj, settings.bone_map), icon="ARMATURE_DATA" if obj else "ERROR")
        row = col.row()
        row.active = not settings.continue_from_frame  # a continuation starts at the current frame
        row.prop(settings, "start_frame")
        row = col.row(align=True)
        row.prop(settings, "root_motion", toggle=True)
        row.prop(settings, "push_to_nla", toggle=True)
        col.prop(settings, "keep_motion_fps")
        if settings.target == "NEW_RIG":
            col.prop(settings, "add_body")
        if status.running:
            layout.progress(factor=status.progress, text=status.message or "Working…")  # UILayout.progress: 4.0+
            layout.label(text="Esc cancels", icon="INFO")
        else:
            layout.operator("motion_mamba.generate", icon="PLAY")
            if status.message:
                layout.label(text=status.message, icon="INFO")
        if status.last_error:
            box = layout.box()
            box.alert = True
            for i, line in enumerate(_wrap(status.last_error, 48)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


class MOTION_MAMBA_UL_segments(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.label(text=f"{index + 1}.")
        row.prop(item, "prompt", text="", emboss=False)
        row.prop(item, "seconds", text="")


class VIEW3D_PT_motion_mamba_timeline(MotionPanel):
    bl_idname = "VIEW3D_PT_motion_mamba_timeline"
    bl_label = "Timeline"
    bl_parent_id = "VIEW3D_PT_motion_mamba"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motion_mamba
        row = layout.row()
        row.template_list("MOTION_MAMBA_UL_segments", "", settings, "segments", settings, "segments_index", rows=4)
        col = row.column(align=True)
        col.operator("motion_mamba.segment_add", text="", icon="ADD")
        col.operator("motion_mamba.segment_remove", text="", icon="REMOVE")
        col.separator()
        col.operator("motion_mamba.segment_move", text="", icon="TRIA_UP").direction = "UP"
        col.operator("motion_mamba.segment_move", text="", icon="TRIA_DOWN").direction = "DOWN"
        if 0 <= settings.segments_index < len(settings.segments):
            segment = settings.segments[settings.segments_index]
            col = layout.column(align=True)
            col.prop(segment, "prompt", text="")
            col.prop(segment, "seconds")
        total = sum(s.seconds for s in settings.segments)
        layout.label(text=f"{len(settings.segments)} segments, {total:.1f} s in all (up to 10 min)")
        layout.prop(settings, "segment_markers")
        if not context.window_manager.motion_mamba_status.running:
            layout.operator("motion_mamba.generate", text="Generate Timeline", icon="SEQUENCE").timeline = True


class VIEW3D_PT_motion_mamba_span(MotionPanel):
    bl_idname = "VIEW3D_PT_motion_mamba_span"
    bl_label = "Regenerate Span"
    bl_parent_id = "VIEW3D_PT_motion_mamba"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motion_mamba
        obj = generation.rig.armature_from_context(context)
        action = obj.animation_data.action if obj is not None and obj.animation_data else None
        layout.label(text=f"{obj.name} · {action.name}" if action else "Select an armature with an action",
                     icon="ACTION" if action else "ERROR")
        layout.prop(settings, "prompt", text="")
        row = layout.row(align=True)
        row.prop(settings, "span_start")
        row.prop(settings, "span_end")
        row.operator("motion_mamba.span_from_timeline", text="", icon="MARKER_HLT")
        if settings.span_start == settings.span_end:
            found = generation.timeline_span(context.scene)
            layout.label(text=f"Timeline: frames {found[0]}–{found[1]}" if found else
                         "Select two markers or set the preview range", icon="INFO")
        if not context.window_manager.motion_mamba_status.running:
            layout.operator("motion_mamba.generate", text="Regenerate span", icon="FILE_REFRESH").span = True


class VIEW3D_PT_motion_mamba_results(MotionPanel):
    bl_idname = "VIEW3D_PT_motion_mamba_results"
    bl_label = "Results"
    bl_parent_id = "VIEW3D_PT_motion_mamba"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motion_mamba
        layout.template_list("MOTION_MAMBA_UL_results", "", settings, "results", settings, "results_index", rows=3)
        row = layout.row(align=True)
        row.operator("motion_mamba.bake_result", icon="ACTION")
        row.operator("motion_mamba.delete_result", icon="TRASH")


class VIEW3D_PT_motion_mamba_bone_map(MotionPanel):
    bl_idname = "VIEW3D_PT_motion_mamba_bone_map"
    bl_label = "Custom Bone Map"
    bl_parent_id = "VIEW3D_PT_motion_mamba"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motion_mamba
        obj = generation.rig.armature_from_context(context)
        row = layout.row(align=True)
        row.operator("motion_mamba.detect_bone_map", icon="VIEWZOOM")
        row.prop(settings, "custom_map_name", text="")
        row.operator("motion_mamba.save_bone_map", text="", icon="FILE_TICK")
        draw_custom_map(layout, settings, obj)


def draw_custom_map(layout, settings, obj):
    """The joint -> bone rows (searchable among the armature's bones when one is selected)."""
    if not len(settings.custom_map):
        layout.label(text="Select the rig and press Detect to fill the table", icon="INFO")
    col = layout.column(align=True)
    for entry in settings.custom_map:
        if obj is not None:
            col.prop_search(entry, "bone", obj.data, "bones", text=entry.joint)
        else:
            col.prop(entry, "bone", text=entry.joint)


# (armature name, bone count, choice) -> text: detection reads every bone, so not on every redraw
_SUMMARIES: Dict[Tuple[str, int, str], str] = {}


def target_summary(obj, choice) -> str:
    """'Hero · Mixamo 22/22': the armature that will receive the motion and how its bones match."""
    if obj is None:
        return "Select the armature to animate"
    if choice in ("CUSTOM",) or choice.startswith("USER:"):
        return f"{obj.name} · {'custom map' if choice == 'CUSTOM' else 'saved map ' + choice[5:]}"
    key = (obj.name, len(obj.data.bones), choice)
    if key not in _SUMMARIES:
        names = [b.name for b in obj.data.bones]
        if choice == "AUTO":
            preset, mapping = generation.bone_maps.best_match(names, generation.driven_bones(obj))
        else:
            preset, mapping = choice, generation.bone_maps.resolve_preset(generation.bone_maps.PRESETS[choice], names)
        label = generation.bone_maps.PRESET_LABELS.get(preset, "no preset") if preset else "no preset"
        _SUMMARIES[key] = f"{obj.name} · {label} {len(mapping)}/22"
    return _SUMMARIES[key]


def _wrap(text, width):
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


classes = (MOTION_MAMBA_UL_results, MOTION_MAMBA_UL_segments, VIEW3D_PT_motion_mamba, VIEW3D_PT_motion_mamba_timeline,
           VIEW3D_PT_motion_mamba_span, VIEW3D_PT_motion_mamba_results, VIEW3D_PT_motion_mamba_bone_map)

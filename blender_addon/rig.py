"""Armatures: the one place where motion space (Y-up) meets Blender space (Z-up), SMPL-22 rig creation, and reading
any armature's rest pose for the retargeter.

Motion space: metres, Y-up, +Z forward, character's left = +X (HumanML3D). Blender: Z-up; the character faces -Y
(towards a front-view camera) and its left stays +X, so `.L` bones sit on +X: (x, y, z) -> (x, -z, y), the mapping
glTF import uses. No other module converts axes.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

import bpy
import numpy as np
from mathutils import Vector

from . import vendor

vendor.ensure_motion_core()
from motion_core.motion import rotations as rot  # noqa: E402
from motion_core.motion import skeleton  # noqa: E402
from motion_core.motion.retarget import PRIMARY_CHILD, RigRest  # noqa: E402

# Column vectors: blender = MOTION_TO_BLENDER @ motion.
MOTION_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def motion_to_blender(points):
    """Motion-space vectors (..., 3) (Y-up) -> Blender vectors (..., 3) (Z-up)."""
    return np.asarray(points, dtype=np.float64) @ MOTION_TO_BLENDER.T


def blender_to_motion(points):
    """Blender vectors (..., 3) (Z-up) -> motion-space vectors (..., 3) (Y-up)."""
    return np.asarray(points, dtype=np.float64) @ MOTION_TO_BLENDER


def blender_matrix_to_motion(matrices):
    """Orientation matrices (..., 3, 3) whose columns are Blender vectors -> the same axes in motion space."""
    return MOTION_TO_BLENDER.T @ np.asarray(matrices, dtype=np.float64)


# SMPL-22 bone names: the HumanML3D joint names, so the SMPL preset and auto-detection recognise our own rig.
SMPL_BONE_NAMES: Tuple[str, ...] = tuple(skeleton.JOINT_NAMES)

# Leaf bones have no child joint; give them a tail along the parent bone, this fraction of the parent's length.
_LEAF_FRACTION = {"head": 0.8, "left_wrist": 0.5, "right_wrist": 0.5, "left_foot": 0.6, "right_foot": 0.6}


def object_scale(obj) -> float:
    """The armature object's uniform world scale (mean of the axis scales)."""
    return float(np.mean(np.asarray(obj.matrix_world.to_scale())))


def create_armature(context, name: str, bones: Sequence[Tuple[str, Optional[str], Any, Any]],
                    location=(0.0, 0.0, 0.0)):
    """A new armature object linked to the active collection.

    bones: (name, parent name or None, head (3,), tail (3,)) in Blender armature space (Z-up, metres), parents
    first. Bone rolls: Z axis faces forward (-Y), or up (+Z) for bones that themselves point forward (feet).
    Returns the object, left in object mode and active.
    """
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    context.collection.objects.link(obj)
    previous_active = context.view_layer.objects.active
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = data.edit_bones
        for bone_name, parent, head, tail in bones:
            eb = edit_bones.new(bone_name)
            eb.head = Vector(head)
            eb.tail = Vector(tail)
            direction = (Vector(tail) - Vector(head)).normalized()
            eb.align_roll(Vector((0.0, 0.0, 1.0)) if abs(direction.y) > 0.7 else Vector((0.0, -1.0, 0.0)))
            if parent:
                eb.parent = edit_bones[parent]
                eb.use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    if previous_active is None:
        context.view_layer.objects.active = obj
    return obj


def smpl_bone_layout(rest_joints) -> List[Tuple[str, Optional[str], np.ndarray, np.ndarray]]:
    """SMPL-22 bones from rest joints (22, 3) in motion space: head at each joint, tail at its primary child, leaves
    extended along their parent bone. Returns create_armature's `bones` list in Blender space."""
    rest = motion_to_blender(rest_joints)
    names = list(SMPL_BONE_NAMES)
    layout = []
    for j, name in enumerate(names):
        parent = skeleton.PARENTS[j]
        head = rest[j]
        if name in PRIMARY_CHILD:
            tail = rest[names.index(PRIMARY_CHILD[name])]
        else:
            along = rest[j] - rest[parent]
            tail = head + along * _LEAF_FRACTION.get(name, 0.5)
            if name in ("left_foot", "right_foot"):  # toes point forward, not down the shin
                tail = head + np.array([0.0, -1.0, 0.0]) * max(np.linalg.norm(along), 0.05)
        layout.append((name, names[parent] if parent >= 0 else None, head, tail))
    return layout


SMPL_RIG_TAG = "motion_mamba_rig"  # custom property marking the armatures this add-on made
RIG_SPACING = 1.0  # metres between new SMPL rigs placed side by side


def create_smpl_armature(context, name: str, rest_joints):
    """A new SMPL-22 armature (bones named as skeleton.JOINT_NAMES), tagged as ours. rest_joints: (22, 3) motion
    space, metres (the floor at y = 0 is the object's origin)."""
    obj = create_armature(context, name, smpl_bone_layout(rest_joints))
    obj[SMPL_RIG_TAG] = True
    return obj


def free_spot(scene, near, obj=None):
    """Where to put a new rig: `near` (the 3D cursor), or the first place along +X, RIG_SPACING apart, that no other
    rig of ours stands on, so new rigs line up beside each other instead of on top. Returns a Vector."""
    others = [Vector(o.location) for o in scene.objects
              if o is not obj and o.type == "ARMATURE" and o.get(SMPL_RIG_TAG)]
    spot = Vector(near)
    while any((Vector((p.x - spot.x, p.y - spot.y, 0.0))).length < RIG_SPACING * 0.5 for p in others):
        spot.x += RIG_SPACING
    return spot


def rig_rest(obj, constraints_off: Sequence[str] = ()) -> RigRest:
    """The armature's rest pose in motion space (see motion_core.motion.retarget.RigRest).

    Uses the object's world rotation and scale (not its location: the motion plays relative to the object), so rigs
    imported Y-up or in centimetres (object rotated / scaled) retarget correctly. A bone that a full-influence world
    Copy Transforms makes copy another bone with the same rest matrix moves with that bone (`RigRest.follows`),
    except the bones in `constraints_off` (their constraints are switched off by the bake).
    """
    bones = {b.name: b for b in obj.data.bones}
    off = set(constraints_off)
    follow: Dict[str, str] = {}
    for pb in obj.pose.bones:
        if pb.name in off:
            continue
        for c in pb.constraints:
            if (c.type == "COPY_TRANSFORMS" and not c.mute and c.influence >= 0.999 and c.target == obj
                    and c.subtarget in bones and c.subtarget != pb.name and c.owner_space == "WORLD"
                    and c.target_space == "WORLD" and _same_matrix(bones[c.subtarget], pb.bone)):
                follow[pb.name] = c.subtarget
    order = _dependency_order(obj.data.bones, follow)
    names = [b.name for b in order]
    index = {n: i for i, n in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in order])
    follows = np.array([index[follow[n]] if n in follow else -1 for n in names])
    world3 = np.asarray(obj.matrix_world.to_3x3())  # rotation * scale
    scale = object_scale(obj)
    heads = np.array([np.asarray(world3 @ np.asarray(b.head_local)) for b in order])
    orient = np.array([world3 @ np.asarray(b.matrix_local.to_3x3()) / scale for b in order])  # (B, 3, 3)
    return RigRest(
        bone_names=names,
        parents=parents,
        heads=blender_to_motion(heads),
        rotations=rot.matrix_to_quat(blender_matrix_to_motion(orient)),
        follows=follows,
    )


def _same_matrix(a, b) -> bool:
    return all(abs(x - y) < 1e-5 for ra, rb in zip(a.matrix_local, b.matrix_local) for x, y in zip(ra, rb))


def _dependency_order(bones, follow: Dict[str, str]):
    """Bones with every parent and every followed bone before the bones that depend on them (a follow that would
    close a loop is dropped from `follow`)."""
    done: Dict[str, bool] = {}
    order = []

    def visit(bone, path):
        if bone.name in done:
            return
        path.add(bone.name)
        for dep in (bone.parent.name if bone.parent else None, follow.get(bone.name)):
            if dep is None:
                continue
            if dep in path:  # a loop through a constraint: ignore that constraint
                follow.pop(bone.name, None)
                continue
            visit(bones[dep], path)
        path.discard(bone.name)
        done[bone.name] = True
        order.append(bone)

    for bone in bones:
        visit(bone, set())
    return order


def posed_heads(obj, bone_names: Sequence[str]) -> np.ndarray:
    """World-space head positions of the named pose bones at the current frame, in motion space: (K, 3)."""
    world = obj.matrix_world
    heads = [np.asarray(world @ obj.pose.bones[n].head) for n in bone_names]
    return blender_to_motion(np.array(heads))


# Proxy body thickness (box half-width, metres) by bone-name keyword; other bones scale with their length.
_THICK = (("head", 0.085), ("neck", 0.05), ("spine", 0.1), ("chest", 0.11), ("pelvis", 0.1), ("hip", 0.1))


def _proxy_radius(bone_name: str, length: float) -> float:
    lower = bone_name.lower()
    if "hip" in lower and ("left" in lower or "right" in lower or "upleg" in lower or "thigh" in lower):
        return 0.065  # thighs ("left_hip" is the thigh bone of the SMPL rig)
    for keyword, radius in _THICK:
        if keyword in lower:
            return radius
    return float(np.clip(length * 0.14, 0.025, 0.06))


def add_proxy_mesh(context, arm_obj, name: Optional[str] = None):
    """A simple rigid-skinned body (one tapered box per bone, plus boxes bridging offset children such as the hips
    and shoulders) so renders show the rig; armatures themselves don't render. An Armature modifier deforms it.
    Returns the mesh object (parented to the armature)."""
    verts: List[Tuple[float, float, float]] = []
    faces: List[Tuple[int, int, int, int]] = []
    groups: Dict[str, List[int]] = {}
    box_faces = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]

    def box(start_point, end_point, radius, frame, group):
        first = len(verts)
        x_axis, z_axis = frame
        for center, size in ((start_point, radius), (end_point, radius * 0.75)):
            for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = center + x_axis * (sx * size) + z_axis * (sz * size)
                verts.append((p.x, p.y, p.z))
        faces.extend((first + a, first + b, first + c, first + d) for a, b, c, d in box_faces)
        groups.setdefault(group, []).extend(range(first, first + 8))

    for bone in arm_obj.data.bones:
        head, tail = Vector(bone.head_local), Vector(bone.tail_local)
        length = (tail - head).length
        if length < 1e-4 or bone.name.lower().endswith(("_end", "end")):
            continue
        scale = 1.0 / max(object_scale(arm_obj), 1e-9)  # radii in metres, mesh in armature units
        axes = bone.matrix_local.to_3x3()
        box(head, tail, _proxy_radius(bone.name, length * object_scale(arm_obj)) * scale * 0.6,
            (axes.col[0].normalized(), axes.col[2].normalized()), bone.name)
        parent = bone.parent
        if parent is not None and (Vector(parent.tail_local) - head).length > 0.02 * scale:
            bridge = head - Vector(parent.head_local)
            if bridge.length > 1e-4:  # hips / collars sit beside their parent's bone: bridge the gap
                direction = bridge.normalized()
                side = direction.orthogonal().normalized()
                box(Vector(parent.head_local), head, 0.035 * scale, (side, direction.cross(side)), parent.name)
    mesh = bpy.data.meshes.new(name or f"{arm_obj.name}_body")
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    body = bpy.data.objects.new(mesh.name, mesh)
    context.collection.objects.link(body)
    body.parent = arm_obj
    for bone_name, indices in groups.items():
        group = body.vertex_groups.new(name=bone_name)
        group.add(indices, 1.0, "REPLACE")
    modifier = cast(bpy.types.ArmatureModifier, body.modifiers.new("Armature", "ARMATURE"))
    modifier.object = arm_obj
    return body


def armature_from_context(context):
    """The selected armature (active object, or the armature of an active mesh), or None."""
    obj = context.active_object
    if obj is None:
        return None
    if obj.type == "ARMATURE":
        return obj
    if obj.type == "MESH":
        for modifier in obj.modifiers:
            if modifier.type == "ARMATURE" and modifier.object is not None:
                return modifier.object
    return None

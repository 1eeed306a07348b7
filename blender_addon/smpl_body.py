"""Optional SMPL body mesh from a user-supplied model file, bound to the SMPL-22 armature.

SMPL / SMPL-X model files are licensed by MPI and never bundled. The user points Preferences → Model file to a
`.npz` (keys v_template (V, 3), f (F, 3), weights (V, J), J_regressor (J, V), kintree_table (2, J); the layout the
smplx package reads). Read with numpy, allow_pickle=False: `.pkl` models are pickles and are never opened (convert
them to .npz first). The template is in SMPL's canonical frame, which is the motion frame (metres, Y-up, facing +Z).
Joints beyond the first 22 (hands, SMPL-X face and fingers) are merged into their nearest ancestor among the 22.
"""

import os
from dataclasses import dataclass
from typing import List

import bpy
import numpy as np

from . import rig, vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402

REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "kintree_table")


@dataclass
class SmplModel:
    vertices: np.ndarray  # (V, 3) rest template, motion frame
    faces: np.ndarray  # (F, 3) int
    weights: np.ndarray  # (V, 22) skinning weights, merged onto the 22 body joints
    joints: np.ndarray  # (22, 3) rest joints (J_regressor @ v_template)


def load_smpl_model(path: str) -> SmplModel:
    """Read an SMPL-family .npz; MotionError with what to do for anything a user can get wrong."""
    if path.lower().endswith(".pkl"):
        raise MotionError("SMPL .pkl files are pickles, which the add-on never opens: convert the model to .npz "
                          "(v_template, f, weights, J_regressor, kintree_table) and choose that file")
    if not os.path.isfile(path):
        raise MotionError(f"SMPL model file '{path}' not found: fix it in Preferences → Add-ons → Motion Mamba")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in REQUIRED_KEYS if k not in data]
            if missing:
                raise MotionError(f"'{os.path.basename(path)}' lacks {', '.join(missing)}: it is not an SMPL model "
                                  "file; choose an SMPL/SMPL-X .npz")
            vertices = np.asarray(data["v_template"], dtype=np.float64)
            faces = np.asarray(data["f"], dtype=np.int64)
            weights = np.asarray(data["weights"], dtype=np.float64)
            regressor = np.asarray(data["J_regressor"], dtype=np.float64)
            kintree = np.asarray(data["kintree_table"])
            parents = kintree[0].astype(np.int64) if kintree.ndim == 2 and len(kintree) else np.zeros(0, np.int64)
    except (OSError, ValueError) as error:
        raise MotionError(f"Could not read SMPL model '{os.path.basename(path)}' ({error}): choose an SMPL/SMPL-X "
                          ".npz saved without pickled objects") from None
    name = os.path.basename(path)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or weights.ndim != 2 or weights.shape[0] != len(vertices):
        raise MotionError(f"'{name}' has v_template {vertices.shape} and weights {weights.shape}, expected (V, 3) "
                          "and (V, J): choose an SMPL/SMPL-X .npz")
    joint_count = weights.shape[1]
    if joint_count < 22 or regressor.shape != (joint_count, len(vertices)):
        raise MotionError(f"'{name}' has {joint_count} joints / regressor {regressor.shape}: "
                          "expected an SMPL-family body with at least 22 joints")
    if parents.ndim != 1 or len(parents) != joint_count:
        raise MotionError(f"'{name}' has a kintree_table of shape {kintree.shape}, expected (2, {joint_count}): "
                          "choose an SMPL/SMPL-X .npz")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size and not (0 <= faces.min() and faces.max() < len(vertices)):
        raise MotionError(f"'{name}' has faces that are not triangles of its {len(vertices)} vertices: "
                          "choose an SMPL/SMPL-X .npz")
    if not all(np.all(np.isfinite(a)) for a in (vertices, weights, regressor)):
        raise MotionError(f"'{name}' has values that are not finite numbers (NaN/inf): choose an intact model file")
    # Extra joints (hands, face) merge into their nearest ancestor among the first 22. SMPL lists parents before
    # children, which also rules out cycles: a parent index must be smaller than its joint's.
    bad = [j for j in range(22, joint_count) if not 0 <= parents[j] < j]
    if bad:
        raise MotionError(f"'{name}': kintree_table gives joint {bad[0]} the parent {int(parents[bad[0]])}, expected "
                          "an earlier joint (a cycle or a damaged file): choose an SMPL/SMPL-X .npz")
    merged = weights[:, :22].copy()
    for j in range(22, joint_count):
        ancestor = j
        while ancestor >= 22:
            ancestor = int(parents[ancestor])
        merged[:, ancestor] += weights[:, j]
    joints = (regressor @ vertices)[:22]
    return SmplModel(vertices=vertices, faces=faces, weights=merged, joints=joints)


def add_smpl_body(context, arm_obj, model: SmplModel, offset=None, name: str = ""):
    """A mesh of the model's template, skinned to `arm_obj` (an SMPL-22 armature) by vertex groups named after the
    bones. offset: (3,) motion-frame shift that puts the template's joints onto the armature's rest joints."""
    vertices = model.vertices + (np.zeros(3) if offset is None else np.asarray(offset))
    verts_blender = rig.motion_to_blender(vertices)
    mesh = bpy.data.meshes.new(name or f"{arm_obj.name}_smpl")
    faces: List[List[int]] = model.faces.tolist()
    mesh.from_pydata(verts_blender.tolist(), [], faces)
    mesh.update()
    body = bpy.data.objects.new(mesh.name, mesh)
    context.collection.objects.link(body)
    body.parent = arm_obj
    for j, bone_name in enumerate(rig.SMPL_BONE_NAMES):
        group = body.vertex_groups.new(name=bone_name)
        for weight in np.unique(np.round(model.weights[:, j], 4)):
            if weight <= 0:
                continue
            indices = np.nonzero(np.round(model.weights[:, j], 4) == weight)[0].tolist()
            group.add(indices, float(weight), "REPLACE")
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm_obj  # type: ignore[attr-defined]
    return body

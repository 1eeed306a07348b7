"""Machine settings (Preferences → Add-ons → Motion Mamba): which Python runs the model, where weights live.

Nothing is written into the extension folder (it is replaced on upgrade): the private dependency folder, result
cache and saved bone maps live under `bpy.utils.extension_path_user`.
"""

import importlib.util
import os
import sys
from typing import Optional

import bpy
from bpy.props import EnumProperty, StringProperty

from . import vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402

from .backend import BackendConfig, describe_backends  # noqa: E402

ADDON_ID = __package__ or "blender_addon"


def user_folder(name: str) -> str:
    """A writable per-user folder for this add-on (created on demand)."""
    if ADDON_ID.startswith("bl_ext.") and hasattr(bpy.utils, "extension_path_user"):
        return bpy.utils.extension_path_user(ADDON_ID, path=name, create=True)
    base = os.environ.get("MOTION_MAMBA_USER_DIR") or bpy.utils.user_resource("DATAFILES", path="motion_mamba")
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    return path


def deps_folder() -> str:
    return user_folder("backend")


def bone_map_folder() -> str:
    return user_folder("bone_maps")


def results_folder() -> str:
    return user_folder("results")


def deps_installed(folder: Optional[str] = None) -> bool:
    return os.path.isdir(os.path.join(folder or deps_folder(), "torch"))


class MOTION_MAMBA_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend: EnumProperty(
        name="Backend",
        description="Where the model runs",
        items=[
            ("AUTO", "Automatic", "External Python if set, else the private backend if installed, else in Blender"),
            ("PRIVATE", "Blender's Python + private backend",
             "A worker process using Blender's Python and the packages installed below"),
            ("EXTERNAL", "External Python", "A worker process using a Python you installed torch into"),
            ("IN_PROCESS", "Inside Blender", "Run in Blender's own process (needs torch importable by Blender)"),
        ],
        default="AUTO",
    )
    python_path: StringProperty(
        name="External Python", subtype="FILE_PATH",
        description="A python executable with torch installed (e.g. a venv's bin/python)")
    weights_dir: StringProperty(
        name="Model folder", subtype="DIR_PATH",
        description="Folder with config.json + *.safetensors; empty uses the default model shipped with the add-on")
    smpl_model_path: StringProperty(
        name="SMPL model file", subtype="FILE_PATH",
        description="Optional SMPL/SMPL-X body model (.npz, licensed by MPI, never bundled): new SMPL-22 rigs get "
                    "this body instead of the stick figure")
    device: EnumProperty(
        name="Device", items=[("auto", "Automatic", "GPU when available"), ("cpu", "CPU", ""), ("cuda", "CUDA", "")],
        default="auto")
    torch_variant: EnumProperty(
        name="Install", items=[("cpu", "CPU torch (~200 MB)", "Works everywhere"),
                               ("cu128", "CUDA 12.8 torch (~2.7 GB)", "NVIDIA GPUs on Windows / Linux")],
        default="cpu")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend")
        if self.backend in ("AUTO", "EXTERNAL"):
            layout.prop(self, "python_path")
        box = layout.box()
        box.label(text="Private backend (torch for Blender's Python)")
        status = "installed" if deps_installed() else "not installed"
        box.label(text=f"Folder: {deps_folder()} ({status})")
        row = box.row()
        row.prop(self, "torch_variant", text="")
        row.operator("motion_mamba.install_backend", icon="IMPORT")
        install = context.window_manager.motion_mamba_install
        if install.running or install.message:
            box.label(text=install.message, icon="ERROR" if install.failed else "INFO")
        layout.prop(self, "weights_dir")
        layout.prop(self, "smpl_model_path")
        for line in describe_backends():
            layout.label(text=f"Running: {line}", icon="CHECKMARK")
        layout.prop(self, "device")


def get_preferences(context) -> Optional[MOTION_MAMBA_AP_preferences]:
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def backend_config(context) -> BackendConfig:
    """Turn the preferences into a BackendConfig, or raise MotionError saying how to set one up."""
    prefs = get_preferences(context)
    mode = prefs.backend if prefs else "AUTO"
    python = bpy.path.abspath(prefs.python_path) if prefs and prefs.python_path else ""
    weights = bpy.path.abspath(prefs.weights_dir) if prefs and prefs.weights_dir else None
    device = prefs.device if prefs else "auto"
    if weights is not None and not os.path.isdir(weights):
        raise MotionError(f"Model folder '{weights}' does not exist: fix it in Preferences → Add-ons → Motion Mamba")
    if mode == "AUTO":
        if python:
            mode = "EXTERNAL"
        elif deps_installed():
            mode = "PRIVATE"
        elif importlib.util.find_spec("torch") is not None:
            mode = "IN_PROCESS"
        else:
            raise MotionError("No backend for the model yet: in Preferences → Add-ons → Motion Mamba click "
                              "'Install backend', or set an external Python that has torch")
    if mode == "EXTERNAL":
        if not python or not os.path.isfile(python):
            raise MotionError("Set 'External Python' in Preferences → Add-ons → Motion Mamba to a python "
                              "executable that has torch")
        return BackendConfig(mode="worker", python=python, weights=weights, device=device)
    if mode == "PRIVATE":
        if not deps_installed():
            raise MotionError("The private backend is not installed: click 'Install backend' in "
                              "Preferences → Add-ons → Motion Mamba")
        return BackendConfig(mode="worker", python=sys.executable, extra_paths=(deps_folder(),), weights=weights,
                             device=device)
    return BackendConfig(mode="in_process", weights=weights, device=device)


def smpl_model_path(context) -> str:
    """The SMPL body file chosen in the preferences, or "" for none."""
    prefs = get_preferences(context)
    return bpy.path.abspath(prefs.smpl_model_path) if prefs and prefs.smpl_model_path else ""


classes = (MOTION_MAMBA_AP_preferences,)

"""Motion Mamba for Blender: type a prompt, get a human animation baked onto your rig.

Registration only; see ui.py (panel), operators.py (actions), generation.py (one run), backend.py (where the model
runs), rig.py / bake.py (armatures and keys), prefs.py (machine settings).
"""

bl_info = {  # legacy add-on metadata, so the same zip also installs on Blender < 4.2
    "name": "Motion Mamba",
    "author": "Motion Mamba for Blender contributors",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D View → Sidebar → Motion",
    "description": "Text-to-motion (Motion Mamba) baked onto any humanoid rig",
    "category": "Animation",
}

import bpy  # noqa: E402

from . import backend, operators, prefs, props, ui  # noqa: E402

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(
    props.classes + prefs.classes + operators.classes + ui.classes
)


def register():
    _register_classes()
    props.register_properties()
    operators.register_properties()


def unregister():
    backend.shutdown_all()
    operators.unregister_properties()
    props.unregister_properties()
    _unregister_classes()

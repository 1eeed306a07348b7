"""Motion Mamba for Blender: type a prompt, get a human animation baked onto your rig.

Registration only; see ui.py (panel), operators.py (actions), generation.py (one run), backend.py (where the model
runs), rig.py / bake.py (armatures and keys), readback.py (a rig's motion back into motion space, for span edits and
continuations), prefs.py (machine settings).
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

from typing import Any, Callable, Tuple, cast  # noqa: E402

import bpy  # noqa: E402

from . import backend, operators, prefs, props, ui  # noqa: E402

# (the 4.2 stubs type register_classes_factory as returning None; it returns the two functions)
_register_classes, _unregister_classes = cast(Tuple[Callable[[], None], Callable[[], None]], cast(
    Any, bpy.utils.register_classes_factory)(props.classes + prefs.classes + operators.classes + ui.classes))


def register():
    _register_classes()
    props.register_properties()


def unregister():
    backend.shutdown_all()
    props.unregister_properties()
    _unregister_classes()

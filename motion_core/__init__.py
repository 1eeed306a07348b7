"""motion_core: text-to-motion with Motion Mamba (Zhang et al., ECCV 2024), and the motion tools around it.

Layout (the import graph is the architecture):
  motion_core.motion    numpy-only: rotations, skeleton, HumanML3D features, mocap I/O, retarget math, preview.
                        Never imports torch, so Blender's Python can import it.
  motion_core.ssm       torch: the selective-scan operator (ref / chunked / triton / cuda) and Mamba blocks.
  motion_core.models    torch: motion VAE, Motion Mamba and MLD denoisers, text encoder, evaluator.
  motion_core.data      corpus building (numpy) and datasets for training.
  motion_core.commands  one module per CLI command (`motion-mamba <command>`).

Conventions for every motion array: metres, Y-up, +Z forward, 20 fps, HumanML3D 22-joint SMPL order,
quaternions (w, x, y, z), column vectors.
"""

import importlib

__version__ = "0.1.0"

# MotionGenerator needs torch; resolve it lazily so `import motion_core` stays numpy-only.
_LAZY = {
    "MotionGenerator": ("motion_core.generator", "MotionGenerator"),
    "Motion": ("motion_core.motion.clip", "Motion"),
    "MotionError": ("motion_core.errors", "MotionError"),
}


def __getattr__(name):
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'motion_core' has no attribute {name!r}")

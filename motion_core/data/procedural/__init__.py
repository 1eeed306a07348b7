"""Procedural motion library: parametric human motion on the HumanML3D 22-joint skeleton, with captions.

numpy only (never imports torch). Conventions: metres, Y-up, +Z forward, 20 fps, HumanML3D joint order.

    from motion_core.data.procedural import ACTION_KINDS, generate_clip, sample_random_clip
    joints, captions = generate_clip("walk", np.random.default_rng(0), speed="slow")

Modules: body (pose tracks -> joints: FK + two-bone IK), gait (footstep planning), animate (keyframes, noise),
actions/ (the kinds, one module per category), captions (paraphrases, left/right swap), library (clips, chains,
layers), quality (checks).
"""

from .actions import ACTION_KINDS, ActionSpec
from .captions import swap_left_right
from .library import (Clip, caption_paraphrases, generate_chain, generate_clip, generate_layered, make_chain,
                      make_clip, make_layered, sample_random_clip)

__all__ = ["ACTION_KINDS", "ActionSpec", "Clip", "caption_paraphrases", "generate_chain", "generate_clip",
           "generate_layered", "make_chain", "make_clip", "make_layered", "sample_random_clip", "swap_left_right"]

"""`Motion`: what the generator returns and what files hold — joints plus how they were made.

joints: (variations, T, 22, 3) float32, metres, Y-up, +Z forward, HumanML3D 22-joint SMPL order, at `fps`.
features: (variations, T-1, 263) float32 HumanML3D features (de-normalised), or None.
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Motion:
    joints: np.ndarray  # (V, T, 22, 3) float32, metres, Y-up, +Z forward
    fps: float = 20.0
    prompt: str = ""
    seed: Optional[int] = None
    features: Optional[np.ndarray] = None  # (V, T-1, 263), de-normalised
    info: dict = field(default_factory=dict)  # free-form: steps, guidance, device, elapsed_s, model name
    segments: list = field(default_factory=list)  # timelines: (prompt, first frame, end frame) per segment

    @property
    def variations(self) -> int:
        return int(self.joints.shape[0])

    @property
    def frames(self) -> int:
        return int(self.joints.shape[1])

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps)

    def save(self, path, variation: int = 0):
        """Write one variation to `.bvh` or `.npz` (format by extension; see motion_core.motion.export)."""
        from motion_core.motion.export import save_motion  # not at the top: export -> protocol -> clip is a cycle

        return save_motion(path, self.joints[variation], self.fps, prompt=self.prompt, seed=self.seed,
                           segments=self.segments)

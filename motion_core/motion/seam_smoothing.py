"""A short low-pass around each seam of a timeline, after decoding. numpy only.

Conventions: joints (T, J, 3) metres, 20 fps; a seam is the first frame of a segment (not 0).

Why: the parallel windows leave no step at a seam (segments generated alone and pasted end to end score a seam ratio
of ~70, the blended timeline ~1.3), but the longer-trained denoisers start each action at once: a jump's crouch and
arm swing, a wave's arm raise or a foot lifting off after the foot cleanup's pin fall within the 4 frames either side
of the seam that issue 11's measure (`timeline.seam_smoothness`) compares with the 95th percentile inside segments.
That jerk is the action's own (a jump segment's 95th percentile is 2-3.5x the timeline's), so no margin or latent
taper moves it away reliably (seeds spread more than margins). A light Gaussian (sigma SEAM_SIGMA_FRAMES) on every
joint's global position, which is the root trajectory and the root-relative joints alike since the filter is linear,
takes the frame-to-frame edge off there: a component at f cycles a second is scaled by exp(-2 pi^2 s^2 (f/20)^2),
0.50 at 3 Hz for s = 1.25 frames and less above, while a jump's flight or a squat (about 1 Hz) keeps 93% of its
amplitude.

Where: fully on the frames a jerk value near a seam reads (SEAM_RADIUS_FRAMES + the 3 frames of its stencil), fading
out over FADE_FRAMES along a smoothstep, so the handover to the untouched frames adds no jerk of its own. Every frame
farther than SEAM_RADIUS_FRAMES + 3 + FADE_FRAMES from a seam comes back bit for bit. It runs after the foot cleanup:
a planted foot is constant, which the filter keeps; the cleanup's own pins and IK, run after it, put jerk back.
Bone lengths are not restored: the decoder's skeleton is not rigid to begin with (its forearms vary by over 50% in
fast swings), and the filter changes a bone in the window by 0.2% at the median, 5% at the 99th percentile;
a joint moves 7 cm at most (a wrist mid-swing), and the per-segment action checks come out the same.
"""

import numpy as np

from motion_core.motion.features import gaussian_smooth
from motion_core.motion.timeline import SEAM_RADIUS_FRAMES

# Gaussian sigma (frames) of the low-pass at a seam. Seeds 0-7 of the bench timeline, DDIM 50 / DPM-Solver++ 10,
# seams passing: 0.5 -> 6 / 4 of 8, 0.75 -> 8 / 6, 1.0 -> 8 / 5 (the 4-token margin), 1.25 -> 8 / 8 (medians 0.46 /
# 0.73) with the segment actions unchanged (DDIM 47 of 48 over seeds 0-7, DPM 17 of 18); 1.5 loses a squat check.
SEAM_SIGMA_FRAMES = 1.25
FULL_FRAMES = SEAM_RADIUS_FRAMES + 3  # frames either side of a seam filtered fully: those a near-seam jerk reads
FADE_FRAMES = 3  # then the filter fades out over this many frames


def seam_weights(frames, seams, full=FULL_FRAMES, fade=FADE_FRAMES):
    """(frames,) float64 in [0, 1]: 1 within `full` frames of a seam, a smoothstep down to 0 over the next `fade`."""
    seams = np.asarray(seams, dtype=np.float64)
    if frames == 0 or seams.size == 0:
        return np.zeros(frames)
    distance = np.abs(np.arange(frames)[:, None] - seams[None]).min(axis=1)
    u = np.clip((distance - full) / fade, 0.0, 1.0)
    return 1.0 - u * u * (3.0 - 2.0 * u)


def smooth_seams(joints, seams, sigma=SEAM_SIGMA_FRAMES):
    """Joints (T, J, 3) with each seam's neighbourhood low-passed (see the module docstring); a new float64 array.
    Frames outside every seam's window are returned unchanged."""
    joints = np.asarray(joints, dtype=np.float64)
    weight = seam_weights(len(joints), seams)
    out = joints.copy()
    touched = weight > 0
    if touched.any():
        smoothed = gaussian_smooth(joints, sigma)
        out[touched] += weight[touched, None, None] * (smoothed[touched] - joints[touched])
    return out

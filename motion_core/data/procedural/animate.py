"""Animation helpers shared by the action kinds: keyframes with easing, smooth noise, idle life, hand layering,
body-frame root shifts.

Conventions: frames at 20 fps, metres, radians; hand targets in the chest frame relative to the shoulder.
"""

import numpy as np

from .body import FPS, SIDE_SIGN, PoseTracks, rotate_yaw, standing_tracks


def ease(s):
    """Smoothstep 0 -> 1 (zero velocity at both ends)."""
    s = np.minimum(np.maximum(s, 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)


def keyframes(n, times, values):
    """Eased interpolation between keys. times: (K,) frames (increasing), values: (K, ...) -> (n, ...).

    Holds the first / last value outside the keyed range; each segment eases in and out.
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    t = np.arange(n, dtype=float)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    nxt = np.minimum(idx + 1, len(times) - 1)
    span = np.maximum(times[nxt] - times[idx], 1e-6)
    u = ease((t - times[idx]) / span)
    u = u.reshape((n,) + (1,) * (values.ndim - 1))
    return values[idx] + (values[nxt] - values[idx]) * u


def envelope(n, start, end, fade):
    """0 -> 1 -> 0 weight: eased rise over `fade` frames from `start`, fall over `fade` frames ending at `end`."""
    t = np.arange(n, dtype=float)
    return ease((t - start) / max(fade, 1e-6)) * ease((end - t) / max(fade, 1e-6))


def smooth_noise(rng, n, dims, scale, max_hz=0.6):
    """Low-frequency noise (n, dims): a sum of three random sinusoids per channel, amplitude about `scale`."""
    t = np.arange(n)[:, None, None] / FPS
    freq = rng.uniform(0.1, max_hz, size=(1, dims, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, dims, 3))
    return np.sin(2 * np.pi * freq * t + phase).sum(-1) * (scale / 1.7)


def idle_tracks(n, rng, root_xz=(0.0, 0.0), heading=0.0, life=1.0, stance_width=0.0) -> PoseTracks:
    """Standing with a little life: weight shift, breathing, trunk sway, head and arm drift (feet planted)."""
    tracks = standing_tracks(n, root_xz, heading, stance_width)
    add_life(tracks, rng, life)
    return tracks


def add_life(tracks: PoseTracks, rng, life=1.0):
    """Layer small natural motion onto any clip: trunk / head / arm drift and breathing. Feet are untouched."""
    n = tracks.n_frames
    if life <= 0:
        return tracks
    # One batch of noise for all channels: lateral sway, bob, trunk (3), pelvis side, head (3), hands (6).
    scale = np.array([0.012, 0.004, 0.025, 0.025, 0.025, 0.015, 0.06, 0.06, 0.06] + [0.015] * 6) * life
    noise = smooth_noise(rng, n, len(scale), 1.0, 0.5) * scale
    lateral = np.stack([np.cos(tracks.heading), np.zeros(n), -np.sin(tracks.heading)], -1)
    tracks.root += lateral * noise[:, :1]
    tracks.root[:, 1] += noise[:, 1]
    tracks.spine += noise[:, 2:5]
    tracks.pelvis[:, 1] += noise[:, 5]
    tracks.neck += noise[:, 6:9]
    breathing = 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * np.arange(n) / FPS + noise[0, 0] * 500.0)
    tracks.collar += 0.02 * life * breathing[:, None]
    tracks.hand += noise[:, 9:15].reshape(n, 2, 3).transpose(1, 0, 2)
    # Everyone carries their arms a little differently: a per-clip offset of the resting hands.
    carry = rng.uniform([-0.02, 0.0, -0.02], [0.03, 0.06, 0.07], size=(2, 3))
    carry[:, 0] *= SIDE_SIGN
    tracks.hand += carry[:, None, :]
    return tracks


def blend_hand(tracks: PoseTracks, side, target, pole, weight):
    """Blend a gesture's wrist target / elbow pole (n, 3) onto one arm with weight (n,) in [0, 1]."""
    w = weight[:, None]
    # Blend direction and reach separately so the hand travels on an arc around the shoulder instead of cutting
    # through it (a straight-line blend folds the elbow and flips it).
    a, b = tracks.hand[side], target
    reach_a = np.linalg.norm(a, axis=-1, keepdims=True)
    reach_b = np.linalg.norm(b, axis=-1, keepdims=True)
    unit_a, unit_b = a / np.maximum(reach_a, 1e-6), b / np.maximum(reach_b, 1e-6)
    direction = unit_a * (1 - w) + unit_b * w
    # Nearly opposite directions (arm down -> arm up) would pass through the shoulder: swing out and forward.
    opposite = np.clip((0.2 - (unit_a * unit_b).sum(-1, keepdims=True)) / 1.2, 0.0, 1.0)
    via = np.array([0.55 * SIDE_SIGN[side], 0.0, 0.83])
    direction += (4.0 * w * (1 - w)) * opposite * via
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
    tracks.hand[side] = direction * (reach_a * (1 - w) + reach_b * w)
    tracks.elbow_pole[side] = tracks.elbow_pole[side] * (1 - w) + pole * w


def body_to_world(tracks: PoseTracks, local):
    """Body-frame vectors (n, 3) (x left, z forward of the heading) to world vectors."""
    return rotate_yaw(local, tracks.heading)


def shift_root(tracks: PoseTracks, local_offset):
    """Move the pelvis by a body-frame offset (n, 3); feet stay put."""
    tracks.root += body_to_world(tracks, local_offset)


def mirror_x(vec, side):
    """Put a left-side chest-frame vector (..., 3) onto `side` (0 left, 1 right) by flipping x."""
    out = np.array(vec, dtype=float)
    out[..., 0] *= SIDE_SIGN[side]
    return out


def seconds(s):
    return int(round(s * FPS))

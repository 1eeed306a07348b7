"""Locomotion: a root path plus footstep planning, turned into pose tracks.

The root moves continuously along a path (speed, travel direction and turn rate per frame). Footsteps are planned on
that path: each touchdown places the foot flat at the spot under its hip at the middle of its stance, so planted
feet never move; swing feet travel between footprints on a minimum-jerk curve with a lift. The gait cycle drives
pelvis bob / sway / rotation, counter-rotation of the chest, and arm swing opposite to the legs.

Conventions: metres, Y-up, +Z forward, 20 fps, angles in radians, positive yaw turns left.
"""

from dataclasses import dataclass, replace

import numpy as np

from .body import (ANKLE_HEIGHT, ELBOW_POLE_REST, FOOT, FOOT_REST_PITCH, FPS, SIDE_SIGN, STAND_PELVIS_HEIGHT,
                   TOE_HEIGHT, TOE_OUT, PoseTracks, foot_direction, neutral_foot_position, rotate_yaw)


@dataclass
class GaitStyle:
    """How a gait looks. Speeds in m/s, cadence in steps/s, heights in metres, angles in radians."""

    speed: float = 1.3
    cadence: float = 1.9
    duty: float = 0.62            # fraction of a stride each foot is planted (< 0.5 means a flight phase)
    clearance: float = 0.07       # swing-foot lift
    heel_off: float = 0.55        # foot pitch at toe-off
    toe_up: float = 0.25          # toe raised at touchdown
    bob: float = 0.012            # pelvis bob; > 0 highest at mid-stance (walk), < 0 lowest (run)
    crouch: float = 0.0           # pelvis lowered by this much
    lean: float = 0.05            # forward trunk lean
    arm_swing: float = 0.3        # shoulder swing amplitude
    arm_bend: float = 0.0         # 0 = hanging arms, 1 = elbows at ~90 degrees (running)
    pelvis_yaw: float = 0.07
    pelvis_roll: float = 0.04
    sway: float = 0.02            # lateral pelvis shift toward the stance foot
    stance_width: float = 0.0     # added to the neutral ankle spacing
    knee_lift: float = 0.0        # extra swing height at mid-swing (marching)
    head_bob: float = 0.03


WALK = GaitStyle()
STYLES = {
    "walk": WALK,
    "jog": replace(WALK, speed=2.4, cadence=2.6, duty=0.38, clearance=0.12, heel_off=0.45, toe_up=0.1, bob=-0.03,
                   lean=0.12, arm_swing=0.45, arm_bend=0.8, pelvis_yaw=0.06, sway=0.01),
    "run": replace(WALK, speed=3.6, cadence=2.8, duty=0.31, clearance=0.16, heel_off=0.45, toe_up=0.05, bob=-0.04,
                   lean=0.16, arm_swing=0.6, arm_bend=0.9, pelvis_yaw=0.08, sway=0.01),
    "sprint": replace(WALK, speed=5.6, cadence=3.4, duty=0.26, clearance=0.22, heel_off=0.5, toe_up=0.0, bob=-0.04,
                      lean=0.28, arm_swing=0.85, arm_bend=1.0, pelvis_yaw=0.09, sway=0.0),
    "sneak": replace(WALK, speed=0.5, cadence=1.3, duty=0.72, clearance=0.09, heel_off=0.25, toe_up=0.05, bob=0.0,
                     crouch=0.16, lean=0.35, arm_swing=0.08, arm_bend=0.6, pelvis_yaw=0.03, sway=0.03),
    "march": replace(WALK, speed=1.1, cadence=1.9, duty=0.6, clearance=0.09, knee_lift=0.22, heel_off=0.3,
                     toe_up=0.0, lean=0.0, arm_swing=0.75, bob=0.01),
    "limp": replace(WALK, speed=0.8, cadence=1.6, duty=0.66, clearance=0.05, heel_off=0.3, pelvis_roll=0.07,
                    sway=0.04, arm_swing=0.2),
    "backward": replace(WALK, speed=0.7, cadence=1.7, duty=0.65, clearance=0.09, heel_off=0.2, toe_up=0.0,
                        lean=0.08, arm_swing=0.15),
    "side": replace(WALK, speed=0.45, cadence=1.8, duty=0.68, clearance=0.06, heel_off=0.15, toe_up=0.0,
                    stance_width=0.22, arm_swing=0.05, pelvis_yaw=0.0, sway=0.0, bob=0.008),
    "shuffle": replace(WALK, speed=0.0, cadence=2.0, duty=0.6, clearance=0.05, heel_off=0.2, toe_up=0.0,
                       arm_swing=0.05, bob=0.004),
}


@dataclass
class Contact:
    """A planted interval of one foot: frames [start, end] (float times in frames), flat-foot ankle spot and yaw."""

    start: float
    end: float
    ankle: np.ndarray
    yaw: float


def minimum_jerk(s):
    """0 -> 1 with zero velocity and acceleration at both ends."""
    s = np.minimum(np.maximum(s, 0.0), 1.0)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def smoothstep(s):
    s = np.minimum(np.maximum(s, 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)


def integrate_path(speed, travel, turn_rate, start_xz=(0.0, 0.0), start_heading=0.0):
    """Root xz and heading from per-frame speed (m/s), travel angle relative to the heading and turn rate (rad/s).

    All inputs (T,); returns (root_xz (T, 2), heading (T,)). Frame 0 sits at start_xz, facing start_heading.
    """
    heading = start_heading + np.concatenate([[0.0], np.cumsum(turn_rate[:-1]) / FPS])
    direction = heading + travel
    step = speed[:-1, None] * np.stack([np.sin(direction[:-1]), np.cos(direction[:-1])], -1) / FPS
    root_xz = np.asarray(start_xz, float) + np.concatenate([np.zeros((1, 2)), np.cumsum(step, axis=0)])
    return root_xz, heading


def plan_steps(root, heading, activity, style: GaitStyle, first_side=0, limp_side=None, cadence_scale=None):
    """Footstep plan along a root path.

    root: (T, 3), heading: (T,), activity: (T,) in [0, 1] (0 = standing still, 1 = full gait).
    Returns (contacts per foot [list, list], mid-stance events [(time, side)]).
    Feet start planted at their neutral spots; a foot only steps when its next footprint differs from where it is.
    """
    n = len(heading)
    spots = [neutral_foot_position(root, heading, s, style.stance_width) for s in range(2)]  # (T, 3) each
    contacts = [[Contact(0.0, 0.0, spots[s][0].copy(), float(heading[0] + SIDE_SIGN[s] * TOE_OUT))] for s in range(2)]
    events = []
    active_frames = np.nonzero(activity > 0.02)[0]
    if len(active_frames) == 0:
        for s in range(2):
            contacts[s][0].end = n + 40.0
        return contacts, events
    base_period = FPS / (style.cadence * (0.8 + 0.2 * activity))
    if cadence_scale is not None:
        base_period = base_period / cadence_scale
    activity_list = activity.tolist()
    period_list = base_period.tolist()
    heading_list = heading.tolist()
    t = float(active_frames[0])
    side = first_side
    last_active = float(active_frames[-1])
    while t < n + 20:
        i = min(int(t), n - 1)
        a = activity_list[i]
        period = period_list[i]
        if limp_side is not None:
            # The painful leg gets a short stance: the step landing on it is quick, the next one slow.
            period *= 0.8 if side == limp_side else 1.2
        swing = max(2.0 * (1.0 - style.duty) * period, 4.0)
        touchdown = t + swing
        if touchdown > n - 2:
            # Never end a clip in mid-air: hurry a late step down, or skip it when there is no time left.
            touchdown = n - 2.0
            if touchdown - t < 4.0:
                t += period
                side = 1 - side
                continue
        mid = touchdown + 0.9 * style.duty * period  # land a little ahead of the hip, push off further behind
        m = min(mid, n - 1.0)
        j = min(int(m), n - 2) if n > 1 else 0
        f = m - j
        spot = spots[side][j] * (1.0 - f) + spots[side][min(j + 1, n - 1)] * f
        yaw = heading_list[j] * (1.0 - f) + heading_list[min(j + 1, n - 1)] * f + SIDE_SIGN[side] * TOE_OUT
        current = contacts[side][-1]
        moved = (abs(spot[0] - current.ankle[0]) + abs(spot[2] - current.ankle[2]) > 0.035
                 or abs(yaw - current.yaw) > 0.08)
        if moved and t < n - 1 and (a > 0.02 or t <= last_active + 2 * period) and t > current.start:
            current.end = t
            contacts[side].append(Contact(touchdown, touchdown, spot, yaw))
            events.append((mid, side))
        t += period
        side = 1 - side
    for s in range(2):
        contacts[s][-1].end = max(contacts[s][-1].start, n + 40.0)
    return contacts, events


def foot_tracks(contacts, n, style: GaitStyle):
    """Per-frame ankle targets, yaw, heel pitch and contact flags for one foot's contact list (vectorised).

    Stance: the ankle stays put while the toe comes down, then the heel rises about the fixed ball of the foot.
    Swing: from the toe-off pose to the next flat footprint on a lifted curve.
    Returns ankle (T, 3), yaw (T,), pitch (T,), contact (T,) bool.
    """
    rest = float(FOOT_REST_PITCH.mean())
    foot_len = float(FOOT.mean())
    starts = np.array([c.start for c in contacts])
    ends = np.array([c.end for c in contacts])
    spots = np.array([c.ankle for c in contacts])                       # (K, 3)
    yaws = np.array([c.yaw for c in contacts])
    count = len(contacts)
    forward = np.stack([np.sin(yaws), np.zeros(count), np.cos(yaws)], -1)
    down_dir = np.array([0.0, -1.0, 0.0])
    toes = spots + foot_len * (np.cos(rest) * forward + np.sin(rest) * down_dir)
    heel_window = np.minimum(0.4 * np.maximum(ends - starts, 0.0), 6.0)
    heel_window[-1] = 0.0                                              # the last contact never lifts

    t = np.arange(n, dtype=float)
    k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, count - 1)
    k1 = np.minimum(k + 1, count - 1)
    stance = t <= ends[k]
    fwd = forward[k]

    # Stance.
    down = 1.0 - smoothstep((t - starts[k]) / 2.5)
    hw = heel_window[k]
    heel = np.where(hw > 0, smoothstep((t - (ends[k] - hw)) / np.maximum(hw, 1e-6)), 0.0)
    p_stance = -style.toe_up * down + style.heel_off * heel
    total = rest + p_stance
    lifted = toes[k] - foot_len * (np.cos(total)[:, None] * fwd + np.sin(total)[:, None] * down_dir)
    ankle_stance = np.where((p_stance > 0)[:, None], lifted, spots[k])

    # Swing from contact k to k + 1.
    s = np.clip((t - ends[k]) / np.maximum(starts[k1] - ends[k], 1e-6), 0.0, 1.0)
    off = rest + style.heel_off
    begin = toes[k] - foot_len * (np.cos(off) * fwd + np.sin(off) * down_dir)
    end = spots[k1]
    # Mostly minimum jerk (smooth landings); a little smoothstep keeps the peak foot speed human (~1.7x mean).
    w = 0.3 * smoothstep(s) + 0.7 * minimum_jerk(s)
    pos = begin + (end - begin) * w[:, None]
    # Lift peaks early in the swing and comes down with zero vertical speed at touchdown.
    lift = style.clearance * 6.75 * s * (1 - s) ** 2
    lift += style.knee_lift * np.sin(np.pi * s) ** 2
    # Short shuffles need less lift; long strides keep the full clearance.
    span = np.hypot(end[:, 0] - begin[:, 0], end[:, 2] - begin[:, 2])
    lift *= np.clip(0.3 + span / 0.3, 0.3, 1.0)
    p_swing = style.heel_off + (-style.toe_up - style.heel_off) * smoothstep(s * 1.4)
    d_yaw = (yaws[k1] - yaws[k] + np.pi) % (2 * np.pi) - np.pi
    yaw_swing = yaws[k] + d_yaw * w
    toe_y = pos[:, 1] + lift - foot_len * np.sin(rest + p_swing)
    # Keep the toe clear of the floor through the swing, not only at its ends.
    lift += np.maximum(TOE_HEIGHT + 0.008 + 0.05 * np.sqrt(np.sin(np.pi * s)) - toe_y, 0.0)
    pos[:, 1] += lift

    ankle = np.where(stance[:, None], ankle_stance, pos)
    yaw = np.where(stance, yaws[k], yaw_swing)
    pitch = np.where(stance, p_stance, p_swing)
    return ankle, yaw, pitch, stance


def plant_feet(tracks: PoseTracks, contacts, style: GaitStyle):
    """Replace both feet of tracks with the ones planned by per-foot contact lists (contacts[side]: [Contact])."""
    n = tracks.n_frames
    for side in range(2):
        ankle, yaw, pitch, contact = foot_tracks(contacts[side], n, style)
        tracks.ankle[side], tracks.foot_yaw[side], tracks.foot_pitch[side], tracks.contact[side] = \
            ankle, yaw, pitch, contact


def alternating_signal(events, n, shift=0.0):
    """+1 at a left event, -1 at a right event, cosine-eased between them, 0 outside. events: [(time, side)]."""
    t = np.arange(n, dtype=float)
    out = np.zeros(n)
    if not events:
        return out
    times = np.array([e[0] for e in events]) + shift
    values = np.array([SIDE_SIGN[e[1]] for e in events])
    idx = np.clip(np.searchsorted(times, t) - 1, 0, len(times) - 1)
    nxt = np.clip(idx + 1, 0, len(times) - 1)
    span = np.maximum(times[nxt] - times[idx], 1e-6)
    u = np.clip((t - times[idx]) / span, 0.0, 1.0)
    blend = 0.5 - 0.5 * np.cos(np.pi * u)
    out = values[idx] + (values[nxt] - values[idx]) * blend
    # Fade in before the first event / out after the last, over one step.
    first, last = times[0], times[-1]
    step = np.median(np.diff(times)) if len(times) > 1 else 10.0
    out *= np.clip((t - (first - step)) / step, 0, 1) * np.clip(((last + step) - t) / step, 0, 1)
    return out


def step_phase_wave(events, n):
    """cos(2 pi u) where u runs 0 -> 1 between consecutive mid-stances (both feet); 0 before / after the gait."""
    t = np.arange(n, dtype=float)
    if len(events) < 2:
        return np.zeros(n)
    times = np.array([e[0] for e in events])
    idx = np.clip(np.searchsorted(times, t) - 1, 0, len(times) - 2)
    u = np.clip((t - times[idx]) / np.maximum(times[idx + 1] - times[idx], 1e-6), 0.0, 1.0)
    inside = (t >= times[0]) & (t <= times[-1])
    return np.where(inside, np.cos(2 * np.pi * u), 0.0)


def arm_swing_hands(angle, bend, side):
    """Wrist targets (T, 3) in the chest frame for a shoulder swing angle (T,) (positive = forward).

    bend: scalar or (T,) in [0, 1], 0 = hanging arm, 1 = elbow at about 90 degrees."""
    sx = SIDE_SIGN[side]
    hang = np.array([0.05 * sx, -0.50, 0.06])
    bent = np.array([0.03 * sx, -0.30, 0.24])
    bend = np.asarray(bend, dtype=float)
    base = hang + (bent - hang) * (bend[..., None] if bend.ndim else bend)
    base = np.broadcast_to(base, angle.shape + (3,))
    c, s = np.cos(angle), np.sin(angle)
    out = np.stack([base[..., 0], c * base[..., 1] + s * base[..., 2], -s * base[..., 1] + c * base[..., 2]], -1)
    # Hands drift toward the midline when they swing forward while running.
    out[:, 0] -= sx * 0.06 * bend * np.maximum(np.sin(angle), 0)
    return out


def locomotion(speed, travel, turn_rate, style: GaitStyle, rng, start_xz=(0.0, 0.0), start_heading=0.0,
               pad_before=0, pad_after=0, first_side=None, limp_side=None, cadence_scale=None):
    """Pose tracks for a locomotion clip.

    speed, travel, turn_rate: (T,) per frame (m/s, rad relative to heading, rad/s). pad_before / pad_after: frames of
    the same gait simulated before / after the clip and cropped, so a clip can start or end mid-stride.
    activity follows the speed (and turn rate, for turning on the spot).
    """
    speed = np.concatenate([np.full(pad_before, speed[0]), speed, np.full(pad_after, speed[-1])])
    travel = np.concatenate([np.full(pad_before, travel[0]), travel, np.full(pad_after, travel[-1])])
    turn_rate = np.concatenate([np.full(pad_before, turn_rate[0]), turn_rate, np.full(pad_after, turn_rate[-1])])
    if cadence_scale is None:
        cadence_scale = np.ones(len(speed))
    else:
        cadence_scale = np.concatenate([np.ones(pad_before), cadence_scale, np.ones(pad_after)])
    n = len(speed)
    root_xz, heading = integrate_path(speed, travel, turn_rate, start_xz, start_heading)
    activity = np.clip(np.maximum(speed / max(style.speed, 0.3), np.abs(turn_rate) / 1.2), 0.0, 1.0)
    if pad_before:
        activity[:pad_before] = np.maximum(activity[:pad_before], 1.0) * (speed[0] > 0.05 or abs(turn_rate[0]) > 0.1)

    root = np.zeros((n, 3))
    root[:, 0], root[:, 2] = root_xz[:, 0], root_xz[:, 1]
    if first_side is None:
        # Lead with the foot on the side of the turn / sidestep; otherwise either.
        lateral = np.sin(travel[0]) * speed.max() + turn_rate.mean()
        first_side = (0 if lateral > 0 else 1) if abs(lateral) > 0.05 else int(rng.integers(2))
    contacts, events = plan_steps(root, heading, activity, style, first_side, limp_side, cadence_scale)
    events.sort()

    tracks_feet = [foot_tracks(contacts[s], n, style) for s in range(2)]
    ankle = np.stack([f[0] for f in tracks_feet])
    foot_yaw = np.stack([f[1] for f in tracks_feet])
    foot_pitch = np.stack([f[2] for f in tracks_feet])
    contact = np.stack([f[3] for f in tracks_feet])

    # Gait signals: stance side (+1 left mid-stance), leg phase (+1 left touchdown), bob wave.
    duty_shift = -style.duty * FPS / style.cadence
    stance_side = alternating_signal(events, n)
    leg_forward = alternating_signal(events, n, shift=duty_shift)
    wave = step_phase_wave(events, n)
    amount = np.clip(activity, 0, 1)

    root[:, 1] = STAND_PELVIS_HEIGHT - style.crouch * smoothstep(amount * 3) + style.bob * wave * amount
    lateral_dir = rotate_yaw(np.array([1.0, 0.0, 0.0]), heading)
    root += lateral_dir * (style.sway * stance_side)[:, None]
    if limp_side is not None:
        # Antalgic gait: a deeper dip while the bad leg carries the weight.
        on_bad = np.clip(stance_side * SIDE_SIGN[limp_side], 0, 1)
        root[:, 1] -= 0.035 * on_bad

    speed_norm = np.clip(speed / 4.0, 0, 1)
    pelvis = np.zeros((n, 3))
    pelvis[:, 0] = style.lean * smoothstep(amount * 2) + 0.02 * np.cos(travel)  # lean back a touch when backing up
    pelvis[:, 1] = -style.pelvis_roll * stance_side
    pelvis[:, 2] = -style.pelvis_yaw * leg_forward
    spine = np.zeros((n, 3))
    spine[:, 0] = 0.5 * style.lean * smoothstep(amount * 2)
    spine[:, 2] = 1.5 * style.pelvis_yaw * leg_forward
    if limp_side is not None:
        spine[:, 1] = 0.12 * np.clip(stance_side * SIDE_SIGN[limp_side], 0, 1) * SIDE_SIGN[limp_side]
    # Lean into turns.
    spine[:, 1] += np.clip(-turn_rate * speed * 0.05, -0.15, 0.15)
    neck = np.zeros((n, 3))
    neck[:, 0] = -0.7 * (pelvis[:, 0] + spine[:, 0]) + style.head_bob * wave * amount
    neck[:, 2] = 0.25 * np.clip(turn_rate, -1.5, 1.5)  # look into the turn

    hand = np.zeros((2, n, 3))
    swing = style.arm_swing * (0.4 + 0.6 * amount) * leg_forward
    for side in range(2):
        # The arm opposite the forward leg swings forward.
        hand[side] = arm_swing_hands(-SIDE_SIGN[side] * swing + 0.1 * style.arm_bend, style.arm_bend * amount, side)
    # Bent (running) arms keep the elbows behind the body rather than out to the sides.
    elbow_pole = np.repeat(ELBOW_POLE_REST[:, None], n, axis=1).copy()
    elbow_pole[..., 0] *= (1.0 - 0.6 * style.arm_bend * amount)[None, :]
    collar = np.zeros((n, 2)) + 0.03 * speed_norm[:, None]

    tracks = PoseTracks(root=root, heading=heading, pelvis=pelvis, spine=spine, neck=neck, collar=collar,
                        ankle=ankle, foot_yaw=foot_yaw, foot_pitch=foot_pitch, contact=contact, hand=hand,
                        elbow_pole=elbow_pole)
    tracks.info["leg_forward"] = leg_forward
    return tracks.slice(pad_before, n - pad_after)

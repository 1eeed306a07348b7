"""Jumps: in place, forward, hopping on one leg, jumping jacks; all built on one series of ballistic jumps."""

import numpy as np

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s

from .. import gait
from ..animate import blend_hand, body_to_world, ease, envelope, idle_tracks, keyframes, mirror_x, seconds, shift_root
from ..body import ANKLE_HEIGHT, ELBOW_POLE_REST, FPS, SIDE_SIGN, STAND_PELVIS_HEIGHT, rotate_yaw
from ..captions import COUNT_WORDS
from .registry import SIDE_NAMES, action, counted, fit_count, sample_duration, sample_energy


def _jump_root_y(n, takeoffs, landings, heights, crouch):
    """Pelvis height for a series of jumps: crouch, push, ballistic flight, absorb on landing."""
    y = np.full(n, STAND_PELVIS_HEIGHT)
    t = np.arange(n, dtype=float)
    for a, b, h in zip(takeoffs, landings, heights):
        keys_t = [a - 9, a - 3, a]
        keys_y = [0.0, -crouch, 0.04]
        dip = keyframes(n, keys_t, keys_y) * ((t >= a - 9) & (t <= a))
        y += dip
        u = np.clip((t - a) / max(b - a, 1), 0, 1)
        flight = (t > a) & (t < b)
        y += np.where(flight, 0.04 + 4 * h * u * (1 - u), 0.0)
        land = keyframes(n, [b, b + 4, b + 11], [0.03, -0.8 * crouch, 0.0]) * ((t >= b) & (t <= b + 11))
        y += land
    return y


def _jump_series(rng, n, starts, flights, heights, displacements, widths, energy, one_leg=None, arms=True,
                 bend=1.0):
    """Jumps with both feet (or one); displacements (K, 2) body-frame (x, z) per jump, widths: stance per landing."""
    tracks = idle_tracks(n, rng, life=0.3)
    style = gait.GaitStyle(clearance=0.0, heel_off=0.7, toe_up=0.0)
    takeoffs = np.array(starts, dtype=float)
    landings = takeoffs + np.array(flights, dtype=float)
    contacts = [[gait.Contact(0.0, 0.0, tracks.ankle[s, 0].copy(), float(tracks.foot_yaw[s, 0]))] for s in range(2)]
    offset = np.zeros(3)
    root_shift = np.zeros((n, 3))
    t = np.arange(n, dtype=float)
    for k, (a, b) in enumerate(zip(takeoffs, landings)):
        step = np.array([displacements[k][0], 0.0, displacements[k][1]])
        u = np.clip((t - (a - 2)) / max(b - a + 2, 1), 0, 1)
        root_shift += np.outer(ease(u), step)
        offset = offset + step
        for s in range(2):
            if one_leg is not None and s != one_leg:
                continue
            contacts[s][-1].end = a
            local = np.array([SIDE_SIGN[s] * (0.09 + 0.5 * widths[k]), 0.0, 0.0]) + offset
            spot = tracks.root[0] + rotate_yaw(local, tracks.heading[0])
            spot[1] = ANKLE_HEIGHT
            contacts[s].append(gait.Contact(b, b, spot, float(tracks.foot_yaw[s, 0])))
    if one_leg is not None:
        # The free foot rides along with the body, tucked up behind, and comes down at the end.
        s = 1 - one_leg
        lift_at, down_at = takeoffs[0] - 12, landings[-1] + 10
        contacts[s][-1].end = lift_at
        spot = tracks.root[0] + rotate_yaw(np.array([SIDE_SIGN[s] * 0.09, 0.0, 0.0]) + offset, tracks.heading[0])
        spot[1] = ANKLE_HEIGHT
        contacts[s].append(gait.Contact(down_at, down_at, spot, float(tracks.foot_yaw[s, 0])))
    for s in range(2):
        contacts[s][-1].end = n + 40.0
    tracks.root += body_to_world(tracks, root_shift)
    style.clearance = 0.0
    gait.plant_feet(tracks, contacts, style)
    y = _jump_root_y(n, takeoffs, landings, heights, 0.14 * energy)
    tracks.root[:, 1] = y + (tracks.root[:, 1] - STAND_PELVIS_HEIGHT)
    # Feet rise with the body in flight (plus a small tuck).
    for s in range(2):
        airborne = ~tracks.contact[s]
        rise = np.maximum(y - STAND_PELVIS_HEIGHT - 0.04, 0.0) + 0.05 * airborne
        tracks.ankle[s, :, 1] += np.where(airborne, rise, 0.0)
    if one_leg is not None:
        s = 1 - one_leg
        up = envelope(n, takeoffs[0] - 12, landings[-1] + 10, 6)
        held = tracks.root + body_to_world(tracks, np.tile([SIDE_SIGN[s] * 0.10, -0.62, -0.22], (n, 1)))
        tracks.ankle[s] = tracks.ankle[s] * (1 - up[:, None]) + held * up[:, None]
        tracks.foot_pitch[s] = tracks.foot_pitch[s] * (1 - up) + 0.5 * up
    if arms:
        swing = np.zeros(n)
        for a, b in zip(takeoffs, landings):
            swing += keyframes(n, [a - 9, a - 3, a + 1, b, b + 8], [0, -0.7, 1.2, 0.6, 0]) * \
                ((t >= a - 9) & (t <= b + 8))
        for side in range(2):
            blend_hand(tracks, side, gait.arm_swing_hands(swing * energy, 0.2, side),
                       np.tile(ELBOW_POLE_REST[side], (n, 1)), np.ones(n))
    flex = np.zeros(n)
    for a, b in zip(takeoffs, landings):
        flex += keyframes(n, [a - 9, a - 3, a + 1, b, b + 4, b + 11], [0, 0.45, 0.0, 0.05, 0.35, 0]) * \
            ((t >= a - 9) & (t <= b + 11))
    flex = bend * np.clip(flex, 0.0, 0.5)
    tracks.pelvis[:, 0] += 0.5 * flex
    tracks.spine[:, 0] += 0.5 * flex
    tracks.neck[:, 0] -= 0.6 * flex
    return tracks


def _sample_jumps(rng, counts=(1, 3), low=2.0, high=5.0):
    return {"count": int(rng.integers(counts[0], counts[1] + 1)), "height": float(rng.uniform(0.12, 0.3)),
            "energy": sample_energy(rng), "duration": sample_duration(rng, low, high)}


def _jump_timing(rng, p, flight, gap):
    lead = seconds(rng.uniform(0.6, 1.0))
    count = fit_count(p, lead + seconds(1.0), flight + gap)
    starts = [lead + i * (flight + gap) for i in range(count)]
    n = min(max(seconds(p["duration"]), starts[-1] + flight + seconds(1.0)), MAX_FRAMES)
    p["duration"] = n / FPS
    return n, starts


def _flight_frames(height):
    return max(int(round(2 * np.sqrt(2 * height / 9.81) * FPS)), 4)


def _jump_phrases(p):
    return (["jumps in place", "jumps up and down {count}", "jumps straight up", "hops in place {count}",
             "jumps {count} on the spot", "does a vertical jump", "jumps up in place", "bounces up and down",
             "leaps straight up {count}", "springs into the air", "jumps up {count}", "does a jump in place",
             "jumps high in place"],
            {"count": COUNT_WORDS.get(p["count"], "")})


def _jump_contexts(p):
    return ["with excitement", "for joy", "to reach something high", "as if celebrating", "to warm up",
            "like on a trampoline", "with both feet together", "to touch the ceiling", "with the arms swinging"]


@action("jump_in_place", "jumps", _sample_jumps, _jump_phrases, lambda p: ["jumping"], contexts=_jump_contexts)
def build_jump_in_place(rng, p):
    flight = _flight_frames(p["height"])
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.5, 0.8)))
    return _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                        [(0.0, 0.0)] * p["count"], [0.0] * p["count"], p["energy"])


def _jump_forward_phrases(p):
    return (["jumps forward", "leaps forward", "jumps forward with both feet", "does a long jump forward",
             "jumps ahead {count}", "hops forward with both legs", "jumps far forward", "takes a big jump forward",
             "leaps ahead", "does a broad jump", "springs forward", "makes a long leap ahead"],
            {"count": COUNT_WORDS.get(p["count"], "")})


def _jump_forward_contexts(p):
    return ["over a small obstacle", "across a gap", "over a line on the ground", "over a crack in the pavement",
            "from a standing position", "with the arms swinging", "over a small stream", "onto a mat",
            "as far as they can", "over a rope on the floor"]


@action("jump_forward", "jumps", lambda rng: {**_sample_jumps(rng, (1, 3)), "distance": float(rng.uniform(0.4, 1.1))},
        _jump_forward_phrases, lambda p: ["jumping forward"], contexts=_jump_forward_contexts)
def build_jump_forward(rng, p):
    flight = _flight_frames(p["height"]) + 2
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.6, 0.9)))
    return _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                        [(0.0, p["distance"])] * p["count"], [0.0] * p["count"], p["energy"])


def _hop_phrases(p):
    return (["hops on the {side} leg", "hops on one leg", "jumps on the {side} foot {count}",
             "hops on one foot", "balances on the {side} leg and hops", "hops {count} on the {side} foot",
             "jumps on one leg", "hops forward on the {side} leg", "hops on the {side} foot {count}",
             "hops up and down on the {side} leg", "keeps hopping on one foot",
             "does one-legged hops on the {side} leg", "jumps on the {side} leg with the other foot raised"],
            {"side": SIDE_NAMES[p["side"]], "count": COUNT_WORDS.get(p["count"], "")})


def _hop_contexts(p):
    return ["as if playing hopscotch", "for fun", "as a balance exercise", "with the other foot off the ground",
            "with the arms out for balance", "like a child playing", "to test the {side} ankle"]


@action("hop_on_one_leg", "jumps", lambda rng: {**_sample_jumps(rng, (2, 6)), "side": int(rng.integers(2)),
                                                "height": float(rng.uniform(0.06, 0.14))},
        _hop_phrases, lambda p: ["hopping"], contexts=_hop_contexts)
def build_hop_on_one_leg(rng, p):
    flight = _flight_frames(p["height"])
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.25, 0.45)))
    hop = float(rng.uniform(0.0, 0.3))
    tracks = _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                          [(0.0, hop)] * p["count"], [0.0] * p["count"], p["energy"] * 0.5, one_leg=p["side"],
                          bend=0.5)
    # Balance: shift over the standing leg, arms a little out.
    w = envelope(n, starts[0] - 14, starts[-1] + flight + 10, 8)
    shift_root(tracks, np.outer(w, [SIDE_SIGN[p["side"]] * 0.06, 0.0, 0.0]))
    for side in range(2):
        blend_hand(tracks, side, np.tile(mirror_x([0.30, -0.35, 0.10], side), (n, 1)),
                   np.tile(ELBOW_POLE_REST[side], (n, 1)), 0.6 * w)
    return tracks


def _jacks_phrases(p):
    return (["does jumping jacks", "does {jacks}", "performs jumping jacks",
             "jumps while spreading the arms and legs", "is doing jumping jacks",
             "does jumping jacks as a warm up", "jumps spreading legs and clapping hands above the head",
             "does a set of jumping jacks", "does {jacks} in a row", "performs star jumps",
             "does jumping jack exercises"],
            {"jacks": counted(p["count"], "jumping jack", "jumping jacks")})


def _jacks_contexts(p):
    return ["during a workout", "to get the heart rate up", "as part of an exercise routine", "at a steady rhythm",
            "in a fitness class", "to stay fit", "in the morning routine"]


@action("jumping_jacks", "jumps", lambda rng: {**_sample_jumps(rng, (2, 6), 3.0, 7.0),
                                               "height": float(rng.uniform(0.05, 0.1))}, _jacks_phrases,
        lambda p: ["doing jumping jacks"], contexts=_jacks_contexts)
def build_jumping_jacks(rng, p):
    flight = _flight_frames(p["height"]) + 1
    count = p["count"]
    gap = seconds(rng.uniform(0.15, 0.3))
    p2 = {**p, "count": 2 * count}
    n, starts = _jump_timing(rng, p2, flight, gap)
    count = p2["count"] // 2
    starts = starts[:2 * count]
    p["duration"], p["count"] = p2["duration"], count
    widths = [0.35 if i % 2 == 0 else 0.0 for i in range(2 * count)]
    tracks = _jump_series(rng, n, starts, [flight] * 2 * count, [p["height"]] * 2 * count,
                          [(0.0, 0.0)] * 2 * count, widths, p["energy"] * 0.4, arms=False, bend=0.25)
    # Arms: up over the head while the legs are apart.
    spread = np.zeros(n)
    for i, a in enumerate(starts):
        spread += keyframes(n, [a - 4, a + flight + 2], [0.0, 1.0]) * (1 if i % 2 == 0 else -1) * (np.arange(n) >= a - 4)
    spread = np.clip(spread, 0, 1)
    for side in range(2):
        up = np.tile(mirror_x([0.30, 0.42, 0.0], side), (n, 1))
        blend_hand(tracks, side, up, np.tile(mirror_x([1.0, 0.0, -0.3], side), (n, 1)), spread)
    return tracks

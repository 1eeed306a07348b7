"""Leg actions: kicks, squats, lunges, kneeling and sitting down (and standing back up)."""

import numpy as np

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s

from .. import gait
from ..animate import blend_hand, idle_tracks, keyframes, mirror_x, seconds, shift_root
from ..body import (ELBOW_POLE_REST, FOOT, FOOT_REST_PITCH, FPS, SIDE_SIGN, STAND_PELVIS_HEIGHT, foot_direction,
                    rotate_yaw)
from ..captions import COUNT_WORDS
from .registry import SIDE_NAMES, action, counted, fit_count, sample_duration, sample_energy


def _ankle_from_toe(toe, yaw, pitch):
    """Ankle position for a foot whose ball stays at `toe` (n, 3), heel raised by `pitch` (n,)."""
    total = FOOT_REST_PITCH.mean() + pitch
    return toe - FOOT.mean() * foot_direction(yaw, total)


def _kick_phrases(side):
    def phrases(p):
        return (["kicks with the {side} leg", "kicks forward with the {side} foot", "does a {side} leg kick {count}",
                 "kicks the {side} leg out in front", "kicks something with the {side} foot", "kicks {count} with the {side} leg",
                 "lifts the {side} leg and kicks", "performs a front kick with the {side} leg",
                 "swings the {side} leg forward in a kick", "does a front kick with the {side} foot",
                 "gives a kick with the {side} leg", "kicks {count} using the {side} foot",
                 "takes a {side}-footed kick", "kicks forward {count}", "throws a {side} front kick",
                 "snaps the {side} foot forward in a kick"],
                {"side": side, "count": COUNT_WORDS.get(p["count"], "")})
    return phrases


def _kick_contexts(p):
    return ["in a martial arts style", "at an imaginary target", "at a heavy bag", "to knock something over",
            "at a ball on the ground", "as part of a workout", "with good balance", "at a door",
            "like a fighter", "at a can on the floor", "to send a ball flying"]


def _build_kick(side):
    def build(rng, p):
        interval = seconds(rng.uniform(0.9, 1.3))
        lead = seconds(rng.uniform(0.5, 0.9))
        fit_count(p, lead + seconds(0.8), interval)
        n = min(max(seconds(p["duration"]), lead + p["count"] * interval + seconds(0.8)), MAX_FRAMES)
        p["duration"] = n / FPS
        tracks = idle_tracks(n, rng, life=0.4)
        stand_side = 1 - side
        sx = SIDE_SIGN[side]
        h = p["height"]
        air = np.zeros(n, dtype=bool)
        offset = np.zeros((n, 3))
        pitch = np.zeros(n)
        balance = np.zeros(n)
        for i in range(p["count"]):
            k = lead + i * interval
            times = [k - 8, k - 3, k, k + 3, k + 8]
            keys = [[0, 0, 0], [sx * 0.02, 0.30 + 0.15 * h, 0.30], [sx * 0.0, 0.15 + 0.75 * h, 0.72],
                    [sx * 0.02, 0.30 + 0.15 * h, 0.30], [0, 0, 0]]
            window = (np.arange(n) >= k - 8) & (np.arange(n) <= k + 8)
            offset += keyframes(n, times, keys) * window[:, None]
            pitch += keyframes(n, times, [0, 0.3, 0.7, 0.3, 0]) * window
            balance += keyframes(n, [k - 12, k - 6, k + 8, k + 12], [0, 1, 1, 0]) * \
                ((np.arange(n) >= k - 12) & (np.arange(n) <= k + 12))
            air |= (np.arange(n) > k - 8) & (np.arange(n) < k + 8)
        balance = np.clip(balance, 0, 1)
        tracks.ankle[side] = tracks.ankle[side] + rotate_yaw(offset, tracks.heading)
        tracks.foot_pitch[side] = pitch
        tracks.contact[side] = ~air
        shift_root(tracks, np.outer(balance, [SIDE_SIGN[stand_side] * 0.07, -0.02, -0.03]))
        tracks.pelvis[:, 0] -= 0.12 * h * balance
        tracks.pelvis[:, 1] += SIDE_SIGN[stand_side] * 0.05 * balance
        kick_curve = np.linalg.norm(offset, axis=-1) / 0.9
        tracks.spine[:, 0] -= 0.2 * h * kick_curve
        for s in range(2):
            blend_hand(tracks, s, np.tile(mirror_x([0.25, -0.30, 0.15], s), (n, 1)),
                       np.tile(ELBOW_POLE_REST[s], (n, 1)), 0.7 * balance)
        tracks.neck[:, 0] += 0.15 * balance
        return tracks
    return build


for _side in range(2):
    action(f"kick_{SIDE_NAMES[_side]}", "legs",
           lambda rng: {"count": int(rng.integers(1, 4)), "height": float(rng.uniform(0.3, 1.0)),
                        "energy": sample_energy(rng), "duration": sample_duration(rng, 2.0, 5.0)},
           _kick_phrases(SIDE_NAMES[_side]), contexts=_kick_contexts)(_build_kick(_side))


def _squat_phrases(p):
    return (["squats down and stands back up", "does {squats}", "squats {count}", "bends the knees into a squat",
             "performs squats", "crouches down and rises again", "squats down low", "does a deep squat",
             "lowers the hips into a squat", "drops into a squat and comes up", "squats down {count}",
             "does knee bends", "lowers into a squat"],
            {"squats": counted(p["count"], "squat", "squats"), "count": COUNT_WORDS.get(p["count"], "")})


def _squat_contexts(p):
    return ["as part of a workout", "to exercise the legs", "in a fitness class", "with a straight posture",
            "to strengthen the legs", "as a warm up", "at the gym"]


@action("squat", "legs", lambda rng: {"count": int(rng.integers(1, 5)), "depth": float(rng.uniform(0.2, 0.42)),
                                      "energy": sample_energy(rng), "duration": sample_duration(rng, 2.5, 6.0)},
        _squat_phrases, contexts=_squat_contexts)
def build_squat(rng, p):
    rep = seconds(rng.uniform(1.6, 2.4))
    lead = seconds(rng.uniform(0.4, 0.8))
    fit_count(p, lead + seconds(0.5), rep)
    n = min(max(seconds(p["duration"]), lead + p["count"] * rep + seconds(0.5)), MAX_FRAMES)
    p["duration"] = n / FPS
    tracks = idle_tracks(n, rng, life=0.3, stance_width=float(rng.uniform(0.05, 0.18)))
    arms_forward = rng.random() < 0.7
    curve = np.zeros(n)
    for i in range(p["count"]):
        a = lead + i * rep
        curve += keyframes(n, [a, a + 0.42 * rep, a + 0.55 * rep, a + rep], [0, 1, 1, 0]) * \
            ((np.arange(n) >= a) & (np.arange(n) <= a + rep))
    d = p["depth"]
    shift_root(tracks, np.outer(curve, [0.0, -d, -0.35 * d]))
    tracks.pelvis[:, 0] += 1.2 * d * curve
    tracks.spine[:, 0] += 0.3 * d * curve
    tracks.neck[:, 0] -= 0.8 * d * curve
    for s in range(2):
        blend_hand(tracks, s, np.tile(mirror_x([-0.05, -0.05, 0.45], s), (n, 1)),
                   np.tile(mirror_x([0.5, -1.0, 0.0], s), (n, 1)), np.clip(curve * 1.5, 0, 1) * arms_forward)
    tracks.knee_pole = np.stack([rotate_yaw(np.array([SIDE_SIGN[s] * 0.35, 0.0, 1.0]), tracks.heading)
                                 for s in range(2)])
    return tracks


def _lunge_phrases(p):
    return (["does a lunge with the {side} leg", "lunges forward with the {side} leg", "steps forward into a lunge",
             "does {lunges}", "lunges forward {count}", "steps the {side} foot forward and bends the knees",
             "performs a lunge", "lunges forward and steps back", "lunges with the {side} foot forward",
             "takes a lunge step with the {side} leg", "steps into a lunge", "drops into a forward lunge",
             "lunges {count}"],
            {"side": SIDE_NAMES[p["side"]], "lunges": counted(p["count"], "forward lunge", "forward lunges"),
             "count": COUNT_WORDS.get(p["count"], "")})


@action("lunge", "legs", lambda rng: {"count": int(rng.integers(1, 3)), "side": int(rng.integers(2)),
                                      "depth": float(rng.uniform(0.22, 0.36)), "energy": sample_energy(rng),
                                      "duration": sample_duration(rng, 3.0, 6.0)}, _lunge_phrases,
        contexts=lambda p: ["as part of a workout", "to build leg strength", "like a fencer", "in an exercise class",
                            "keeping the chest up", "at the gym"])
def build_lunge(rng, p):
    rep = seconds(rng.uniform(2.2, 3.0))
    lead = seconds(rng.uniform(0.4, 0.8))
    fit_count(p, lead + seconds(0.4), rep)
    n = min(max(seconds(p["duration"]), lead + p["count"] * rep + seconds(0.4)), MAX_FRAMES)
    p["duration"] = n / FPS
    tracks = idle_tracks(n, rng, life=0.3)
    side, back = p["side"], 1 - p["side"]
    length = float(rng.uniform(0.6, 0.8))
    home = tracks.ankle[side, 0].copy()
    yaw = float(tracks.foot_yaw[side, 0])
    forward = rotate_yaw(np.array([0.0, 0.0, length]), tracks.heading[0])
    contacts = [gait.Contact(0.0, 0.0, home, yaw)]
    curve = np.zeros(n)
    t = np.arange(n)
    for i in range(p["count"]):
        a = lead + i * rep
        contacts[-1].end = a
        contacts.append(gait.Contact(a + 0.18 * rep, a + 0.72 * rep, home + forward, yaw))
        contacts.append(gait.Contact(a + 0.9 * rep, a + 0.9 * rep, home, yaw))
        curve += keyframes(n, [a, a + 0.2 * rep, a + 0.45 * rep, a + 0.55 * rep, a + 0.75 * rep, a + 0.9 * rep],
                           [0, 0.35, 1, 1, 0.35, 0]) * ((t >= a) & (t <= a + 0.9 * rep))
    contacts[-1].end = n + 40.0
    style = gait.GaitStyle(clearance=0.07, heel_off=0.3, toe_up=0.15)
    ankle, fyaw, fpitch, contact = gait.foot_tracks(contacts, n, style)
    tracks.ankle[side], tracks.foot_yaw[side], tracks.foot_pitch[side], tracks.contact[side] = ankle, fyaw, fpitch, contact
    shift_root(tracks, np.outer(curve, [0.0, -p["depth"], 0.42 * length]))
    toe = tracks.ankle[back, 0] + FOOT.mean() * foot_direction(np.array(tracks.foot_yaw[back, 0]),
                                                                np.array(FOOT_REST_PITCH.mean()))
    tracks.foot_pitch[back] = 0.9 * curve
    tracks.ankle[back] = _ankle_from_toe(toe, tracks.foot_yaw[back], tracks.foot_pitch[back])
    tracks.knee_pole = np.stack([rotate_yaw(np.array([0.0, 0.0, 1.0]), tracks.heading),
                                 rotate_yaw(np.array([0.0, -0.4, 1.0]), tracks.heading)])
    tracks.spine[:, 0] -= 0.05 * curve
    return tracks


def _kneel_phrases(p):
    down = "kneels down on the {side} knee" if p["stand_up"] is False else "kneels on the {side} knee and stands back up"
    return ([down, "kneels down" + ("" if not p["stand_up"] else " and gets back up"),
             "gets down on one knee" + ("" if not p["stand_up"] else " and then stands up"),
             "goes down on the {side} knee" + ("" if not p["stand_up"] else " before rising again"),
             "drops to one knee" + ("" if not p["stand_up"] else " and stands up again"),
             "kneels" + (" briefly" if p["stand_up"] else " on the ground"),
             "lowers onto the {side} knee" + ("" if not p["stand_up"] else " and rises"),
             "steps back and kneels on one knee" + ("" if not p["stand_up"] else ", then stands"),
             "sinks to the {side} knee" + ("" if not p["stand_up"] else " and gets up again"),
             "kneels on one knee" + ("" if not p["stand_up"] else " for a moment and rises"),
             "bends down onto the {side} knee" + ("" if not p["stand_up"] else " and stands back up")],
            {"side": SIDE_NAMES[p["side"]]})


def _kneel_contexts(p):
    # A purpose reads after the kneeling only when the clip ends kneeling ("kneels ... and gets back up to pray").
    if p["stand_up"]:
        return ["on the floor", "on the grass", "on a mat", "on the carpet"]
    return ["to tie a shoelace", "to pick something up", "to check something on the floor", "to pet a dog",
            "to talk to a small child", "to pray", "in respect", "to look at something on the ground"]


@action("kneel", "legs", lambda rng: {"side": int(rng.integers(2)), "stand_up": bool(rng.random() < 0.6),
                                      "energy": sample_energy(rng), "duration": sample_duration(rng, 4.0, 8.0)},
        _kneel_phrases, contexts=_kneel_contexts)
def build_kneel(rng, p):
    n = seconds(p["duration"])
    tracks = idle_tracks(n, rng, life=0.3)
    side, front = p["side"], 1 - p["side"]
    t = np.arange(n)
    a = seconds(rng.uniform(0.3, 0.7))
    step = a + 14
    down = step + seconds(rng.uniform(0.8, 1.2))
    if p["stand_up"]:
        up_start = min(down + seconds(rng.uniform(0.8, 2.0)), n - 36)
        up_end = up_start + 16
        back_home = min(up_end + 12, n - 2)
    else:
        up_start = up_end = back_home = n + 100
    yaw = float(tracks.foot_yaw[side, 0])
    home = tracks.ankle[side, 0].copy()
    back = rotate_yaw(np.array([0.0, 0.0, -0.78]), tracks.heading[0])
    contacts = [gait.Contact(0.0, a, home, yaw), gait.Contact(step, back_home - 10, home + back, yaw),
                gait.Contact(back_home, n + 40.0, home, yaw)]
    style = gait.GaitStyle(clearance=0.06, heel_off=0.3, toe_up=0.0)
    ankle, fyaw, fpitch, contact = gait.foot_tracks(contacts, n, style)
    kneel = keyframes(n, [step, down, up_start, up_end], [0, 1, 1, 0])
    toe_back = home + back + FOOT.mean() * foot_direction(np.array(yaw), np.array(FOOT_REST_PITCH.mean()))
    held = _ankle_from_toe(np.tile(toe_back, (n, 1)), np.full(n, yaw), 1.2 * kneel)
    on_back = ((t >= step) & (t < back_home - 10))[:, None]
    tracks.ankle[side] = np.where(on_back, held, ankle)
    tracks.foot_pitch[side] = np.where(on_back[:, 0], 1.2 * kneel, fpitch)
    tracks.foot_yaw[side], tracks.contact[side] = fyaw, contact
    shift = keyframes(n, [a, step, down, up_start, up_end, back_home], [0, 0.35, 1, 1, 0.35, 0])
    target = np.array([0.0, 0.53 - STAND_PELVIS_HEIGHT, -0.34])
    shift_root(tracks, np.outer(shift, target) * np.array([1, 0, 1]) + np.outer(kneel, target * np.array([0, 1, 0])))
    tracks.pelvis[:, 0] += 0.1 * kneel
    tracks.spine[:, 0] -= 0.05 * kneel
    tracks.knee_pole = np.stack([rotate_yaw(np.array([0.0, -0.8 * (s == side), 1.0]), tracks.heading)
                                 for s in range(2)])
    hand_w = kneel * (rng.random() < 0.6)
    blend_hand(tracks, front, np.tile(mirror_x([-0.05, -0.40, 0.30], front), (n, 1)),
               np.tile(ELBOW_POLE_REST[front], (n, 1)), hand_w)
    return tracks


def _sit_phrases(p):
    if p["stand_up"]:
        return (["sits down and then stands up", "sits down on a chair and gets back up", "sits down and stands up again",
                 "takes a seat and then rises", "sits on something and stands back up", "lowers into a seat, then stands",
                 "sits down briefly before standing up", "sits and then gets up", "takes a seat and gets up again",
                 "sits on a chair for a moment and stands up", "sits down and rises again"], {})
    return (["sits down", "sits down on a chair", "takes a seat", "sits down slowly", "lowers themself into a chair",
             "sits on a chair", "sits down on something behind them", "bends the knees and sits down",
             "has a seat", "sits down on a stool", "settles into a chair", "sits down and stays seated"], {})


def _sit_contexts(p):
    # Standing up again ends the clip: a purpose after it would read as the reason for standing.
    if p["stand_up"]:
        return []
    return ["to rest", "to take a break", "to relax", "to catch their breath", "at a desk", "at the dinner table",
            "to read", "to eat", "with a sigh"]


@action("sit_down_stand_up", "legs", lambda rng: {"stand_up": bool(rng.random() < 0.6), "energy": sample_energy(rng),
                                                  "duration": sample_duration(rng, 4.0, 9.0)}, _sit_phrases,
        contexts=_sit_contexts)
def build_sit_down_stand_up(rng, p):
    n = seconds(p["duration"])
    tracks = idle_tracks(n, rng, life=0.3, stance_width=float(rng.uniform(0.0, 0.12)))
    a = seconds(rng.uniform(0.3, 0.8))
    seated = a + seconds(rng.uniform(1.0, 1.4))
    if p["stand_up"]:
        rise = min(seated + seconds(rng.uniform(0.8, 2.5)), n - 30)
        up = rise + seconds(rng.uniform(1.0, 1.3))
    else:
        rise = up = n + 100
    sit = keyframes(n, [a, seated, rise, up], [0, 1, 1, 0])
    height = float(rng.uniform(0.52, 0.6))
    shift_root(tracks, np.outer(sit, [0.0, height - STAND_PELVIS_HEIGHT, -0.38]))
    # Lean forward while the weight moves over the feet, upright once seated.
    lean = keyframes(n, [a, (a + seated) / 2, seated + 4, rise, (rise + up) / 2, up], [0, 0.55, 0.1, 0.1, 0.55, 0])
    tracks.pelvis[:, 0] += 0.6 * lean
    tracks.spine[:, 0] += 0.4 * lean - 0.15 * sit
    tracks.neck[:, 0] -= 0.4 * lean
    for s in range(2):
        blend_hand(tracks, s, np.tile(mirror_x([-0.02, -0.38, 0.32], s), (n, 1)),
                   np.tile(ELBOW_POLE_REST[s], (n, 1)), sit)
    tracks.knee_pole = np.stack([rotate_yaw(np.array([SIDE_SIGN[s] * 0.15, 0.0, 1.0]), tracks.heading)
                                 for s in range(2)])
    return tracks

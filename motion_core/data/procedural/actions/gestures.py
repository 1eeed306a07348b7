"""Arm gestures: waves, claps, raised arms, pointing, punches, a throw, stretching, arm circles.

Each is an upper-body kind registered with `gesture`: `apply(rng, params, tracks)` layers it onto any tracks, so it
plays over idle standing on its own and over locomotion in layered clips. The random mix picks its layered gestures
in the order they are registered here, so add new gestures at the end. Hand targets are in the chest frame relative
to the shoulder (see animate.blend_hand).
"""

import numpy as np

from ..animate import blend_hand, envelope, keyframes, mirror_x, seconds
from ..body import FPS, HAND_REST, SIDE_SIGN
from ..captions import COUNT_WORDS
from .registry import SIDE_NAMES, gesture, sample_duration, sample_energy


def _sample_gesture(rng, low=2.5, high=6.0, counts=(2, 5)):
    return {"duration": sample_duration(rng, low, high), "energy": sample_energy(rng),
            "count": int(rng.integers(counts[0], counts[1] + 1))}


def _fit_repeats(p, n, per_rep_s, fixed_s):
    """Lower p["count"] so the repeats fit inside an n-frame clip; returns the count."""
    room = int(((n - 10) / FPS - fixed_s) / per_rep_s)
    p["count"] = max(1, min(int(p["count"]), room))
    return p["count"]


def _gesture_window(n, rng, active_s):
    """Start / end frames of a gesture inside an n-frame clip, with a little standing before and after."""
    active = min(seconds(active_s), n - 8)
    start = int(rng.integers(4, max(5, n - active - 3)))
    return start, start + active


def wave_hand(tracks, rng, side, count, energy, start=None, freq=None):
    """Raise one hand beside the head and wave `count` times."""
    n = tracks.n_frames
    freq = rng.uniform(1.6, 2.6) if freq is None else freq
    active_s = 0.9 + count / freq
    if start is None:
        start, end = _gesture_window(n, rng, active_s)
    else:
        end = min(start + seconds(active_s), n - 1)
    t = np.arange(n)
    raised = mirror_x([0.16 + 0.05 * rng.random(), 0.30 + 0.08 * energy * rng.random(), 0.12], side)
    phase = 2 * np.pi * freq * (t - start - seconds(0.45)) / FPS
    osc = np.sin(np.clip(phase, 0, None)) * 0.10 * energy
    target = np.tile(raised, (n, 1))
    target[:, 0] += osc * SIDE_SIGN[side]
    pole = np.tile(mirror_x([1.0, -1.0, -0.2], side), (n, 1))
    blend_hand(tracks, side, target, pole, envelope(n, start, end, seconds(0.45)))
    tracks.neck[:, 2] += 0.15 * SIDE_SIGN[side] * envelope(n, start, end, seconds(0.5))
    return start, end


def _wave_phrases(side):
    def phrases(p):
        hand = {"left": "left hand", "right": "right hand", "both": "both hands"}[side]
        words = {"hand": hand, "count": COUNT_WORDS.get(p["count"], ""), "side": side}
        if side == "both":
            return (["waves with both hands", "waves both arms above the head", "raises both hands and waves",
                     "waves hello with both hands", "waves both hands in the air", "is waving with both hands",
                     "waves goodbye with both hands", "lifts both arms and waves them", "waves both arms overhead",
                     "gives a big two-handed wave", "waves both hands from side to side", "waves with both arms up",
                     "waves both hands {count}"], words)
        return (["waves with the {hand}", "waves the {hand}", "raises the {hand} and waves",
                 "waves hello with the {hand}", "waves goodbye with the {side} hand", "is waving the {side} hand",
                 "lifts the {side} arm and waves", "waves with the {side} hand {count}", "gives a wave with the {hand}",
                 "waves the {side} arm above the head", "holds up the {hand} and waves it",
                 "waves using the {side} hand", "waves the {hand} from side to side"], words)
    return phrases


def _wave_contexts(p):
    return ["to a friend", "to get someone's notice", "at a neighbor", "toward the camera", "at a passing bus",
            "to someone in the distance", "to a crowd", "at a child", "to someone on the other side of the road",
            "from a window"]


def _apply_wave(sides):
    def apply(rng, p, tracks):
        start = None
        freq = rng.uniform(1.6, 2.6)
        _fit_repeats(p, tracks.n_frames, 1 / freq, 0.9)
        for side in sides:
            start, _ = wave_hand(tracks, rng, side, p["count"], p["energy"], start, freq)
    return apply


for _name, _sides, _word in (("wave_right", (1,), "right"), ("wave_left", (0,), "left"), ("wave_both", (0, 1), "both")):
    gesture(_name, lambda rng: _sample_gesture(rng, 2.5, 6.0, (2, 6)), _wave_phrases(_word),
            _wave_contexts)(_apply_wave(_sides))


def clap_hands(tracks, rng, count, energy, start=None, freq=None):
    n = tracks.n_frames
    freq = rng.uniform(1.8, 3.0) if freq is None else freq
    active_s = 0.8 + count / freq
    if start is None:
        start, end = _gesture_window(n, rng, active_s)
    else:
        end = min(start + seconds(active_s), n - 1)
    t = np.arange(n)
    height = rng.uniform(-0.22, -0.08)
    phase = 2 * np.pi * freq * (t - start - seconds(0.4)) / FPS
    apart = 0.5 - 0.5 * np.cos(np.clip(phase, 0, None))  # 0 = hands together
    weight = envelope(n, start, end, seconds(0.4))
    for side in range(2):
        target = np.zeros((n, 3))
        # Shoulder sits ~0.18 m from the midline; the wrist meets the other one just off it.
        target[:, 0] = SIDE_SIGN[side] * (-0.15 + 0.12 * energy * apart)
        target[:, 1] = height
        target[:, 2] = 0.32
        pole = np.tile(mirror_x([0.6, -1.0, -0.3], side), (n, 1))
        blend_hand(tracks, side, target, pole, weight)
    tracks.neck[:, 0] += 0.15 * weight
    return start, end


def _clap_phrases(p):
    return (["claps the hands", "claps {count}", "claps their hands together", "applauds",
             "claps hands in front of the chest", "is clapping", "claps {count} in a row", "gives a round of applause",
             "claps enthusiastically", "brings the hands together {count}", "claps steadily", "claps the hands {count}",
             "applauds with both hands"],
            {"count": COUNT_WORDS.get(p["count"], "")})


def _clap_contexts(p):
    return ["for a friend", "to cheer someone on", "at the end of a show", "to a rhythm", "in excitement",
            "to celebrate", "in approval", "to keep the beat", "for a speaker", "at a concert"]


@gesture("clap", lambda rng: _sample_gesture(rng, 2.5, 6.0, (3, 8)), _clap_phrases, _clap_contexts)
def apply_clap(rng, p, tracks):
    freq = rng.uniform(1.8, 3.0)
    _fit_repeats(p, tracks.n_frames, 1 / freq, 0.8)
    clap_hands(tracks, rng, p["count"], p["energy"], freq=freq)


def raise_arms(tracks, rng, energy, start=None, hold_s=None, both=True):
    n = tracks.n_frames
    hold_s = rng.uniform(0.5, 2.0) if hold_s is None else hold_s
    active_s = 1.4 + hold_s
    if start is None:
        start, end = _gesture_window(n, rng, active_s)
    else:
        end = min(start + seconds(active_s), n - 1)
    weight = envelope(n, start, end, seconds(0.7))
    spread = rng.uniform(0.0, 0.2)
    for side in range(2):
        target = np.tile(mirror_x([0.05 + spread, 0.50, 0.05], side), (n, 1))
        pole = np.tile(mirror_x([1.0, 0.0, -0.5], side), (n, 1))
        blend_hand(tracks, side, target, pole, weight)
    tracks.collar += 0.2 * weight[:, None]
    tracks.neck[:, 0] -= 0.15 * weight * energy
    return start, end


def _raise_phrases(p):
    return (["raises both arms", "raises both arms above the head", "lifts the arms up high", "puts both hands up",
             "raises the arms over the head and lowers them", "holds both arms up in the air",
             "lifts both hands into the air", "reaches both arms up", "holds both hands high", "lifts the arms skyward",
             "puts the arms up above the head", "raises the hands high overhead", "throws the arms up"], {})


def _raise_contexts(p):
    return ["to celebrate", "in victory", "in triumph", "to cheer", "to signal someone", "as if surrendering",
            "toward the sky", "in joy", "to show they are unarmed", "at a concert"]


@gesture("raise_arms", lambda rng: _sample_gesture(rng, 2.5, 6.0), _raise_phrases, _raise_contexts)
def apply_raise_arms(rng, p, tracks):
    raise_arms(tracks, rng, p["energy"])


def point_arm(tracks, rng, side, energy, start=None, direction=None):
    n = tracks.n_frames
    hold = rng.uniform(0.8, 2.0)
    if start is None:
        start, end = _gesture_window(n, rng, 1.0 + hold)
    else:
        end = min(start + seconds(1.0 + hold), n - 1)
    direction = rng.choice(["forward", "side", "up"]) if direction is None else direction
    aim = {"forward": [0.05, 0.05, 0.52], "side": [0.42, 0.05, 0.30], "up": [0.08, 0.38, 0.36]}[direction]
    weight = envelope(n, start, end, seconds(0.4))
    blend_hand(tracks, side, np.tile(mirror_x(aim, side), (n, 1)), np.tile(mirror_x([0.5, -1.0, 0.0], side), (n, 1)),
               weight)
    look = {"forward": 0.0, "side": 0.5, "up": 0.2}[direction] * SIDE_SIGN[side]
    tracks.neck[:, 2] += look * weight
    tracks.neck[:, 0] -= (0.25 if direction == "up" else 0.0) * weight
    tracks.spine[:, 2] += 0.3 * look * weight
    return direction


def _point_phrases(p):
    where = {"forward": "straight ahead", "side": "to the {side}", "up": "upward"}[p["direction"]]
    return (["points " + where + " with the {side} hand", "points with the {side} arm", "points at something " + where,
             "extends the {side} arm and points " + where, "raises the {side} hand to point " + where,
             "points " + where, "uses the {side} hand to point at something", "is pointing " + where,
             "points the {side} index finger " + where, "points the {side} arm " + where,
             "makes a pointing gesture " + where + " with the {side} hand", "points a finger " + where],
            {"side": SIDE_NAMES[p["side"]]})


def _point_contexts(p):
    return ["to show the way", "to give directions", "at something in the distance", "toward a building",
            "for a friend to see", "to draw attention to something", "at a bird", "to show where to go"]


@gesture("point", lambda rng: {**_sample_gesture(rng, 2.0, 5.0), "side": int(rng.integers(2)),
                               "direction": str(rng.choice(["forward", "side", "up"]))}, _point_phrases,
         _point_contexts)
def apply_point(rng, p, tracks):
    point_arm(tracks, rng, p["side"], p["energy"], direction=p["direction"])


def _punch_phrases(p):
    hand = "both fists" if p["side"] == 2 else "the {side} fist"
    words = {"side": ("left", "right", "")[p["side"]], "count": COUNT_WORDS.get(p["count"], "")}
    return (["punches forward " + ("with " + hand if p["side"] < 2 else "alternating hands"),
             "throws punches", "punches the air {count}", "boxes with " + hand, "throws a series of punches",
             "punches straight ahead", "jabs forward with " + hand, "is punching like a boxer",
             "throws quick jabs", "strikes forward with " + hand, "punches forward {count}", "does some shadow boxing",
             "punches out with " + hand], words)


def _punch_contexts(p):
    return ["at a heavy bag", "in a fight", "as part of a workout", "in a martial arts drill",
            "at an imaginary opponent", "during boxing practice", "to defend themselves", "with a tight guard"]


@gesture("punch", lambda rng: {**_sample_gesture(rng, 2.0, 6.0, (1, 6)), "side": int(rng.integers(3))},
         _punch_phrases, _punch_contexts)
def apply_punch(rng, p, tracks):
    n = tracks.n_frames
    interval = rng.uniform(0.35, 0.6) / p["energy"]
    _fit_repeats(p, n, interval, 0.8)
    start, end = _gesture_window(n, rng, 0.8 + p["count"] * interval)
    guard_w = envelope(n, start, end, seconds(0.35))
    for side in range(2):
        guard = np.tile(mirror_x([-0.10, -0.12, 0.22], side), (n, 1))
        blend_hand(tracks, side, guard, np.tile(mirror_x([0.6, -1.0, -0.2], side), (n, 1)), guard_w)
    for i in range(p["count"]):
        side = p["side"] if p["side"] < 2 else i % 2
        hit = start + seconds(0.45 + i * interval)
        times = [hit - 3, hit, hit + 1, hit + 5]
        w = keyframes(n, times, [0.0, 1.0, 1.0, 0.0])
        blend_hand(tracks, side, np.tile(mirror_x([-0.12, -0.02, 0.50], side), (n, 1)),
                   np.tile(mirror_x([0.8, -1.0, 0.0], side), (n, 1)), w)
        tracks.spine[:, 2] -= 0.25 * SIDE_SIGN[side] * w
        tracks.pelvis[:, 2] -= 0.08 * SIDE_SIGN[side] * w


def _throw_phrases(p):
    return (["throws something with the {side} hand", "throws a ball overhand", "makes a throwing motion with the {side} arm",
             "winds up and throws", "throws an object forward", "pitches a ball with the {side} hand",
             "throws something far", "tosses an object forward with the {side} arm", "throws a rock",
             "hurls a ball with the {side} arm", "flings something forward", "tosses a ball overhand",
             "throws a frisbee with the {side} hand", "lobs an object forward", "hurls something far"],
            {"side": SIDE_NAMES[p["side"]]})


def _throw_contexts(p):
    return ["to a friend", "at a target", "into a basket", "toward a teammate", "across the yard", "with great force",
            "in a game of catch", "into a lake", "over a fence", "to a dog"]


@gesture("throw", lambda rng: {**_sample_gesture(rng, 2.5, 5.0), "side": int(rng.integers(2))}, _throw_phrases,
         _throw_contexts)
def apply_throw(rng, p, tracks):
    n = tracks.n_frames
    side, sx = p["side"], SIDE_SIGN[p["side"]]
    start, end = _gesture_window(n, rng, 2.0)
    times = np.array([start, start + 12, start + 16, start + 20, start + 26, end])
    hand = [HAND_REST[side], mirror_x([0.18, 0.25, -0.28], side), mirror_x([0.05, 0.35, 0.15], side),
            mirror_x([-0.10, 0.05, 0.50], side), mirror_x([-0.25, -0.35, 0.30], side), HAND_REST[side]]
    pole = np.tile(mirror_x([1.0, -0.8, -0.3], side), (n, 1))
    blend_hand(tracks, side, keyframes(n, times, hand), pole, np.ones(n))
    e = p["energy"]
    tracks.spine[:, 2] += keyframes(n, times, [0, 0.45 * sx, 0.2 * sx, -0.35 * sx, -0.4 * sx, 0]) * e
    tracks.spine[:, 0] += keyframes(n, times, [0, -0.15, -0.05, 0.25, 0.35, 0]) * e
    tracks.pelvis[:, 2] += keyframes(n, times, [0, 0.15 * sx, 0.05 * sx, -0.12 * sx, -0.15 * sx, 0]) * e
    other = 1 - side
    blend_hand(tracks, other, np.tile(mirror_x([0.1, -0.15, 0.35], other), (n, 1)),
               np.tile(mirror_x([1.0, -0.8, -0.3], other), (n, 1)), envelope(n, start, end, 8))


def _stretch_phrases(p):
    return (["stretches the arms above the head", "stretches", "reaches up and stretches", "does a full body stretch",
             "stretches both arms up and leans to the sides", "raises the arms and stretches the body",
             "stretches after waking up", "reaches high and stretches", "stretches out", "has a good stretch",
             "stretches the whole body upward", "extends the arms overhead in a stretch", "stretches tall",
             "does a standing stretch with the arms up", "stretches and yawns"], {})


def _stretch_contexts(p):
    return ["to loosen up", "to wake up", "to relieve tension", "with a big yawn", "to get the blood flowing",
            "upon getting out of bed", "to limber up", "at the start of the day", "to ease a stiff body"]


@gesture("stretch", lambda rng: _sample_gesture(rng, 3.5, 7.0), _stretch_phrases, _stretch_contexts)
def apply_stretch(rng, p, tracks):
    n = tracks.n_frames
    start, end = _gesture_window(n, rng, min(p["duration"] - 0.6, 5.0))
    weight = envelope(n, start, end, seconds(0.8))
    for side in range(2):
        blend_hand(tracks, side, np.tile(mirror_x([-0.08, 0.50, 0.03], side), (n, 1)),
                   np.tile(mirror_x([1.0, 0.2, -0.3], side), (n, 1)), weight)
    mid = 0.5 * (start + end)
    lean = float(rng.uniform(0.15, 0.35)) * p["energy"]
    tracks.spine[:, 1] += keyframes(n, [start + 15, mid - 5, mid + 5, end - 15], [0, lean, -lean, 0]) * weight
    tracks.spine[:, 0] -= 0.12 * weight
    tracks.collar += 0.25 * weight[:, None]
    tracks.neck[:, 0] -= 0.2 * weight


def _circles_phrases(p):
    way = "forward" if p["forward"] else "backward"
    return (["does arm circles", "circles the arms " + way, "rotates both arms in circles",
             "holds the arms out and makes circles", "makes " + way + " circles with both arms",
             "swings the arms around in circles", "does arm circles " + way, "rotates the arms at the shoulders",
             "circles both arms " + way, "windmills the arms " + way, "makes big circles with the arms",
             "spins the arms in circles at the sides"], {})


def _circles_contexts(p):
    return ["as a warm up", "to loosen the shoulders", "during a workout", "to warm up the shoulders",
            "in a fitness class", "as part of an exercise routine", "to get the blood flowing"]


@gesture("arm_circles", lambda rng: {**_sample_gesture(rng, 3.0, 7.0, (3, 8)), "forward": bool(rng.random() < 0.5)},
         _circles_phrases, _circles_contexts)
def apply_arm_circles(rng, p, tracks):
    n = tracks.n_frames
    freq = rng.uniform(0.8, 1.6)
    _fit_repeats(p, n, 1 / freq, 1.0)
    start, end = _gesture_window(n, rng, 1.0 + p["count"] / freq)
    weight = envelope(n, start, end, seconds(0.5))
    radius = rng.uniform(0.08, 0.22) * p["energy"]
    phase = 2 * np.pi * freq * (np.arange(n) - start) / FPS * (1 if p["forward"] else -1)
    for side in range(2):
        target = np.tile(mirror_x([0.50, 0.0, 0.05], side), (n, 1))
        target[:, 1] += radius * np.sin(phase)
        target[:, 2] += radius * np.cos(phase)
        blend_hand(tracks, side, target, np.tile(np.array([0.0, -1.0, -0.3]), (n, 1)), weight)

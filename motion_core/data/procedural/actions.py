"""The action kinds of the procedural library: parameter sampling, pose tracks and caption phrases for each.

Every kind is an `ActionSpec`: `sample(rng) -> params`, `build(rng, params) -> PoseTracks` (solved to joints by
`body.solve_pose`), and `phrases(params) -> (verb phrases, slot words)` for captions. Kinds that move the arms only
set `upper_body=True` and can be layered over locomotion; locomotion kinds give gerunds ("walking") for that.
Conventions: metres, Y-up, +Z forward, 20 fps, radians; side 0 = left, 1 = right.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s

from . import gait
from .animate import add_life, blend_hand, ease, envelope, idle_tracks, keyframes, mirror_x, seconds
from .body import (ANKLE_HEIGHT, ELBOW_POLE_REST, FOOT, FOOT_REST_PITCH, FPS, HAND_REST, SIDE_SIGN, STAND_PELVIS_HEIGHT,
                   PoseTracks, foot_direction, neutral_foot_position, rotate_yaw)
from .captions import COUNT_WORDS, NUMBER_WORDS

SIDE_NAMES = ("left", "right")


@dataclass
class ActionSpec:
    """One action kind. `phrases(params)` returns (verb-phrase templates, slot words) for captions."""

    name: str
    category: str
    sample: Callable
    build: Callable
    phrases: Callable
    gerunds: Callable | None = None
    upper_body: bool = False
    apply: Callable | None = None  # upper-body kinds: apply(rng, params, tracks) layers the gesture onto tracks


ACTION_KINDS: dict[str, ActionSpec] = {}


def action(name, category, sample, phrases, gerunds=None, upper_body=False):
    """Register a build function as an action kind."""

    def register(build):
        ACTION_KINDS[name] = ActionSpec(name, category, sample, build, phrases, gerunds, upper_body)
        return build

    return register


def gesture(name, sample, phrases):
    """Register an upper-body gesture from apply(rng, params, tracks); standing alone it plays over idle standing."""

    def register(apply):
        def build(rng, p):
            tracks = idle_tracks(seconds(p["duration"]), rng, life=0.6)
            apply(rng, p, tracks)
            return tracks

        ACTION_KINDS[name] = ActionSpec(name, "arms", sample, build, phrases, None, True, apply)
        return apply

    return register


def _fit_count(p, fixed_frames, per_rep_frames):
    """Lower p["count"] so fixed + count * per_rep frames fit in a 9.8 s clip (the caption then stays true)."""
    room = int((MAX_FRAMES - fixed_frames) // max(per_rep_frames, 1))
    p["count"] = max(1, min(int(p["count"]), room))
    return p["count"]


def _counted(count, singular, plural):
    """'one squat', 'three squats' (number words up to ten)."""
    return f"{NUMBER_WORDS.get(count, str(count))} {singular if count == 1 else plural}"


def _energy(rng):
    return float(rng.uniform(0.75, 1.25))


def _duration(rng, low, high):
    return float(rng.uniform(low, high))


# ---------------------------------------------------------------------------------------------------------------
# Locomotion

def _speed_profile(n, speed, rng, start_moving, end_moving, ramp_s=0.9):
    """(T,) speed with an eased start from standing and an eased stop, unless the clip starts / ends mid-gait."""
    t = np.arange(n, dtype=float)
    profile = np.full(n, float(speed))
    if not start_moving:
        wait = seconds(rng.uniform(0.2, 0.7))
        profile *= ease((t - wait) / seconds(ramp_s))
    if not end_moving:
        wait = seconds(rng.uniform(0.3, 0.8))
        profile *= ease((n - 1 - wait - t) / seconds(ramp_s))
    return profile


def _gait_style(name, speed_scale, rng, energy):
    """A base gait style scaled to a speed and jittered so no two clips walk alike."""
    base = gait.STYLES[name]
    j = lambda: float(rng.uniform(0.85, 1.15))  # noqa: E731
    return gait.GaitStyle(
        speed=base.speed * speed_scale,
        cadence=base.cadence * speed_scale ** 0.45 * float(rng.uniform(0.93, 1.07)),
        duty=base.duty, clearance=base.clearance * j(), heel_off=base.heel_off * j(), toe_up=base.toe_up * j(),
        bob=base.bob * j(), crouch=base.crouch * j(), lean=base.lean * j() + rng.normal(0, 0.02),
        arm_swing=base.arm_swing * energy * j(), arm_bend=min(base.arm_bend * j(), 1.0),
        pelvis_yaw=base.pelvis_yaw * j(), pelvis_roll=base.pelvis_roll * j(), sway=base.sway * j(),
        stance_width=base.stance_width + rng.normal(0, 0.02), knee_lift=base.knee_lift * energy,
        head_bob=base.head_bob * j(),
    )


SPEED_SCALE = {"slow": 0.72, "normal": 1.0, "fast": 1.28}


def _sample_locomotion(rng, speeds=("slow", "normal", "fast"), low=3.0, high=9.8):
    return {"speed": str(rng.choice(speeds)), "duration": _duration(rng, low, high), "energy": _energy(rng),
            "start_moving": bool(rng.random() < 0.5), "end_moving": bool(rng.random() < 0.5)}


def _move(rng, p, style_name, travel=0.0, turn=None, ramp_s=0.9, limp_side=None):
    n = seconds(p["duration"])
    scale = SPEED_SCALE[p.get("speed", "normal")] * float(rng.uniform(0.92, 1.08))
    style = _gait_style(style_name, scale, rng, p["energy"])
    speed = _speed_profile(n, style.speed, rng, p.get("start_moving", False), p.get("end_moving", False), ramp_s)
    turn_rate = np.zeros(n) if turn is None else turn
    pad_b = 40 if p.get("start_moving") else 0
    pad_a = 40 if p.get("end_moving") else 0
    tracks = gait.locomotion(speed, np.full(n, travel), turn_rate, style, rng, pad_before=pad_b, pad_after=pad_a,
                             limp_side=limp_side)
    return add_life(tracks, rng, 0.4)


def _speed_slots(p, rng=None):
    speed = p.get("speed", "normal")
    words = {"slow": ("slowly", "at a slow pace", "leisurely"), "normal": ("", "", "at a normal pace"),
             "fast": ("quickly", "fast", "at a brisk pace")}[speed]
    return {"adv": words[0], "adv2": words[1], "adv3": words[2], "adj": {"slow": "slow", "normal": "",
                                                                         "fast": "fast"}[speed]}


def _walk_phrases(p):
    return ([
        "walks forward {adv}", "walks straight ahead {adv2}", "is walking forward {adv3}", "walks in a straight line {adv}",
        "takes several steps forward {adv}", "walks ahead {adv2}", "moves forward at a {adj} walk",
        "walks forwards {adv3}", "goes for a {adj} walk forward", "walks {adv} toward the front",
    ], _speed_slots(p))


def _walk_gerunds(p):
    return ["walking forward", "walking", "walking ahead"]


@action("walk", "locomotion", _sample_locomotion, _walk_phrases, _walk_gerunds)
def build_walk(rng, p):
    return _move(rng, p, "walk")


def _sample_speedless(rng, low=3.0, high=9.8):
    p = _sample_locomotion(rng, ("normal",), low, high)
    return p


def _jog_phrases(p):
    return (["jogs forward", "is jogging forward", "jogs in a straight line", "jogs ahead at an easy pace",
             "runs forward at a slow jog", "jogs straight ahead", "goes for a jog", "jogs forwards steadily"], {})


@action("jog", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _jog_phrases,
        lambda p: ["jogging", "jogging forward"])
def build_jog(rng, p):
    return _move(rng, p, "jog", ramp_s=1.2)


def _run_phrases(p):
    return (["runs forward", "is running forward", "runs straight ahead", "runs in a straight line",
             "runs forward quickly", "breaks into a run", "runs ahead", "runs forwards"], {})


@action("run", "locomotion", lambda rng: _sample_speedless(rng, 2.5, 8.0), _run_phrases,
        lambda p: ["running", "running forward"])
def build_run(rng, p):
    return _move(rng, p, "run", ramp_s=1.4)


def _sprint_phrases(p):
    return (["sprints forward", "sprints as fast as possible", "runs very fast", "dashes forward at full speed",
             "is sprinting ahead", "races forward", "sprints straight ahead", "runs forward at top speed"], {})


@action("sprint", "locomotion", lambda rng: {**_sample_speedless(rng, 2.5, 6.0), "start_moving": True},
        _sprint_phrases, lambda p: ["sprinting"])
def build_sprint(rng, p):
    return _move(rng, p, "sprint", ramp_s=2.0)


def _sneak_phrases(p):
    return (["sneaks forward", "tiptoes forward quietly", "creeps forward crouched", "sneaks ahead carefully",
             "walks forward stealthily", "is sneaking forward", "moves forward quietly while crouching",
             "sneaks forward slowly"], {})


@action("sneak", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _sneak_phrases,
        lambda p: ["sneaking", "sneaking forward"])
def build_sneak(rng, p):
    tracks = _move(rng, p, "sneak")
    # Hands held up in front, elbows out: the cautious sneaking posture.
    n = tracks.n_frames
    for side in range(2):
        blend_hand(tracks, side, np.tile(mirror_x([0.02, -0.30, 0.25], side), (n, 1)),
                   np.tile(mirror_x([1.0, -0.5, -0.3], side), (n, 1)), np.full(n, 0.7))
    return tracks


def _march_phrases(p):
    return (["marches forward", "marches like a soldier", "marches with high knees", "is marching forward",
             "marches ahead swinging the arms", "walks forward in a march", "marches in a straight line",
             "marches forward raising the knees"], {})


@action("march", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _march_phrases,
        lambda p: ["marching"])
def build_march(rng, p):
    return _move(rng, p, "march")


def _limp_phrases(p):
    return (["limps forward favoring the {side} leg", "walks with a limp on the {side} leg",
             "limps forward", "is limping with an injured {side} leg", "walks forward limping",
             "hobbles forward on a hurt {side} leg", "limps slowly ahead", "walks unevenly, limping on the {side} leg"],
            {"side": SIDE_NAMES[p["side"]]})


@action("limp", "locomotion", lambda rng: {**_sample_speedless(rng, 3.0, 9.8), "side": int(rng.integers(2))},
        _limp_phrases, lambda p: ["limping"])
def build_limp(rng, p):
    return _move(rng, p, "limp", limp_side=p["side"])


def _sample_side_step(rng):
    return {"duration": _duration(rng, 2.5, 7.0), "energy": _energy(rng), "start_moving": False,
            "end_moving": bool(rng.random() < 0.3), "speed": "normal"}


def _side_phrases(side):
    def phrases(p):
        return (["side steps to the {dir}", "steps sideways to the {dir}", "shuffles to the {dir}",
                 "moves sideways to the {dir}", "walks sideways to the {dir}", "sidesteps toward the {dir}",
                 "takes side steps to the {dir}", "moves to the {dir} with side steps"], {"dir": side})
    return phrases


@action("side_step_left", "locomotion", _sample_side_step, _side_phrases("left"),
        lambda p: ["side stepping to the left", "stepping sideways"])
def build_side_step_left(rng, p):
    return _move(rng, p, "side", travel=np.pi / 2)


@action("side_step_right", "locomotion", _sample_side_step, _side_phrases("right"),
        lambda p: ["side stepping to the right", "stepping sideways"])
def build_side_step_right(rng, p):
    return _move(rng, p, "side", travel=-np.pi / 2)


def _backward_phrases(p):
    return (["walks backwards", "walks backward {adv}", "steps backwards", "backs up {adv2}",
             "walks in reverse", "moves backwards step by step", "is walking backward", "retreats backwards"],
            _speed_slots(p))


@action("walk_backwards", "locomotion", lambda rng: _sample_locomotion(rng, ("slow", "normal"), 2.5, 8.0),
        _backward_phrases, lambda p: ["walking backwards"])
def build_walk_backwards(rng, p):
    return _move(rng, p, "backward", travel=np.pi)


def _sample_turn(rng):
    return {"angle": float(rng.choice([90.0, 90.0, 45.0, 135.0])) * float(rng.uniform(0.9, 1.1)),
            "duration": _duration(rng, 2.0, 4.0), "energy": _energy(rng)}


def _turn_words(p, side):
    a = p["angle"]
    amount = "slightly " if a < 60 else ("" if a < 115 else "sharply ")
    return {"dir": side, "amount": amount}


def _turn_phrases(side):
    def phrases(p):
        return (["turns {amount}to the {dir}", "turns {dir}", "turns {amount}to the {dir} in place",
                 "pivots to the {dir}", "rotates {amount}to the {dir}", "turns the body to the {dir}",
                 "steps around to face the {dir}", "turns toward the {dir} on the spot"], _turn_words(p, side))
    return phrases


def _turn_in_place(rng, p, total_angle):
    n = seconds(p["duration"])
    start = seconds(rng.uniform(0.3, 0.7))
    length = seconds(abs(total_angle) / 180.0 * rng.uniform(0.9, 1.3) + 0.4)
    t = np.arange(n, dtype=float)
    # Bell-shaped turn rate integrating to total_angle.
    u = np.clip((t - start) / length, 0, 1)
    rate = np.where((t >= start) & (t <= start + length), np.sin(np.pi * u) ** 2, 0.0)
    rate *= np.radians(total_angle) * FPS / max(rate.sum(), 1e-6)
    style = _gait_style("shuffle", 1.0, rng, p["energy"])
    style.cadence = 2.2
    tracks = gait.locomotion(np.zeros(n), np.zeros(n), rate, style, rng)
    return add_life(tracks, rng, 0.4)


@action("turn_left", "locomotion", _sample_turn, _turn_phrases("left"), lambda p: ["turning left"])
def build_turn_left(rng, p):
    return _turn_in_place(rng, p, p["angle"])


@action("turn_right", "locomotion", _sample_turn, _turn_phrases("right"), lambda p: ["turning right"])
def build_turn_right(rng, p):
    return _turn_in_place(rng, p, -p["angle"])


def _sample_curve(rng):
    p = _sample_locomotion(rng, ("slow", "normal"), 4.0, 9.8)
    p["side"] = int(rng.integers(2))
    p["turn_deg_s"] = float(rng.uniform(20, 45))
    return p


def _curve_phrases(p):
    return (["walks in a curve to the {dir}", "walks forward while curving {dir}", "walks along a curved path to the {dir}",
             "walks and gradually turns {dir}", "follows a curve to the {dir} while walking",
             "walks forward, bending to the {dir}", "walks in an arc toward the {dir}", "curves {dir} as they walk"],
            {"dir": SIDE_NAMES[p["side"]]})


@action("walk_curve", "locomotion", _sample_curve, _curve_phrases, lambda p: ["walking in a curve"])
def build_walk_curve(rng, p):
    n = seconds(p["duration"])
    sign = SIDE_SIGN[p["side"]]
    rate = np.full(n, np.radians(p["turn_deg_s"]) * sign)
    rate *= ease(np.arange(n) / seconds(1.0)) * ease((n - 1 - np.arange(n)) / seconds(1.0))
    return _move(rng, p, "walk", turn=rate)


def _sample_circle(rng):
    return {"side": int(rng.integers(2)), "radius": float(rng.uniform(1.0, 2.0)), "energy": _energy(rng),
            "speed": "normal", "start_moving": False, "end_moving": False}


def _circle_phrases(p):
    turn = "counterclockwise" if p["side"] == 0 else "clockwise"
    return (["walks in a circle", "walks around in a circle to the {dir}", "walks in a full circle",
             "circles around {turn}", "walks in a circle {turn}", "walks a loop to the {dir}",
             "walks around in a circle", "makes a circle walking to the {dir}"],
            {"dir": SIDE_NAMES[p["side"]], "turn": turn})


@action("walk_circle", "locomotion", _sample_circle, _circle_phrases, lambda p: ["walking in a circle"])
def build_walk_circle(rng, p):
    speed = 1.05 * float(rng.uniform(0.9, 1.1))
    circle_s = 2 * np.pi * p["radius"] / speed
    p["duration"] = min(circle_s + 2.2, 9.8)
    n = seconds(p["duration"])
    rate = np.full(n, speed / p["radius"] * SIDE_SIGN[p["side"]])
    rate *= ease((np.arange(n) - 10) / 20.0) * ease((n - 1 - np.arange(n) - 14) / 20.0)
    p["speed"] = "normal"
    return _move(rng, p, "walk", turn=rate * 1.0)


def _sample_start_stop(rng):
    return {"duration": _duration(rng, 5.0, 9.8), "energy": _energy(rng), "speed": str(rng.choice(["slow", "normal"]))}


def _start_stop_phrases(p):
    return (["starts walking and then stops", "walks forward and stops", "begins to walk, then comes to a stop",
             "walks a few steps and stops", "starts to walk forward, then halts", "takes a few steps forward and stops",
             "stands, walks forward and stops", "walks forward then stands still"], _speed_slots(p))


@action("start_stop", "locomotion", _sample_start_stop, _start_stop_phrases, lambda p: ["walking"])
def build_start_stop(rng, p):
    p = {**p, "start_moving": False, "end_moving": False}
    return _move(rng, p, "walk")


# ---------------------------------------------------------------------------------------------------------------
# Idle

def _sample_stand(rng):
    return {"duration": _duration(rng, 2.0, 8.0), "energy": _energy(rng)}


def _stand_phrases(p):
    return (["stands still", "is standing in place", "stands idle", "stands and waits", "stands without moving much",
             "stays standing", "stands in one place", "is idle, standing"], {})


@action("stand", "idle", _sample_stand, _stand_phrases, lambda p: ["standing"])
def build_stand(rng, p):
    n = seconds(p["duration"])
    tracks = idle_tracks(n, rng, life=p["energy"])
    # Now and then the weight moves over one leg for a while (hip drops on the free side).
    t = 0.0
    while t < n - 30 and rng.random() < 0.7:
        t += float(rng.uniform(10, 40))
        hold = float(rng.uniform(15, 40))
        side = float(rng.choice([-1.0, 1.0]))
        w = keyframes(n, [t, t + 12, t + 12 + hold, t + 24 + hold], [0, 1, 1, 0])
        _shift_root(tracks, np.outer(w, [0.035 * side, -0.01, 0.0]))
        tracks.pelvis[:, 1] += 0.05 * side * w
        tracks.spine[:, 1] -= 0.05 * side * w
        t += 24 + hold
    return tracks


# ---------------------------------------------------------------------------------------------------------------
# Arm gestures (upper body; layerable over locomotion)

def _sample_gesture(rng, low=2.5, high=6.0, counts=(2, 5)):
    return {"duration": _duration(rng, low, high), "energy": _energy(rng),
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
                     "waves goodbye with both hands", "lifts both arms and waves them"], words)
        return (["waves with the {hand}", "waves the {hand}", "raises the {hand} and waves",
                 "waves hello with the {hand}", "waves goodbye with the {side} hand", "is waving the {side} hand",
                 "lifts the {side} arm and waves", "waves with the {side} hand {count}"], words)
    return phrases


def _apply_wave(sides):
    def apply(rng, p, tracks):
        start = None
        freq = rng.uniform(1.6, 2.6)
        _fit_repeats(p, tracks.n_frames, 1 / freq, 0.9)
        for side in sides:
            start, _ = wave_hand(tracks, rng, side, p["count"], p["energy"], start, freq)
    return apply


for _name, _sides, _word in (("wave_right", (1,), "right"), ("wave_left", (0,), "left"), ("wave_both", (0, 1), "both")):
    gesture(_name, lambda rng: _sample_gesture(rng, 2.5, 6.0, (2, 6)), _wave_phrases(_word))(_apply_wave(_sides))


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
             "claps hands in front of the chest", "is clapping", "claps {count} in a row", "gives a round of applause"],
            {"count": COUNT_WORDS.get(p["count"], "")})


@gesture("clap", lambda rng: _sample_gesture(rng, 2.5, 6.0, (3, 8)), _clap_phrases)
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
             "lifts both hands into the air", "reaches both arms up"], {})


@gesture("raise_arms", lambda rng: _sample_gesture(rng, 2.5, 6.0), _raise_phrases)
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
             "points " + where, "uses the {side} hand to point at something", "is pointing " + where],
            {"side": SIDE_NAMES[p["side"]]})


@gesture("point", lambda rng: {**_sample_gesture(rng, 2.0, 5.0), "side": int(rng.integers(2)),
                               "direction": str(rng.choice(["forward", "side", "up"]))}, _point_phrases)
def apply_point(rng, p, tracks):
    point_arm(tracks, rng, p["side"], p["energy"], direction=p["direction"])


def _punch_phrases(p):
    hand = "both fists" if p["side"] == 2 else "the {side} fist"
    words = {"side": ("left", "right", "")[p["side"]], "count": COUNT_WORDS.get(p["count"], "")}
    return (["punches forward " + ("with " + hand if p["side"] < 2 else "alternating hands"),
             "throws punches", "punches the air {count}", "boxes with " + hand, "throws a series of punches",
             "punches straight ahead", "jabs forward with " + hand, "is punching like a boxer"], words)


@gesture("punch", lambda rng: {**_sample_gesture(rng, 2.0, 6.0, (1, 6)), "side": int(rng.integers(3))},
         _punch_phrases)
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
             "throws something far", "tosses an object forward with the {side} arm"], {"side": SIDE_NAMES[p["side"]]})


@gesture("throw", lambda rng: {**_sample_gesture(rng, 2.5, 5.0), "side": int(rng.integers(2))}, _throw_phrases)
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
             "stretches after waking up", "reaches high and stretches"], {})


@gesture("stretch", lambda rng: _sample_gesture(rng, 3.5, 7.0), _stretch_phrases)
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
             "swings the arms around in circles", "does arm circles " + way, "rotates the arms at the shoulders"], {})


@gesture("arm_circles", lambda rng: {**_sample_gesture(rng, 3.0, 7.0, (3, 8)), "forward": bool(rng.random() < 0.5)},
         _circles_phrases)
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


# ---------------------------------------------------------------------------------------------------------------
# Whole-body helpers

def _body_to_world(tracks, local):
    """Body-frame vectors (n, 3) (x left, z forward of the heading) to world vectors."""
    return rotate_yaw(local, tracks.heading)


def _shift_root(tracks, local_offset):
    """Move the pelvis by a body-frame offset (n, 3); feet stay put."""
    tracks.root += _body_to_world(tracks, local_offset)


def _ankle_from_toe(toe, yaw, pitch):
    """Ankle position for a foot whose ball stays at `toe` (n, 3), heel raised by `pitch` (n,)."""
    total = FOOT_REST_PITCH.mean() + pitch
    return toe - FOOT.mean() * foot_direction(yaw, total)


def _hanging_hands(tracks, flex, weight=None):
    """Keep the arms hanging with gravity while the trunk bends forward by `flex` (n,)."""
    n = tracks.n_frames
    w = np.ones(n) if weight is None else weight
    for side in range(2):
        target = np.stack([np.full(n, 0.05 * SIDE_SIGN[side]), -0.50 * np.cos(flex), 0.50 * np.sin(flex) + 0.06], -1)
        blend_hand(tracks, side, target, np.tile(ELBOW_POLE_REST[side], (n, 1)), w)


def _contacts_tracks(tracks, contacts, style):
    """Replace both feet of tracks with the ones planned by per-foot contact lists."""
    n = tracks.n_frames
    for side in range(2):
        ankle, yaw, pitch, contact = gait.foot_tracks(contacts[side], n, style)
        tracks.ankle[side], tracks.foot_yaw[side], tracks.foot_pitch[side], tracks.contact[side] = \
            ankle, yaw, pitch, contact


def _spot(tracks, side, frame, forward=0.0, width=0.0):
    f = min(max(int(frame), 0), tracks.n_frames - 1)
    return neutral_foot_position(tracks.root[f:f + 1], tracks.heading[f:f + 1], side, width, forward)[0]


# ---------------------------------------------------------------------------------------------------------------
# Jumps

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
    tracks.root += _body_to_world(tracks, root_shift)
    style.clearance = 0.0
    _contacts_tracks(tracks, contacts, style)
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
        held = tracks.root + _body_to_world(tracks, np.tile([SIDE_SIGN[s] * 0.10, -0.62, -0.22], (n, 1)))
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
            "energy": _energy(rng), "duration": _duration(rng, low, high)}


def _jump_timing(rng, p, flight, gap):
    lead = seconds(rng.uniform(0.6, 1.0))
    count = _fit_count(p, lead + seconds(1.0), flight + gap)
    starts = [lead + i * (flight + gap) for i in range(count)]
    n = min(max(seconds(p["duration"]), starts[-1] + flight + seconds(1.0)), MAX_FRAMES)
    p["duration"] = n / FPS
    return n, starts


def _flight_frames(height):
    return max(int(round(2 * np.sqrt(2 * height / 9.81) * FPS)), 4)


def _jump_phrases(p):
    return (["jumps in place", "jumps up and down {count}", "jumps straight up", "hops in place {count}",
             "jumps {count} on the spot", "does a vertical jump", "jumps up in place", "bounces up and down"],
            {"count": COUNT_WORDS.get(p["count"], "")})


@action("jump_in_place", "jumps", _sample_jumps, _jump_phrases, lambda p: ["jumping"])
def build_jump_in_place(rng, p):
    flight = _flight_frames(p["height"])
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.5, 0.8)))
    return _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                        [(0.0, 0.0)] * p["count"], [0.0] * p["count"], p["energy"])


def _jump_forward_phrases(p):
    return (["jumps forward", "leaps forward", "jumps forward with both feet", "does a long jump forward",
             "jumps ahead {count}", "hops forward with both legs", "jumps far forward", "takes a big jump forward"],
            {"count": COUNT_WORDS.get(p["count"], "")})


@action("jump_forward", "jumps", lambda rng: {**_sample_jumps(rng, (1, 3)), "distance": float(rng.uniform(0.4, 1.1))},
        _jump_forward_phrases, lambda p: ["jumping forward"])
def build_jump_forward(rng, p):
    flight = _flight_frames(p["height"]) + 2
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.6, 0.9)))
    return _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                        [(0.0, p["distance"])] * p["count"], [0.0] * p["count"], p["energy"])


def _hop_phrases(p):
    return (["hops on the {side} leg", "hops on one leg", "jumps on the {side} foot {count}",
             "hops on one foot", "balances on the {side} leg and hops", "hops {count} on the {side} foot",
             "jumps on one leg", "hops forward on the {side} leg"],
            {"side": SIDE_NAMES[p["side"]], "count": COUNT_WORDS.get(p["count"], "")})


@action("hop_on_one_leg", "jumps", lambda rng: {**_sample_jumps(rng, (2, 6)), "side": int(rng.integers(2)),
                                                "height": float(rng.uniform(0.06, 0.14))},
        _hop_phrases, lambda p: ["hopping"])
def build_hop_on_one_leg(rng, p):
    flight = _flight_frames(p["height"])
    n, starts = _jump_timing(rng, p, flight, seconds(rng.uniform(0.25, 0.45)))
    hop = float(rng.uniform(0.0, 0.3))
    tracks = _jump_series(rng, n, starts, [flight] * p["count"], [p["height"]] * p["count"],
                          [(0.0, hop)] * p["count"], [0.0] * p["count"], p["energy"] * 0.5, one_leg=p["side"],
                          bend=0.5)
    # Balance: shift over the standing leg, arms a little out.
    w = envelope(n, starts[0] - 14, starts[-1] + flight + 10, 8)
    _shift_root(tracks, np.outer(w, [SIDE_SIGN[p["side"]] * 0.06, 0.0, 0.0]))
    for side in range(2):
        blend_hand(tracks, side, np.tile(mirror_x([0.30, -0.35, 0.10], side), (n, 1)),
                   np.tile(ELBOW_POLE_REST[side], (n, 1)), 0.6 * w)
    return tracks


def _jacks_phrases(p):
    return (["does jumping jacks", "does {jacks}", "performs jumping jacks",
             "jumps while spreading the arms and legs", "does star jumps", "is doing jumping jacks",
             "does jumping jacks as a warm up", "jumps spreading legs and clapping hands above the head"],
            {"jacks": _counted(p["count"], "jumping jack", "jumping jacks")})


@action("jumping_jacks", "jumps", lambda rng: {**_sample_jumps(rng, (2, 6), 3.0, 7.0),
                                               "height": float(rng.uniform(0.05, 0.1))}, _jacks_phrases,
        lambda p: ["doing jumping jacks"])
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


# ---------------------------------------------------------------------------------------------------------------
# Leg actions

def _foot_keys(tracks, side, times, local_keys, home_frame=0):
    """Ankle targets (n, 3) from body-frame keys relative to the foot's home spot (x lateral, y height, z forward)."""
    n = tracks.n_frames
    local = keyframes(n, times, local_keys)
    home = tracks.ankle[side, home_frame].copy()
    heading = np.full(n, tracks.heading[home_frame])
    out = home + rotate_yaw(local, heading)
    return out


def _kick_phrases(side):
    def phrases(p):
        return (["kicks with the {side} leg", "kicks forward with the {side} foot", "does a {side} leg kick {count}",
                 "kicks the {side} leg out in front", "kicks something with the {side} foot", "kicks {count} with the {side} leg",
                 "lifts the {side} leg and kicks", "performs a front kick with the {side} leg"],
                {"side": side, "count": COUNT_WORDS.get(p["count"], "")})
    return phrases


def _build_kick(side):
    def build(rng, p):
        interval = seconds(rng.uniform(0.9, 1.3))
        lead = seconds(rng.uniform(0.5, 0.9))
        _fit_count(p, lead + seconds(0.8), interval)
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
        _shift_root(tracks, np.outer(balance, [SIDE_SIGN[stand_side] * 0.07, -0.02, -0.03]))
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
                        "energy": _energy(rng), "duration": _duration(rng, 2.0, 5.0)},
           _kick_phrases(SIDE_NAMES[_side]))(_build_kick(_side))


def _squat_phrases(p):
    return (["squats down and stands back up", "does {squats}", "squats {count}", "bends the knees into a squat",
             "performs squats", "crouches down and rises again", "squats down low", "does a deep squat"],
            {"squats": _counted(p["count"], "squat", "squats"), "count": COUNT_WORDS.get(p["count"], "")})


@action("squat", "legs", lambda rng: {"count": int(rng.integers(1, 5)), "depth": float(rng.uniform(0.2, 0.42)),
                                      "energy": _energy(rng), "duration": _duration(rng, 2.5, 6.0)}, _squat_phrases)
def build_squat(rng, p):
    rep = seconds(rng.uniform(1.6, 2.4))
    lead = seconds(rng.uniform(0.4, 0.8))
    _fit_count(p, lead + seconds(0.5), rep)
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
    _shift_root(tracks, np.outer(curve, [0.0, -d, -0.35 * d]))
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
             "performs a lunge", "lunges forward and steps back"],
            {"side": SIDE_NAMES[p["side"]], "lunges": _counted(p["count"], "forward lunge", "forward lunges"),
             "count": COUNT_WORDS.get(p["count"], "")})


@action("lunge", "legs", lambda rng: {"count": int(rng.integers(1, 3)), "side": int(rng.integers(2)),
                                      "depth": float(rng.uniform(0.22, 0.36)), "energy": _energy(rng),
                                      "duration": _duration(rng, 3.0, 6.0)}, _lunge_phrases)
def build_lunge(rng, p):
    rep = seconds(rng.uniform(2.2, 3.0))
    lead = seconds(rng.uniform(0.4, 0.8))
    _fit_count(p, lead + seconds(0.4), rep)
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
    _shift_root(tracks, np.outer(curve, [0.0, -p["depth"], 0.42 * length]))
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
             "steps back and kneels on one knee" + ("" if not p["stand_up"] else ", then stands")],
            {"side": SIDE_NAMES[p["side"]]})


@action("kneel", "legs", lambda rng: {"side": int(rng.integers(2)), "stand_up": bool(rng.random() < 0.6),
                                      "energy": _energy(rng), "duration": _duration(rng, 4.0, 8.0)}, _kneel_phrases)
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
    _shift_root(tracks, np.outer(shift, target) * np.array([1, 0, 1]) + np.outer(kneel, target * np.array([0, 1, 0])))
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
                 "sits down briefly before standing up", "sits and then gets up"], {})
    return (["sits down", "sits down on a chair", "takes a seat", "sits down slowly", "lowers themself into a chair",
             "sits on a chair", "sits down on something behind them", "bends the knees and sits down"], {})


@action("sit_down_stand_up", "legs", lambda rng: {"stand_up": bool(rng.random() < 0.6), "energy": _energy(rng),
                                                  "duration": _duration(rng, 4.0, 9.0)}, _sit_phrases)
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
    _shift_root(tracks, np.outer(sit, [0.0, height - STAND_PELVIS_HEIGHT, -0.38]))
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


# ---------------------------------------------------------------------------------------------------------------
# Whole-body actions

def _bow_phrases(p):
    deep = "deeply " if p["depth"] > 0.8 else ""
    return (["bows " + deep + "forward", "bows {count}", "takes a bow", "bends forward at the waist in a bow",
             "bows politely", "bows down " + deep + "and straightens up", "gives a " + ("deep " if deep else "") + "bow",
             "leans forward to bow and stands back up"], {"count": COUNT_WORDS.get(p["count"], "")})


@action("bow", "whole_body", lambda rng: {"count": int(rng.integers(1, 3)), "depth": float(rng.uniform(0.45, 1.1)),
                                          "energy": _energy(rng), "duration": _duration(rng, 2.5, 5.0)}, _bow_phrases)
def build_bow(rng, p):
    rep = seconds(rng.uniform(1.6, 2.4))
    lead = seconds(rng.uniform(0.3, 0.8))
    _fit_count(p, lead + seconds(0.4), rep)
    n = min(max(seconds(p["duration"]), lead + p["count"] * rep + seconds(0.4)), MAX_FRAMES)
    p["duration"] = n / FPS
    tracks = idle_tracks(n, rng, life=0.4)
    flex = np.zeros(n)
    t = np.arange(n)
    for i in range(p["count"]):
        a = lead + i * rep
        flex += keyframes(n, [a, a + 0.35 * rep, a + 0.6 * rep, a + rep], [0, 1, 1, 0]) * ((t >= a) & (t <= a + rep))
    f = p["depth"] * flex
    tracks.pelvis[:, 0] += 0.55 * f
    tracks.spine[:, 0] += 0.45 * f
    tracks.neck[:, 0] += 0.25 * f
    _shift_root(tracks, np.stack([0 * f, -0.06 * f, -0.12 * f], -1))
    if rng.random() < 0.5:
        _hanging_hands(tracks, f)
    else:
        for s in range(2):
            blend_hand(tracks, s, np.tile(mirror_x([-0.06, -0.42, 0.18], s), (n, 1)),
                       np.tile(ELBOW_POLE_REST[s], (n, 1)), flex)
    return tracks


def _sample_turn_around(rng):
    return {"side": int(rng.integers(2)), "angle": float(rng.uniform(165, 195)), "energy": _energy(rng),
            "duration": _duration(rng, 2.5, 4.5)}


def _turn_around_phrases(p):
    return (["turns around", "turns around to face the other way", "turns around to the {side}", "turns 180 degrees",
             "spins around to face backward", "turns their body all the way around", "does an about-face",
             "turns back the way they came"], {"side": SIDE_NAMES[p["side"]]})


@action("turn_around", "whole_body", _sample_turn_around, _turn_around_phrases, lambda p: ["turning around"])
def build_turn_around(rng, p):
    return _turn_in_place(rng, p, p["angle"] * SIDE_SIGN[p["side"]])


def _spin_phrases(p):
    turn = "counterclockwise" if p["side"] == 0 else "clockwise"
    return (["spins around", "spins in a circle", "spins around {count}", "turns around in a full circle",
             "spins {turn}", "does a full spin", "twirls around", "spins on the spot to the {side}"],
            {"count": {1: "once", 2: "twice"}[p["count"]], "turn": turn, "side": SIDE_NAMES[p["side"]]})


@action("spin", "whole_body", lambda rng: {"side": int(rng.integers(2)), "count": int(rng.choice([1, 1, 2])),
                                           "energy": _energy(rng), "duration": _duration(rng, 2.5, 4.5)},
        _spin_phrases, lambda p: ["spinning"])
def build_spin(rng, p):
    total = 360.0 * p["count"] * SIDE_SIGN[p["side"]]
    n = seconds(p["duration"])
    start = seconds(rng.uniform(0.3, 0.6))
    length = seconds(p["count"] * rng.uniform(0.9, 1.3))
    n = max(n, start + length + seconds(0.6))
    p["duration"] = n / FPS
    t = np.arange(n, dtype=float)
    u = np.clip((t - start) / length, 0, 1)
    rate = np.where((t >= start) & (t <= start + length), np.sin(np.pi * u) ** 2, 0.0)
    rate *= np.radians(total) * FPS / max(rate.sum(), 1e-6)
    style = _gait_style("shuffle", 1.0, rng, p["energy"])
    style.cadence = 3.2
    style.duty = 0.55
    tracks = gait.locomotion(np.zeros(n), np.zeros(n), rate, style, rng, first_side=p["side"])
    w = envelope(n, start - 4, start + length + 4, 6)
    for s in range(2):
        blend_hand(tracks, s, np.tile(mirror_x([0.35, -0.30, 0.10], s), (n, 1)),
                   np.tile(ELBOW_POLE_REST[s], (n, 1)), w * p["energy"] * 0.8)
    tracks.neck[:, 2] += 0.3 * np.clip(rate, -3, 3) / 3
    return add_life(tracks, rng, 0.3)


def _dance_phrases(p):
    return (["dances", "does some simple dance steps", "dances side to side", "dances to the music",
             "steps side to side in a dance", "grooves to a beat, stepping left and right", "does a little dance",
             "is dancing happily"], {})


@action("dance", "whole_body", lambda rng: {"tempo": float(rng.uniform(1.6, 2.3)), "energy": _energy(rng),
                                            "duration": _duration(rng, 4.0, 9.8), "arms": int(rng.integers(3))},
        _dance_phrases, lambda p: ["dancing"])
def build_dance(rng, p):
    n = seconds(p["duration"])
    tracks = idle_tracks(n, rng, life=0.3)
    beat = FPS / p["tempo"]
    step = float(rng.uniform(0.25, 0.4))
    # Step-touch: step out to one side, close the other foot, repeat to the other side.
    contacts = [[gait.Contact(0.0, 0.0, tracks.ankle[s, 0].copy(), float(tracks.foot_yaw[s, 0]))] for s in range(2)]
    lateral = rotate_yaw(np.array([1.0, 0.0, 0.0]), tracks.heading[0])
    centre = np.zeros(3)
    centre_keys_t, centre_keys = [0.0], [0.0]
    t0 = seconds(0.4)
    k = 0
    while t0 + (k + 1) * beat < n - beat:
        direction = 1.0 if (k // 2) % 2 == 0 else -1.0
        lead = 0 if direction > 0 else 1
        mover = lead if k % 2 == 0 else 1 - lead
        lift = t0 + k * beat
        land = lift + 0.6 * beat
        if k % 2 == 0:
            centre = centre + lateral * direction * step
        spot = contacts[mover][0].ankle + centre
        contacts[mover][-1].end = lift
        contacts[mover].append(gait.Contact(land, land, spot, contacts[mover][0].yaw))
        centre_keys_t.append(land)
        centre_keys.append(float(np.dot(centre, lateral)))
        k += 1
    for s in range(2):
        contacts[s][-1].end = n + 40.0
    _contacts_tracks(tracks, contacts, gait.GaitStyle(clearance=0.05, heel_off=0.3, toe_up=0.0))
    centre_track = keyframes(n, centre_keys_t, np.array(centre_keys))
    tracks.root += np.outer(centre_track, lateral)
    t = np.arange(n)
    pulse = 0.5 - 0.5 * np.cos(2 * np.pi * (t - t0) / beat)
    e = p["energy"]
    tracks.root[:, 1] -= 0.035 * e * pulse
    tracks.pelvis[:, 1] += 0.08 * e * np.sin(np.pi * (t - t0) / beat)
    tracks.spine[:, 1] -= 0.1 * e * np.sin(np.pi * (t - t0) / beat)
    tracks.neck[:, 0] += 0.08 * e * pulse
    sway = np.sin(np.pi * (t - t0) / beat)
    for s in range(2):
        if p["arms"] == 0:    # bent arms swinging with the beat
            target = gait.arm_swing_hands(0.5 * e * sway * SIDE_SIGN[s], 0.8, s)
        elif p["arms"] == 1:  # hands up, swaying overhead
            target = np.tile(mirror_x([0.15, 0.42, 0.1], s), (n, 1))
            target[:, 0] += 0.15 * sway
        else:                 # clapping on the beat
            target = np.tile(mirror_x([-0.14, -0.15, 0.32], s), (n, 1))
            target[:, 0] += SIDE_SIGN[s] * 0.10 * e * pulse
        blend_hand(tracks, s, target, np.tile(mirror_x([1.0, -0.8, -0.2], s), (n, 1)), envelope(n, 4, n - 4, 8))
    return tracks


def _look_phrases(p):
    return (["looks around", "looks to the left and to the right", "turns the head to look around",
             "looks around curiously", "glances left and right", "scans the surroundings", "looks over both shoulders",
             "stands and looks around"], {})


@action("look_around", "whole_body", lambda rng: {"count": int(rng.integers(2, 5)), "energy": _energy(rng),
                                                  "duration": _duration(rng, 3.0, 8.0)}, _look_phrases,
        lambda p: ["looking around"])
def build_look_around(rng, p):
    n = seconds(p["duration"])
    tracks = idle_tracks(n, rng, life=0.5)
    times, yaws, pitches = [0.0], [0.0], [0.0]
    t = float(seconds(rng.uniform(0.3, 0.8)))
    direction = float(rng.choice([-1.0, 1.0]))
    for i in range(p["count"]):
        times += [t + 8, t + 8 + seconds(rng.uniform(0.4, 1.2))]
        angle = direction * rng.uniform(0.7, 1.3) * p["energy"]
        yaws += [angle, angle]
        pitch = float(rng.uniform(-0.2, 0.2))
        pitches += [pitch, pitch]
        t = times[-1]
        direction = -direction
    times += [t + 10]
    yaws += [0.0]
    pitches += [0.0]
    look = keyframes(n, times, yaws)
    tracks.neck[:, 2] += 0.65 * look
    tracks.neck[:, 0] += keyframes(n, times, pitches)
    tracks.spine[:, 2] += 0.35 * look
    tracks.pelvis[:, 2] += 0.08 * look
    return tracks


def _stumble_phrases(p):
    return (["stumbles while walking", "trips and catches their balance", "walks and stumbles forward",
             "trips over something and recovers", "loses balance for a moment while walking", "stumbles and almost falls",
             "walks forward, trips, and keeps going", "staggers forward after tripping"], {})


@action("stumble", "whole_body", lambda rng: {"energy": _energy(rng), "duration": _duration(rng, 4.0, 8.0),
                                              "speed": "normal", "start_moving": bool(rng.random() < 0.5),
                                              "end_moving": bool(rng.random() < 0.5)},
        _stumble_phrases, lambda p: ["stumbling"])
def build_stumble(rng, p):
    n = seconds(p["duration"])
    style = _gait_style("walk", 1.0, rng, p["energy"])
    speed = _speed_profile(n, style.speed, rng, p["start_moving"], p["end_moving"])
    trip = int(n * rng.uniform(0.4, 0.6))
    t = np.arange(n)
    burst = np.exp(-0.5 * ((t - trip - 6) / 6.0) ** 2)
    speed = speed * (1 + 0.5 * burst)
    cadence = 1 + 0.8 * np.exp(-0.5 * ((t - trip - 4) / 7.0) ** 2)
    pad_b = 40 if p["start_moving"] else 0
    pad_a = 40 if p["end_moving"] else 0
    tracks = gait.locomotion(speed, np.zeros(n), np.zeros(n), style, rng, pad_before=pad_b, pad_after=pad_a,
                             cadence_scale=cadence)
    lurch = keyframes(n, [trip - 2, trip + 3, trip + 14, trip + 26], [0, 1, 0.6, 0])
    lurch *= (t >= trip - 2) & (t <= trip + 26)
    tracks.pelvis[:, 0] += 0.25 * lurch * p["energy"]
    tracks.spine[:, 0] += 0.35 * lurch * p["energy"]
    tracks.neck[:, 0] -= 0.3 * lurch
    tracks.root[:, 1] -= 0.06 * lurch
    for s in range(2):
        blend_hand(tracks, s, np.tile(mirror_x([0.25, -0.05, 0.35], s), (n, 1)),
                   np.tile(mirror_x([1.0, -0.8, -0.2], s), (n, 1)), np.clip(lurch * 1.3, 0, 1))
    return add_life(tracks, rng, 0.3)


def _skip_phrases(p):
    return (["skips forward", "skips happily", "is skipping along", "skips ahead", "skips forward cheerfully",
             "skips in a straight line", "does a skipping motion forward", "skips like a child"], {})


@action("skip", "locomotion", lambda rng: {"energy": _energy(rng), "duration": _duration(rng, 3.5, 9.0)},
        _skip_phrases, lambda p: ["skipping"])
def build_skip(rng, p):
    n = seconds(p["duration"])
    period = seconds(rng.uniform(0.55, 0.7))
    speed = float(rng.uniform(1.4, 2.0))
    start = seconds(rng.uniform(0.3, 0.6))
    count = max(2, int((n - start - seconds(0.9)) // period))
    stop = start + count * period
    t = np.arange(n, dtype=float)
    profile = speed * ease((t - start + 4) / 10.0) * ease((stop + 4 - t) / 10.0)
    tracks = idle_tracks(n, rng, life=0.3)
    root_xz, _ = gait.integrate_path(profile, np.zeros(n), np.zeros(n), tracks.root[0, [0, 2]], tracks.heading[0])
    tracks.root[:, 0], tracks.root[:, 2] = root_xz[:, 0], root_xz[:, 1]
    first = int(rng.integers(2))
    contacts = [[gait.Contact(0.0, 0.0, tracks.ankle[s, 0].copy(), float(tracks.foot_yaw[s, 0]))] for s in range(2)]
    events = []
    for k in range(count):
        side = (first + k) % 2
        t0 = start + k * period
        for a, b in ((t0, t0 + 0.22 * period), (t0 + 0.55 * period, t0 + 1.12 * period)):
            spot = _spot(tracks, side, (a + b) / 2)
            if len(contacts[side]) == 1:
                contacts[side][0].end = a - 6  # leave the standing spot
            contacts[side].append(gait.Contact(a, b, spot, contacts[side][0].yaw))
        events.append((t0, side))
    for s in range(2):
        # Both feet settle next to each other once the root has stopped.
        last = contacts[s][-1]
        land = max(stop + seconds(0.25) + 2 * s, last.end + 6)
        contacts[s].append(gait.Contact(land, n + 40.0, _spot(tracks, s, n - 1), contacts[s][0].yaw))
    style = gait.GaitStyle(clearance=0.12, heel_off=0.4, toe_up=0.0, knee_lift=0.12 * p["energy"])
    _contacts_tracks(tracks, contacts, style)
    active = ease((t - start + 4) / 8.0) * ease((stop + 4 - t) / 8.0)
    hop_mid = start + 0.385 * period
    tracks.root[:, 1] += 0.045 * p["energy"] * np.cos(2 * np.pi * (t - hop_mid) / period) * active
    swing = gait.alternating_signal(sorted(events), n)
    for s in range(2):
        blend_hand(tracks, s, gait.arm_swing_hands(-SIDE_SIGN[s] * 0.8 * p["energy"] * swing, 0.5, s),
                   np.tile(ELBOW_POLE_REST[s], (n, 1)), active)
    tracks.pelvis[:, 0] += 0.06 * active
    tracks.pelvis[:, 2] -= 0.08 * swing
    return tracks

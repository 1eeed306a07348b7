"""Locomotion kinds: walk (three speeds), jog, run, sprint, sneak, march, limp, side steps, walking backwards, turns in
place, curves, a circle, start-stop, and skipping.

All but skipping run on `gait.locomotion` (a root path plus planned footsteps); skipping plans its own contacts.
Locomotion kinds give gerunds ("walking") so gestures can be layered over them. The random mix picks its layered bases
in the order the kinds are registered here, so add new kinds at the end.
"""

import numpy as np

from .. import gait
from ..animate import add_life, blend_hand, ease, idle_tracks, mirror_x, seconds
from ..body import ELBOW_POLE_REST, FPS, SIDE_SIGN, neutral_foot_position
from ..captions import SPEED_ADJECTIVES, SPEED_WORDS
from .registry import SIDE_NAMES, action, sample_duration, sample_energy


def speed_profile(n, speed, rng, start_moving, end_moving, ramp_s=0.9):
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


def gait_style(name, speed_scale, rng, energy):
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
# Walking backwards is slow (0.7 m/s), but a quick backpedal covers over 1 m/s: "backs up quickly" must mean that.
BACKWARD_SPEED_SCALE = {**SPEED_SCALE, "fast": 1.6}


def _sample_locomotion(rng, speeds=("slow", "normal", "fast"), low=3.0, high=9.8):
    return {"speed": str(rng.choice(speeds)), "duration": sample_duration(rng, low, high), "energy": sample_energy(rng),
            "start_moving": bool(rng.random() < 0.5), "end_moving": bool(rng.random() < 0.5)}


def _move(rng, p, style_name, travel=0.0, turn=None, ramp_s=0.9, limp_side=None, speed_scale=SPEED_SCALE):
    n = seconds(p["duration"])
    scale = speed_scale[p.get("speed", "normal")] * float(rng.uniform(0.92, 1.08))
    style = gait_style(style_name, scale, rng, p["energy"])
    speed = speed_profile(n, style.speed, rng, p.get("start_moving", False), p.get("end_moving", False), ramp_s)
    turn_rate = np.zeros(n) if turn is None else turn
    pad_b = 40 if p.get("start_moving") else 0
    pad_a = 40 if p.get("end_moving") else 0
    tracks = gait.locomotion(speed, np.full(n, travel), turn_rate, style, rng, pad_before=pad_b, pad_after=pad_a,
                             limp_side=limp_side)
    return add_life(tracks, rng, 0.4)


def _speed_slots(p):
    """Speed words for a clip's speed class ({adv}: an adverb, {adj}: an adjective); each caption draws its own, so
    one clip is said at its pace many ways."""
    speed = p.get("speed", "normal")
    return {"adv": SPEED_WORDS[speed], "adj": SPEED_ADJECTIVES[speed]}


# Other verbs for a walk at each speed ("strolls" is never brisk, "hurries" never slow).
_WALK_VERBS = {
    "slow": ["strolls forward", "ambles ahead", "wanders forward slowly", "walks along at a leisurely pace",
             "takes a slow stroll forward", "saunters forward", "plods along slowly", "trudges forward",
             "strolls along {adv}", "walks forward with slow steps"],
    "normal": ["walks along", "heads forward on foot", "makes their way forward", "walks at an ordinary pace",
               "strolls ahead", "paces forward", "stomps forward", "treads forward", "walks on ahead"],
    "fast": ["hurries forward on foot", "strides ahead quickly", "walks briskly forward", "power walks ahead",
             "walks forward in a hurry", "stomps forward quickly", "rushes ahead on foot", "speed walks forward",
             "walks forward with quick steps"],
}


def _walk_phrases(p):
    return ([
        "walks forward {adv}", "walks straight ahead {adv}", "is walking forward {adv}", "walks in a straight line {adv}",
        "takes several steps forward {adv}", "walks ahead {adv}", "moves forward at a {adj} walk",
        "walks forwards {adv}", "goes for a {adj} walk forward", "walks {adv} toward the front",
    ] + _WALK_VERBS[p.get("speed", "normal")], _speed_slots(p))


def _walk_contexts(p):
    # Some reasons imply a pace: they go only with clips of that pace.
    by_speed = {"slow": ["in a relaxed way", "enjoying the view", "with nowhere to be", "lost in thought"],
                "normal": ["with steady steps", "as if going somewhere"],
                "fast": ["as if late for a meeting", "to catch a bus", "with quick purposeful steps", "in a rush"]}
    return ["toward the door", "to the other side of the room", "toward a friend", "on the way to work",
            "toward the exit", "to meet someone", "deep in thought", "with the arms swinging",
            "on an errand"] + by_speed[p.get("speed", "normal")]


def _walk_gerunds(p):
    return ["walking forward", "walking", "walking ahead"]


@action("walk", "locomotion", _sample_locomotion, _walk_phrases, _walk_gerunds, contexts=_walk_contexts,
        place="path")
def build_walk(rng, p):
    return _move(rng, p, "walk")


def _sample_speedless(rng, low=3.0, high=9.8):
    p = _sample_locomotion(rng, ("normal",), low, high)
    return p


def _jog_phrases(p):
    return (["jogs forward", "is jogging forward", "jogs in a straight line", "jogs ahead at an easy pace",
             "runs forward at a slow jog", "jogs straight ahead", "goes for a jog", "jogs forwards steadily",
             "trots along at an easy pace", "jogs along", "does an easy jog", "is out jogging",
             "jogs at a comfortable pace"], {})


def _jog_contexts(p):
    return ["for exercise", "to stay in shape", "as a warm up", "with light springy steps", "with relaxed arms",
            "to get some exercise", "around the block", "in a steady rhythm", "in workout clothes"]


@action("jog", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _jog_phrases,
        lambda p: ["jogging", "jogging forward"], contexts=_jog_contexts, place="path")
def build_jog(rng, p):
    return _move(rng, p, "jog", ramp_s=1.2)


def _run_phrases(p):
    return (["runs forward", "is running forward", "runs straight ahead", "runs in a straight line",
             "runs forward quickly", "breaks into a run", "runs ahead", "runs forwards", "runs along",
             "takes off running", "is running ahead", "runs at a good pace", "goes for a run"], {})


def _run_contexts(p):
    return ["to catch up with someone", "to get away from something", "in a hurry", "as if being chased",
            "to get somewhere quickly", "for exercise", "with long strides", "pumping the arms", "toward a friend"]


@action("run", "locomotion", lambda rng: _sample_speedless(rng, 2.5, 8.0), _run_phrases,
        lambda p: ["running", "running forward"], contexts=_run_contexts, place="path")
def build_run(rng, p):
    return _move(rng, p, "run", ramp_s=1.4)


def _sprint_phrases(p):
    return (["sprints forward", "sprints as fast as possible", "runs very fast", "dashes forward at full speed",
             "is sprinting ahead", "races forward", "sprints straight ahead", "runs forward at top speed",
             "dashes ahead", "bolts forward", "runs flat out", "sprints at full speed", "runs as fast as they can"], {})


def _sprint_contexts(p):
    return ["in a race", "to win a race", "as if racing someone", "with all their strength", "to get away",
            "pumping the arms hard", "to beat a rival", "in a short dash", "to reach something in time"]


@action("sprint", "locomotion", lambda rng: {**_sample_speedless(rng, 2.5, 6.0), "start_moving": True},
        _sprint_phrases, lambda p: ["sprinting"], contexts=_sprint_contexts, place="path")
def build_sprint(rng, p):
    return _move(rng, p, "sprint", ramp_s=2.0)


def _sneak_phrases(p):
    return (["sneaks forward", "tiptoes forward quietly", "creeps forward crouched", "sneaks ahead carefully",
             "walks forward stealthily", "is sneaking forward", "moves forward quietly while crouching",
             "sneaks forward slowly", "creeps ahead on tiptoe", "sneaks along", "walks forward on tiptoes",
             "moves stealthily ahead", "steals forward quietly"], {})


def _sneak_contexts(p):
    return ["to avoid being heard", "so as not to wake anyone", "trying not to make a sound", "to surprise someone",
            "like a cat", "to stay hidden", "like a spy", "without making a noise"]


@action("sneak", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _sneak_phrases,
        lambda p: ["sneaking", "sneaking forward"], contexts=_sneak_contexts, place="path")
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
             "marches forward raising the knees", "marches along", "marches ahead in step", "does a military march",
             "walks forward with a marching step", "walks in a soldierly way, knees high",
             "walks with a military step", "walks stiffly, lifting the knees high"], {})


def _march_contexts(p):
    return ["in a parade", "to a steady beat", "with a proud posture", "on parade", "with the arms swinging stiffly",
            "in military style", "like a toy soldier", "to the sound of a drum"]


@action("march", "locomotion", lambda rng: _sample_speedless(rng, 3.0, 9.8), _march_phrases,
        lambda p: ["marching"], contexts=_march_contexts, place="path")
def build_march(rng, p):
    return _move(rng, p, "march")


def _limp_phrases(p):
    return (["limps forward favoring the {side} leg", "walks with a limp on the {side} leg",
             "limps forward", "is limping with an injured {side} leg", "walks forward limping",
             "hobbles forward on a hurt {side} leg", "limps slowly ahead", "walks unevenly, limping on the {side} leg",
             "limps along on the {side} leg", "walks with a painful {side} leg", "hobbles ahead", "limps ahead"],
            {"side": SIDE_NAMES[p["side"]]})


def _limp_contexts(p):
    return ["in pain", "with a sprained {side} ankle", "with an injured {side} foot", "favoring the {side} side",
            "because of a hurt {side} knee", "slowly and painfully", "dragging the {side} leg a little",
            "with a sore {side} leg"]


@action("limp", "locomotion", lambda rng: {**_sample_speedless(rng, 3.0, 9.8), "side": int(rng.integers(2))},
        _limp_phrases, lambda p: ["limping"], contexts=_limp_contexts, place="path")
def build_limp(rng, p):
    return _move(rng, p, "limp", limp_side=p["side"])


def _sample_side_step(rng):
    return {"duration": sample_duration(rng, 2.5, 7.0), "energy": sample_energy(rng), "start_moving": False,
            "end_moving": bool(rng.random() < 0.3), "speed": "normal"}


def _side_phrases(side):
    def phrases(p):
        return (["side steps to the {dir}", "steps sideways to the {dir}", "shuffles sideways toward the {dir}",
                 "moves sideways to the {dir}", "walks sideways to the {dir}", "sidesteps toward the {dir}",
                 "takes side steps to the {dir}", "moves to the {dir} with side steps", "steps to the {dir} sideways",
                 "slides sideways to the {dir}", "side steps toward the {dir}", "crosses to the {dir} with side steps",
                 "moves laterally to the {dir}"], {"dir": side})
    return phrases


def _side_contexts(p):
    return ["to make room for someone", "to get out of the way", "along a wall", "to avoid something",
            "keeping the body facing forward", "in a defensive stance", "as a warm up drill", "to let someone pass"]


@action("side_step_left", "locomotion", _sample_side_step, _side_phrases("left"),
        lambda p: ["side stepping to the left", "stepping sideways"], contexts=_side_contexts, place="path")
def build_side_step_left(rng, p):
    return _move(rng, p, "side", travel=np.pi / 2)


@action("side_step_right", "locomotion", _sample_side_step, _side_phrases("right"),
        lambda p: ["side stepping to the right", "stepping sideways"], contexts=_side_contexts, place="path")
def build_side_step_right(rng, p):
    return _move(rng, p, "side", travel=-np.pi / 2)


def _backward_phrases(p):
    return (["walks backwards {adv}", "walks backward {adv}", "keeps stepping backwards", "backs up {adv}",
             "walks in reverse {adv}", "moves backwards step by step", "is walking backward", "retreats backwards",
             "backs away {adv}", "walks backward {adv}", "takes several steps backward",
             "moves backward {adv}", "retreats step by step", "backpedals {adv}", "steps backwards {adv}"],
            _speed_slots(p))


def _backward_contexts(p):
    paced = {"slow": ["with small cautious steps", "one step at a time"], "normal": ["one step at a time"],
             "fast": ["to get out of the way", "away from a charging dog"]}
    return ["away from something", "to make some space", "away from a wall", "keeping an eye on something in front",
            "to get a better view", "away from a barking dog"] + paced[p.get("speed", "normal")]


@action("walk_backwards", "locomotion", lambda rng: _sample_locomotion(rng, ("slow", "normal", "fast"), 2.5, 8.0),
        _backward_phrases, lambda p: ["walking backwards"], contexts=_backward_contexts, place="path")
def build_walk_backwards(rng, p):
    return _move(rng, p, "backward", travel=np.pi, speed_scale=BACKWARD_SPEED_SCALE)


def _sample_turn(rng):
    return {"angle": float(rng.choice([90.0, 90.0, 45.0, 135.0])) * float(rng.uniform(0.9, 1.1)),
            "duration": sample_duration(rng, 2.0, 4.0), "energy": sample_energy(rng)}


def _turn_words(p, side):
    a = p["angle"]
    amount = "slightly " if a < 60 else ("" if a < 115 else "sharply ")
    return {"dir": side, "amount": amount}


def _turn_phrases(side):
    def phrases(p):
        return (["turns {amount}to the {dir}", "turns {dir}", "turns {amount}to the {dir} in place",
                 "pivots to the {dir}", "rotates {amount}to the {dir}", "turns the body to the {dir}",
                 "steps around to face the {dir}", "turns toward the {dir} on the spot",
                 "turns in place {amount}toward the {dir}", "rotates the body to the {dir}", "swivels to the {dir}",
                 "changes direction to the {dir}", "pivots {amount}toward the {dir}"], _turn_words(p, side))
    return phrases


def _turn_contexts(p):
    return ["to face a friend", "to look at something", "toward a sound", "to face a new direction",
            "to face the door", "to see who is calling", "to answer someone", "to face a window"]


def turn_in_place(rng, p, total_angle):
    n = seconds(p["duration"])
    start = seconds(rng.uniform(0.3, 0.7))
    length = seconds(abs(total_angle) / 180.0 * rng.uniform(0.9, 1.3) + 0.4)
    t = np.arange(n, dtype=float)
    # Bell-shaped turn rate integrating to total_angle.
    u = np.clip((t - start) / length, 0, 1)
    rate = np.where((t >= start) & (t <= start + length), np.sin(np.pi * u) ** 2, 0.0)
    rate *= np.radians(total_angle) * FPS / max(rate.sum(), 1e-6)
    style = gait_style("shuffle", 1.0, rng, p["energy"])
    style.cadence = 2.2
    tracks = gait.locomotion(np.zeros(n), np.zeros(n), rate, style, rng)
    return add_life(tracks, rng, 0.4)


@action("turn_left", "locomotion", _sample_turn, _turn_phrases("left"), lambda p: ["turning left"],
        contexts=_turn_contexts)
def build_turn_left(rng, p):
    return turn_in_place(rng, p, p["angle"])


@action("turn_right", "locomotion", _sample_turn, _turn_phrases("right"), lambda p: ["turning right"],
        contexts=_turn_contexts)
def build_turn_right(rng, p):
    return turn_in_place(rng, p, -p["angle"])


def _sample_curve(rng):
    p = _sample_locomotion(rng, ("slow", "normal"), 4.0, 9.8)
    p["side"] = int(rng.integers(2))
    p["turn_deg_s"] = float(rng.uniform(20, 45))
    return p


def _curve_phrases(p):
    return (["walks in a curve to the {dir}", "walks forward while curving {dir}", "walks along a curved path to the {dir}",
             "walks and gradually turns {dir}", "follows a curve to the {dir} while walking",
             "walks forward, bending to the {dir}", "walks in an arc toward the {dir}", "curves {dir} as they walk",
             "veers to the {dir} while walking", "walks a curved route to the {dir}", "walks and bears {dir}",
             "strolls along a bend to the {dir}"],
            {"dir": SIDE_NAMES[p["side"]]})


def _curve_contexts(p):
    return ["along a winding path", "following the road", "along the edge of a pond", "to go past an obstacle",
            "following a bend in the path", "along a curved wall", "to pass a parked car"]


@action("walk_curve", "locomotion", _sample_curve, _curve_phrases, lambda p: ["walking in a curve"],
        contexts=_curve_contexts, place="path")
def build_walk_curve(rng, p):
    n = seconds(p["duration"])
    sign = SIDE_SIGN[p["side"]]
    rate = np.full(n, np.radians(p["turn_deg_s"]) * sign)
    rate *= ease(np.arange(n) / seconds(1.0)) * ease((n - 1 - np.arange(n)) / seconds(1.0))
    return _move(rng, p, "walk", turn=rate)


def _sample_circle(rng):
    return {"side": int(rng.integers(2)), "radius": float(rng.uniform(1.0, 2.0)), "energy": sample_energy(rng),
            "speed": "normal", "start_moving": False, "end_moving": False}


def _circle_phrases(p):
    turn = "counterclockwise" if p["side"] == 0 else "clockwise"
    return (["walks in a circle", "walks around in a circle to the {dir}", "walks in a full circle",
             "circles around {turn}", "walks in a circle {turn}", "walks a loop to the {dir}",
             "walks around in a circle", "makes a circle walking to the {dir}",
             "goes around in a circle", "walks round in a loop to the {dir}", "completes a circle on foot",
             "paces in a circle"],
            {"dir": SIDE_NAMES[p["side"]], "turn": turn})


def _circle_contexts(p):
    return ["around a table", "around a tree", "around an object on the floor", "deep in thought",
            "around a fountain", "around a chair", "to look at something from every side"]


@action("walk_circle", "locomotion", _sample_circle, _circle_phrases, lambda p: ["walking in a circle"],
        contexts=_circle_contexts)
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
    return {"duration": sample_duration(rng, 5.0, 9.8), "energy": sample_energy(rng),
            "speed": str(rng.choice(["slow", "normal"]))}


def _start_stop_phrases(p):
    return (["starts walking and then stops", "walks forward and stops", "begins to walk, then comes to a stop",
             "walks a few steps and stops", "starts to walk forward, then halts", "takes a few steps forward and stops",
             "stands, walks forward and stops", "walks forward then stands still", "walks ahead {adv} and stops",
             "walks a short way and halts", "sets off walking and then stops", "walks forward a little and stops",
             "starts to walk {adv} and stops"], _speed_slots(p))


def _start_stop_contexts(p):
    return ["at a crossing", "at a red light", "in front of a door", "at the edge of the road", "at a shop window",
            "in front of a painting", "at the end of the hall", "at the top of the stairs"]


@action("start_stop", "locomotion", _sample_start_stop, _start_stop_phrases, lambda p: ["walking"],
        contexts=_start_stop_contexts, place="path")
def build_start_stop(rng, p):
    p = {**p, "start_moving": False, "end_moving": False}
    return _move(rng, p, "walk")


def _spot(tracks, side, frame, forward=0.0, width=0.0):
    """Where `side`'s ankle stands under the root at `frame` (3,)."""
    f = min(max(int(frame), 0), tracks.n_frames - 1)
    return neutral_foot_position(tracks.root[f:f + 1], tracks.heading[f:f + 1], side, width, forward)[0]


def _skip_phrases(p):
    return (["skips forward", "skips happily", "is skipping along", "skips ahead", "skips forward cheerfully",
             "skips in a straight line", "does a skipping motion forward", "skips like a child", "skips along",
             "skips merrily ahead", "goes skipping forward", "skips forward lightly"], {})


def _skip_contexts(p):
    return ["for fun", "in a playful way", "with a spring in every step", "full of joy", "without a care",
            "in a good mood", "to a tune in their head"]


@action("skip", "locomotion", lambda rng: {"energy": sample_energy(rng), "duration": sample_duration(rng, 3.5, 9.0)},
        _skip_phrases, lambda p: ["skipping"], contexts=_skip_contexts, place="path")
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
    gait.plant_feet(tracks, contacts, style)
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

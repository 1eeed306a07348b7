"""Whole-body actions in place: standing idle, bowing, turning around, spinning, dancing, looking around, stumbling."""

import numpy as np

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s

from .. import gait
from ..animate import add_life, blend_hand, envelope, idle_tracks, keyframes, mirror_x, seconds, shift_root
from ..body import ELBOW_POLE_REST, FPS, SIDE_SIGN, rotate_yaw
from ..captions import COUNT_WORDS
from .locomotion import gait_style, speed_profile, turn_in_place
from .registry import SIDE_NAMES, action, fit_count, sample_duration, sample_energy


def _sample_stand(rng):
    return {"duration": sample_duration(rng, 2.0, 8.0), "energy": sample_energy(rng)}


def _stand_phrases(p):
    return (["stands still", "is standing in place", "stands idle", "stands and waits", "stands without moving much",
             "stays standing", "stands in one place", "is idle, standing", "waits", "waits in place",
             "remains standing", "stays put", "keeps still", "stands around", "waits without moving", "stands calmly",
             "holds still"], {})


def _stand_contexts(p):
    return ["for a while", "for a few seconds", "lost in thought", "with the arms at the sides", "in a queue",
            "at a bus stop", "with nothing to do", "in a relaxed pose", "at ease", "for a friend to arrive",
            "in line at a shop"]


@action("stand", "idle", _sample_stand, _stand_phrases, lambda p: ["standing"], contexts=_stand_contexts)
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
        shift_root(tracks, np.outer(w, [0.035 * side, -0.01, 0.0]))
        tracks.pelvis[:, 1] += 0.05 * side * w
        tracks.spine[:, 1] -= 0.05 * side * w
        t += 24 + hold
    return tracks


def _hanging_hands(tracks, flex, weight=None):
    """Keep the arms hanging with gravity while the trunk bends forward by `flex` (n,)."""
    n = tracks.n_frames
    w = np.ones(n) if weight is None else weight
    for side in range(2):
        target = np.stack([np.full(n, 0.05 * SIDE_SIGN[side]), -0.50 * np.cos(flex), 0.50 * np.sin(flex) + 0.06], -1)
        blend_hand(tracks, side, target, np.tile(ELBOW_POLE_REST[side], (n, 1)), w)


def _bow_phrases(p):
    deep = "deeply " if p["depth"] > 0.8 else ""
    return (["bows " + deep + "forward", "bows {count}", "takes a bow", "bends forward at the waist in a bow",
             "bows politely", "bows down " + deep + "and straightens up", "gives a " + ("deep " if deep else "") + "bow",
             "leans forward to bow and stands back up", "bows the head and upper body", "makes a bow",
             "bends at the waist in greeting", "bows from the waist", "gives a polite bow",
             "bows {count} from the hips", "bends over in a bow and rises again"],
            {"count": COUNT_WORDS.get(p["count"], "")})


def _bow_contexts(p):
    return ["to a crowd", "in greeting", "to say thank you", "as a sign of respect", "to a guest", "to a teacher",
            "to a partner", "at the end of a show", "to the people in front of them", "to thank the crowd",
            "respectfully", "to welcome a visitor", "like a butler", "to an opponent", "at the end of a speech"]


@action("bow", "whole_body", lambda rng: {"count": int(rng.integers(1, 3)), "depth": float(rng.uniform(0.45, 1.1)),
                                          "energy": sample_energy(rng), "duration": sample_duration(rng, 2.5, 5.0)},
        _bow_phrases, contexts=_bow_contexts)
def build_bow(rng, p):
    rep = seconds(rng.uniform(1.6, 2.4))
    lead = seconds(rng.uniform(0.3, 0.8))
    fit_count(p, lead + seconds(0.4), rep)
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
    shift_root(tracks, np.stack([0 * f, -0.06 * f, -0.12 * f], -1))
    if rng.random() < 0.5:
        _hanging_hands(tracks, f)
    else:
        for s in range(2):
            blend_hand(tracks, s, np.tile(mirror_x([-0.06, -0.42, 0.18], s), (n, 1)),
                       np.tile(ELBOW_POLE_REST[s], (n, 1)), flex)
    return tracks


def _sample_turn_around(rng):
    return {"side": int(rng.integers(2)), "angle": float(rng.uniform(165, 195)), "energy": sample_energy(rng),
            "duration": sample_duration(rng, 2.5, 4.5)}


def _turn_around_phrases(p):
    return (["turns around", "turns around to face the other way", "turns around to the {side}", "turns 180 degrees",
             "spins around to face backward", "turns their body all the way around", "does an about-face",
             "turns back the way they came", "turns to face behind", "turns around on the spot", "turns back around",
             "reverses direction", "does a half turn", "turns around to face backward",
             "swings around to face the other way", "turns around over the {side} shoulder"],
            {"side": SIDE_NAMES[p["side"]]})


def _turn_around_contexts(p):
    return ["to look behind", "toward someone behind them", "when someone calls their name", "to check behind them",
            "on hearing a noise from behind", "to go back", "to head the other way", "to leave"]


@action("turn_around", "whole_body", _sample_turn_around, _turn_around_phrases, lambda p: ["turning around"],
        contexts=_turn_around_contexts)
def build_turn_around(rng, p):
    return turn_in_place(rng, p, p["angle"] * SIDE_SIGN[p["side"]])


def _spin_phrases(p):
    turn = "counterclockwise" if p["side"] == 0 else "clockwise"
    return (["spins around", "spins in a circle", "spins around {count}", "turns around in a full circle",
             "spins {turn}", "does a full spin", "twirls around", "spins on the spot to the {side}",
             "turns a full circle on the spot", "does a spin {count}", "whirls around",
             "rotates in place {count}", "spins all the way around"],
            {"count": {1: "once", 2: "twice"}[p["count"]], "turn": turn, "side": SIDE_NAMES[p["side"]]})


def _spin_contexts(p):
    return ["like a ballerina", "for fun", "with the arms out", "in a playful way", "with joy", "to show off a dress",
            "with a big smile", "like a top"]


@action("spin", "whole_body", lambda rng: {"side": int(rng.integers(2)), "count": int(rng.choice([1, 1, 2])),
                                           "energy": sample_energy(rng), "duration": sample_duration(rng, 2.5, 4.5)},
        _spin_phrases, lambda p: ["spinning"], contexts=_spin_contexts)
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
    style = gait_style("shuffle", 1.0, rng, p["energy"])
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
             "is dancing happily", "does a little side to side dance", "dances in place", "bobs and sways to a beat",
             "shows off some dance moves", "dances with simple steps", "moves to the beat"], {})


def _dance_contexts(p):
    return ["at a party", "at a wedding", "to a favorite song", "to the radio", "with joy", "for fun",
            "to a catchy tune", "in celebration", "at a club", "with a partner watching"]


@action("dance", "whole_body", lambda rng: {"tempo": float(rng.uniform(1.6, 2.3)), "energy": sample_energy(rng),
                                            "duration": sample_duration(rng, 4.0, 9.8), "arms": int(rng.integers(3))},
        _dance_phrases, lambda p: ["dancing"], contexts=_dance_contexts)
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
    gait.plant_feet(tracks, contacts, gait.GaitStyle(clearance=0.05, heel_off=0.3, toe_up=0.0))
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
             "stands and looks around", "looks all around", "glances around", "looks about", "peers around",
             "turns the head from side to side", "looks this way and that", "checks the surroundings",
             "surveys the surroundings"], {})


def _look_contexts(p):
    return ["for something", "to find a friend", "searching for something", "for a lost item", "to see who is there",
            "to get their bearings", "warily", "to see what is going on", "for the source of a noise",
            "to find the way", "for a place to go", "nervously", "with curiosity"]


@action("look_around", "whole_body", lambda rng: {"count": int(rng.integers(2, 5)), "energy": sample_energy(rng),
                                                  "duration": sample_duration(rng, 3.0, 8.0)}, _look_phrases,
        lambda p: ["looking around"], contexts=_look_contexts)
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
             "walks forward, trips, and keeps going", "staggers forward after tripping", "trips while walking",
             "walks and nearly falls", "loses footing and stumbles", "stumbles forward",
             "catches a foot and lurches forward"], {})


def _stumble_contexts(p):
    return ["on uneven ground", "on a slippery floor", "clumsily", "in the dark", "with the eyes on a phone",
            "on a loose stone", "on a rough path"]


@action("stumble", "whole_body", lambda rng: {"energy": sample_energy(rng), "duration": sample_duration(rng, 4.0, 8.0),
                                              "speed": "normal", "start_moving": bool(rng.random() < 0.5),
                                              "end_moving": bool(rng.random() < 0.5)},
        _stumble_phrases, lambda p: ["stumbling"], contexts=_stumble_contexts, place="path")
def build_stumble(rng, p):
    n = seconds(p["duration"])
    style = gait_style("walk", 1.0, rng, p["energy"])
    speed = speed_profile(n, style.speed, rng, p["start_moving"], p["end_moving"])
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

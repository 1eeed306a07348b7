"""Public entry points of the procedural motion library: single clips, chains, layers and a random mix.

All return joints (T, 22, 3) float32 in metres (Y-up, +Z forward, floor at y = 0, HumanML3D joint order) at 20 fps,
plus HumanML3D-style captions.
"""

from dataclasses import dataclass, field

import numpy as np

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s, HumanML3D's longest clip

from .actions import ACTION_KINDS
from .animate import ease
from .body import SIDED_TRACKS, FPS, PoseTracks, rotate_yaw, solve_pose
from .captions import CONTEXT_CHANCE, PLACES, caption_variants, fill, frame, pick_subject, sample_captions, tidy

BLEND_FRAMES = 10         # cross-fade between chained actions (0.5 s)
CAPTIONS_PER_CLIP = 5     # cheap (a text line, embedded once per corpus) and shows more ways to say one motion
CONNECTORS = (", then ", " and then ", ", and then ", ", after that ")


@dataclass
class Clip:
    """A generated clip with everything the corpus builder may want beyond joints and captions."""

    joints: np.ndarray                      # (T, 22, 3) float32
    captions: list
    kinds: list
    params: list
    contact: np.ndarray                     # (2, T) bool, planted feet (left, right)
    mode: str = "single"                    # single | chain | layered
    info: dict = field(default_factory=dict)


def _spec(kind):
    if kind not in ACTION_KINDS:
        raise ValueError(f"unknown action kind {kind!r}; known: {sorted(ACTION_KINDS)}")
    return ACTION_KINDS[kind]


def _params(kind, rng, overrides):
    params = _spec(kind).sample(rng)
    params.update(overrides)
    return params


def _phrase_words(kind, params):
    phrases, words = _spec(kind).phrases(params)
    return list(phrases), dict(words)


def _contexts(kind, params):
    contexts = _spec(kind).contexts
    return list(contexts(params)) if contexts else []


def clip_captions(kind, params, rng, count=CAPTIONS_PER_CLIP) -> list[str]:
    """Captions for one clip of `kind` with these parameters: distinct phrases, each with its own subject and framing
    (a context of the kind, or a place, and now and then a time)."""
    phrases, words = _phrase_words(kind, params)
    return sample_captions(rng, phrases, words, count=count, contexts=_contexts(kind, params),
                           places=PLACES[_spec(kind).place])


def caption_paraphrases(kind, **params) -> list[str]:
    """Every caption paraphrase of a kind for the given parameters (defaults sampled with seed 0 fill the rest)."""
    merged = _params(kind, np.random.default_rng(0), params)
    phrases, words = _phrase_words(kind, merged)
    return caption_variants(phrases, words)


def make_clip(kind, rng, **params) -> Clip:
    """One action kind with sampled parameters (any given parameter overrides the sampled one)."""
    params = _params(kind, rng, params)
    tracks = _spec(kind).build(rng, params)
    captions = clip_captions(kind, params, rng)
    return Clip(_finish(tracks), captions, [kind], [params], tracks.contact.copy())


def generate_clip(kind, rng, **params):
    """(joints (T, 22, 3) float32 at 20 fps, captions list[str]) for one action kind."""
    clip = make_clip(kind, rng, **params)
    return clip.joints, clip.captions


def _finish(tracks: PoseTracks) -> np.ndarray:
    joints = solve_pose(tracks)
    return joints


# ---------------------------------------------------------------------------------------------------------------
# Chains: actions one after another with blended transitions.

def _align(tracks: PoseTracks, heading, feet_mid_xz):
    """Rotate / move tracks so frame 0 faces `heading` with its feet midpoint at feet_mid_xz."""
    turn = heading - tracks.heading[0]
    out = tracks.copy()
    start_mid = tracks.ankle[:, 0].mean(axis=0)
    pivot = np.array([start_mid[0], 0.0, start_mid[2]])
    target = np.array([feet_mid_xz[0], 0.0, feet_mid_xz[1]])
    out.root = rotate_yaw(tracks.root - pivot, turn) + target
    out.ankle = rotate_yaw(tracks.ankle - pivot, turn) + target
    if tracks.knee_pole is not None:
        out.knee_pole = rotate_yaw(tracks.knee_pole, turn)
    out.heading = tracks.heading + turn
    out.foot_yaw = tracks.foot_yaw + turn
    return out


def _concat(a: PoseTracks, b: PoseTracks, blend=BLEND_FRAMES) -> PoseTracks:
    """a followed by b (already aligned), cross-faded over `blend` frames."""
    blend = max(min(blend, a.n_frames - 1, b.n_frames - 1), 0)
    w = ease((np.arange(blend) + 1) / (blend + 1))
    out = {}
    for name, va in a.__dict__.items():
        vb = b.__dict__[name]
        if not isinstance(va, np.ndarray) or vb is None:
            out[name] = va if name != "knee_pole" else None
            continue
        time_axis = 1 if name in SIDED_TRACKS else 0
        cut = (slice(None),) * time_axis
        if blend == 0:
            out[name] = np.concatenate([va, vb], axis=time_axis)
            continue
        head, xa = va[cut + (slice(0, a.n_frames - blend),)], va[cut + (slice(a.n_frames - blend, None),)]
        xb, tail = vb[cut + (slice(0, blend),)], vb[cut + (slice(blend, None),)]
        if va.dtype == bool:
            mixed = xa & xb
        else:
            shape = [1] * va.ndim
            shape[time_axis] = blend
            ww = w.reshape(shape)
            mixed = xa * (1 - ww) + xb * ww
        out[name] = np.concatenate([head, mixed, tail], axis=time_axis)
    if blend > 0:
        _step_feet_across(a, b, out, blend)
    out["info"] = {}
    if a.knee_pole is None or b.knee_pole is None:
        out["knee_pole"] = None
    return PoseTracks(**out)


def _hold_start(tracks: PoseTracks, frames: int) -> PoseTracks:
    """The clip with its first pose held for `frames` extra frames, so a cross-fade never overlaps its motion."""
    return _concat(tracks.slice(0, 1).repeat(frames), tracks, blend=0) if frames > 0 else tracks


def _step_feet_across(a: PoseTracks, b: PoseTracks, out: dict, blend: int):
    """Where a foot ends one action somewhere else than the next action starts it, take a real step there.

    Cross-fading the ankle positions would slide a planted foot; instead the foot lifts and steps during the
    transition window (left foot in the first half, right foot in the second half when both must move).
    """
    start = a.n_frames - blend
    moves = [np.hypot(*(b.ankle[s, 0] - a.ankle[s, -1])[[0, 2]]) > 0.02 for s in range(2)]
    halves = [(0, blend // 2), (blend // 2, blend)] if all(moves) else [(0, blend), (0, blend)]
    for side in range(2):
        if not moves[side]:
            continue
        lo, hi = halves[side]
        u = np.clip((np.arange(blend) - lo + 0.5) / max(hi - lo, 1), 0.0, 1.0)
        w = ease(u)[:, None]
        begin, end = a.ankle[side, -1], b.ankle[side, 0]
        path = begin + (end - begin) * w
        path[:, 1] += 0.06 * np.sin(np.pi * u)
        out["ankle"][side, start:start + blend] = path
        out["foot_pitch"][side, start:start + blend] = a.foot_pitch[side, -1] * (1 - w[:, 0]) + \
            b.foot_pitch[side, 0] * w[:, 0]
        out["contact"][side, start:start + blend] = (u <= 0.0) | (u >= 1.0)


def _chain_params(kinds, rng, max_frames):
    budget = max_frames / FPS
    params = [_params(k, rng, {}) for k in kinds]
    for i, p in enumerate(params):
        if "start_moving" in p:
            p["start_moving"] = False
            p["end_moving"] = False
        if "stand_up" in p and i < len(params) - 1:
            p["stand_up"] = True  # only the last action of a chain may end sitting or kneeling
    total = sum(p.get("duration", 3.0) for p in params)
    if total > budget:
        scale = budget / total
        for p in params:
            if "duration" in p:
                p["duration"] = max(p["duration"] * scale, 1.6)
    return params


def _chain_captions(rng, kinds, params, count=CAPTIONS_PER_CLIP):
    pieces = [(*_phrase_words(k, p), _contexts(k, p)) for k, p in zip(kinds, params)]
    out = []
    for _ in range(count):
        parts = []
        for phrases, words, contexts in pieces:
            # "then is clapping" reads badly: chains use the simple-present phrases only.
            simple = [p for p in phrases if not p.startswith("is ")] or phrases
            # Less framing than single actions (a sentence of two or three parts is long already); no places,
            # which would read as belonging to the last part only.
            body = frame(rng, fill(simple[int(rng.integers(len(simple)))], words, rng),
                         [fill(c, words, rng) for c in contexts],
                         context_chance=CONTEXT_CHANCE / 2, time_chance=0.0)
            parts.append(body)
        subject = pick_subject(rng)
        if len(parts) == 1:
            text = parts[0]
        elif len(parts) == 2:
            text = parts[0] + CONNECTORS[int(rng.integers(len(CONNECTORS)))] + parts[1]
        else:
            text = ", ".join(parts[:-1]) + ", and then " + parts[-1]
        out.append(tidy(f"{subject} {text}"))
    return out


def make_chain(kinds, rng, max_frames=MAX_FRAMES) -> Clip:
    """Actions in sequence (each from standing to standing), aligned and cross-faded, captioned with 'then'."""
    kinds = list(kinds)
    params = _chain_params(kinds, rng, max_frames)
    parts = [_spec(kind).build(rng, p) for kind, p in zip(kinds, params)]
    # Counted actions may outgrow their share: drop a last action that would be mostly cut off.
    while len(parts) > 1:
        total = sum(p.n_frames for p in parts) + (BLEND_FRAMES // 2) * (len(parts) - 1)  # holds minus fades
        if total - max_frames <= 0.3 * parts[-1].n_frames:
            break
        parts, kinds, params = parts[:-1], kinds[:-1], params[:-1]
    tracks = parts[0]
    for part in parts[1:]:
        # Cross-fade only between held poses: an action may still be settling its last step when it ends.
        tracks = _concat(tracks, tracks.slice(tracks.n_frames - 1, tracks.n_frames).repeat(BLEND_FRAMES),
                         blend=0)
        part = _hold_start(part, BLEND_FRAMES // 2)
        mid = tracks.ankle[:, -1].mean(axis=0)
        part = _align(part, tracks.heading[-1], (mid[0], mid[2]))
        tracks = _concat(tracks, part)
    if tracks.n_frames > max_frames:
        tracks = tracks.slice(0, max_frames)
    captions = _chain_captions(rng, kinds, params)
    return Clip(_finish(tracks), captions, kinds, params, tracks.contact.copy(), mode="chain")


def generate_chain(kinds, rng, max_frames=MAX_FRAMES):
    """(joints, captions) for actions in sequence, e.g. ["walk", "sit_down_stand_up"]."""
    clip = make_chain(kinds, rng, max_frames)
    return clip.joints, clip.captions


# ---------------------------------------------------------------------------------------------------------------
# Layers: an upper-body gesture over a base action (usually locomotion).

LAYER_TEMPLATES = ("{g} while {b_ing}", "{b} and {g} at the same time", "{g} while still {b_ing}",
                   "{b}, and {g} along the way", "{b} and {g} at the same time")


def make_layered(base, gesture, rng, **base_params) -> Clip:
    """A base action with an upper-body gesture layered over part of it ("waves while walking")."""
    base_spec, gesture_spec = _spec(base), _spec(gesture)
    if not gesture_spec.upper_body:
        raise ValueError(f"{gesture!r} is not an upper-body gesture; pick one of "
                         f"{sorted(k for k, s in ACTION_KINDS.items() if s.upper_body)}")
    bp = _params(base, rng, base_params)
    gp = _params(gesture, rng, {})
    tracks = base_spec.build(rng, bp)
    gesture_spec.apply(rng, gp, tracks)
    b_phrases, b_words = _phrase_words(base, bp)
    g_phrases, g_words = _phrase_words(gesture, gp)
    gerunds = base_spec.gerunds(bp) if base_spec.gerunds else ["moving"]
    captions = []
    g_phrases = [p for p in g_phrases if not p.startswith("is ")] or g_phrases
    b_phrases = [p for p in b_phrases if not p.startswith("is ")] or b_phrases
    for _ in range(CAPTIONS_PER_CLIP):
        template = LAYER_TEMPLATES[int(rng.integers(len(LAYER_TEMPLATES)))]
        text = template.format(g=fill(g_phrases[int(rng.integers(len(g_phrases)))], g_words, rng),
                               b=fill(b_phrases[int(rng.integers(len(b_phrases)))], b_words, rng),
                               b_ing=gerunds[int(rng.integers(len(gerunds)))])
        captions.append(tidy(f"{pick_subject(rng)} {text}"))
    return Clip(_finish(tracks), captions, [base, gesture], [bp, gp], tracks.contact.copy(), mode="layered")


def generate_layered(base, gesture, rng, **base_params):
    """(joints, captions) for a gesture over a base action."""
    clip = make_layered(base, gesture, rng, **base_params)
    return clip.joints, clip.captions


# ---------------------------------------------------------------------------------------------------------------
# Random mix for the corpus.

def sample_random_clip(rng, min_s=2.0, max_s=9.8):
    """A random clip: 60% single actions, 25% chains of two or three, 15% gestures over locomotion.

    Returns (joints (T, 22, 3), captions, meta) with meta = {"mode", "kinds", "params", "contact"}.
    """
    max_frames = int(round(max_s * FPS))
    min_frames = int(round(min_s * FPS))
    kinds = sorted(ACTION_KINDS)
    roll = rng.random()
    if roll < 0.6:
        clip = make_clip(kinds[int(rng.integers(len(kinds)))], rng)
    elif roll < 0.85:
        length = 2 if rng.random() < 0.75 else 3
        chain_kinds = [kinds[int(rng.integers(len(kinds)))] for _ in range(length)]
        clip = make_chain(chain_kinds, rng, max_frames)
    else:
        bases = [k for k, s in ACTION_KINDS.items() if s.gerunds and s.category == "locomotion"]
        gestures = [k for k, s in ACTION_KINDS.items() if s.upper_body]
        clip = make_layered(bases[int(rng.integers(len(bases)))], gestures[int(rng.integers(len(gestures)))], rng)
    joints = clip.joints[:max_frames]
    if len(joints) < min_frames:
        # Pad by holding the last pose a moment (rare: only very short single actions).
        joints = np.concatenate([joints, np.repeat(joints[-1:], min_frames - len(joints), axis=0)])
    meta = {"mode": clip.mode, "kinds": clip.kinds, "params": clip.params, "contact": clip.contact[:, :max_frames]}
    return joints, clip.captions, meta

"""The registry of action kinds and the small sampling helpers every kind shares.

Every kind is an `ActionSpec`: `sample(rng) -> params`, `build(rng, params) -> PoseTracks` (solved to joints by
`body.solve_pose`), `phrases(params) -> (verb phrases, slot words)` for captions, and optionally
`contexts(params) -> clause templates` (purposes, objects, styles that fit every phrase of the kind, filled with the
same slot words) and `place`, the PLACES table of captions.py its captions may name. Kinds that move the arms only
set `upper_body=True` and can be layered over locomotion; locomotion kinds give gerunds ("walking") for that.
Conventions: metres, Y-up, +Z forward, 20 fps, radians; side 0 = left, 1 = right.
"""

from dataclasses import dataclass
from typing import Callable

from motion_core.motion.protocol import MAX_FRAMES  # 9.8 s

from ..animate import idle_tracks, seconds
from ..captions import NUMBER_WORDS

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
    contexts: Callable | None = None  # contexts(params) -> clause templates appended to a phrase ("to a crowd")
    place: str = "spot"  # "path" for kinds that travel ("across the room"), "spot" for the others ("in the gym")


ACTION_KINDS: dict[str, ActionSpec] = {}


def action(name, category, sample, phrases, gerunds=None, upper_body=False, contexts=None, place="spot"):
    """Register a build function as an action kind."""

    def register(build):
        ACTION_KINDS[name] = ActionSpec(name, category, sample, build, phrases, gerunds, upper_body,
                                        contexts=contexts, place=place)
        return build

    return register


def gesture(name, sample, phrases, contexts=None):
    """Register an upper-body gesture from apply(rng, params, tracks); standing alone it plays over idle standing."""

    def register(apply):
        def build(rng, p):
            tracks = idle_tracks(seconds(p["duration"]), rng, life=0.6)
            apply(rng, p, tracks)
            return tracks

        ACTION_KINDS[name] = ActionSpec(name, "arms", sample, build, phrases, None, True, apply, contexts=contexts)
        return apply

    return register


def fit_count(p, fixed_frames, per_rep_frames):
    """Lower p["count"] so fixed + count * per_rep frames fit in a 9.8 s clip (the caption then stays true)."""
    room = int((MAX_FRAMES - fixed_frames) // max(per_rep_frames, 1))
    p["count"] = max(1, min(int(p["count"]), room))
    return p["count"]


def counted(count, singular, plural):
    """'one squat', 'three squats' (number words up to ten)."""
    return f"{NUMBER_WORDS.get(count, str(count))} {singular if count == 1 else plural}"


def sample_energy(rng):
    return float(rng.uniform(0.75, 1.25))


def sample_duration(rng, low, high):
    return float(rng.uniform(low, high))

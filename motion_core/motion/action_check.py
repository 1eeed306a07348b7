"""Does a motion show an action? Visible facts from joints, and one rule per action kind of the procedural library.

Joints: (T, 22, 3) metres, Y-up, +Z forward, 20 fps, HumanML3D 22-joint order, floor at y = 0. The floor is found
again here (generated motion may float or sink a little), and every distance threshold is written for a reference
adult (hip -> knee -> ankle 0.82 m, shoulder -> wrist 0.52 m) and scaled by the body's own leg length (arm length for
the hands). Body frame: per-frame facing from hips + shoulders (smoothed); +x is the body's left, +y up, +z forward.
Headings are in radians, positive = turned left.

    facts = Facts(joints)
    verdict = RULES["walk"](facts)                 # Verdict(passed, why)
    verdict = check_motion(joints, Expectation.parse("walk > sit_down_stand_up"))

An `Expectation` is what a prompt asks for: segments in time order ("walks, then sits"), each a set of checks that
hold together ("waves while walking"); a check is an action kind plus optional side ("left" / "right") and speed
("slow" / "fast"). Its text form, used by the prompt suite: checks joined by " + ", segments by " > ", options in
brackets: "walk[fast] + wave_right", "walk > sit_down_stand_up", "kneel[left]"; "none" means nothing to check.

numpy only (never imports torch).
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from motion_core.motion.mocap import facing_direction
from motion_core.motion.skeleton import JOINT_NAMES

FPS = 20.0
REF_LEG = 0.82  # hip -> knee -> ankle of the reference adult (SMPL's t2m skeleton), metres
REF_ARM = 0.52  # shoulder -> elbow -> wrist of the same adult
SIDES = ("left", "right")
SPEEDS = ("slow", "fast")
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
_FEET = ((_J["left_ankle"], _J["left_foot"]), (_J["right_ankle"], _J["right_foot"]))
_HIPS = (_J["left_hip"], _J["right_hip"])
_KNEES = (_J["left_knee"], _J["right_knee"])
_SHOULDERS = (_J["left_shoulder"], _J["right_shoulder"])
_ELBOWS = (_J["left_elbow"], _J["right_elbow"])
_WRISTS = (_J["left_wrist"], _J["right_wrist"])
_UP = np.array([0.0, 1.0, 0.0])
FLOOR_WINDOW_S = 0.6  # lifts shorter than twice this are not mistaken for the floor


# ---------------------------------------------------------------------------------------------------------------
# Small signal helpers

def _smooth(x, frames):
    """Centred moving average over `frames` along axis 0 (edges padded with the end values)."""
    if frames <= 1 or len(x) < 2:
        return np.asarray(x, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    half = frames // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], frames - 1 - half, 0)])
    csum = np.cumsum(padded, axis=0)
    csum = np.concatenate([np.zeros_like(csum[:1]), csum])
    return (csum[frames:] - csum[:-frames]) / frames


def _sliding(x, half, reduce):
    """reduce (np.min / np.max) of x over a window of +-half frames, ends padded with the end values."""
    padded = np.concatenate([np.full(half, x[0]), x, np.full(half, x[-1])])
    return reduce(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)


def runs(mask):
    """[(start, end)] of the True stretches of a (T,) bool array (end exclusive)."""
    mask = np.asarray(mask, dtype=bool)
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _hysteresis(x, on, off):
    """(T,) bool: True from where x rises above `on` until it falls below `off`."""
    out = np.zeros(len(x), dtype=bool)
    state = False
    for t, value in enumerate(x):  # a step depends on the one before
        state = value > on if not state else value > off
        out[t] = state
    return out


def _reversals(x, amplitude):
    """Direction reversals of x that each undo at least `amplitude` (a hysteresis turning-point count)."""
    count, direction = 0, 0
    low = high = float(x[0]) if len(x) else 0.0
    for value in x:  # a step depends on the one before
        value = float(value)
        if direction >= 0:
            if value > high:
                high = value
            elif high - value >= amplitude:
                count += direction > 0
                direction, low = -1, value
        if direction <= 0:
            if value < low:
                low = value
            elif value - low >= amplitude:
                count += direction < 0
                direction, high = 1, value
    return count


@dataclass
class Swing:
    """One foot off the floor: frames [start, end), highest lift (m) and how far it landed from where it left (m)."""

    side: int
    start: int
    end: int
    peak: float
    travel: float


# ---------------------------------------------------------------------------------------------------------------
# Facts: per-frame signals of one motion, computed on demand

class Facts:
    """Visible facts of one motion. joints: (T, 22, 3) metres, Y-up, +Z forward, 20 fps, HumanML3D order."""

    def __init__(self, joints, fps=FPS):
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 2:
            raise ValueError(f"joints must be (T >= 2, 22, 3), got {joints.shape}")
        self.fps = float(fps)
        self.n = len(joints)
        # The floor under the feet, followed over time: captured floors tilt a little and generated motion drifts up
        # or down, so a long walk would otherwise seem to float by its end. The floor is a morphological opening of
        # the lowest foot joint (min then max over +-FLOOR_WINDOW_S): it follows slopes exactly and drops every lift
        # shorter than the window (steps, jumps).
        lowest = joints[:, [a for pair in _FEET for a in pair], 1].min(axis=1)
        half = self.frames(FLOOR_WINDOW_S)
        self.floor = _smooth(_sliding(_sliding(lowest, half, np.min), half, np.max), 5)
        self.joints = joints - np.stack([np.zeros(self.n), self.floor, np.zeros(self.n)], -1)[:, None, :]
        length = lambda a, b: float(np.median(np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)))  # noqa: E731
        self.leg = float(np.mean([length(h, k) + length(k, f[0]) for h, k, f in zip(_HIPS, _KNEES, _FEET)]))
        self.arm = float(np.mean([length(s, e) + length(e, w) for s, e, w in zip(_SHOULDERS, _ELBOWS, _WRISTS)]))
        self.scale = max(self.leg, 1e-3) / REF_LEG

    def m(self, metres):
        """A reference-body distance in this body's size (by leg length)."""
        return metres * self.scale

    def a(self, metres):
        """A reference-body distance about the hands, in this body's arm length (rigs differ in proportions)."""
        return metres * self.arm / REF_ARM

    def seconds(self, frames):
        return frames / self.fps

    def frames(self, seconds):
        return max(int(round(seconds * self.fps)), 1)

    def window(self, start, end):
        """Facts of frames [start, end) (facing, floor and rest heights measured again on that window)."""
        return Facts(self.joints[start:end], self.fps)

    # ------------------------------------------------------------------ body frame
    @cached_property
    def facing(self):
        """(T, 3) unit horizontal forward of hips + shoulders, smoothed over 0.25 s."""
        f = _smooth(facing_direction(self.joints), 5)
        f[:, 1] = 0.0
        return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-9)

    @cached_property
    def left(self):
        return np.cross(_UP, self.facing)

    @cached_property
    def heading(self):
        """(T,) rad, unwrapped yaw relative to frame 0; positive = turned left."""
        yaw = np.unwrap(np.arctan2(self.facing[:, 0], self.facing[:, 2]))
        return yaw - yaw[0]

    def to_body(self, v):
        """World vectors (T, 3) -> (T, 3) in each frame's body frame (x left, y up, z forward)."""
        return np.stack([(v * self.left).sum(-1), v[:, 1], (v * self.facing).sum(-1)], axis=-1)

    # ------------------------------------------------------------------ root
    @cached_property
    def root(self):
        return self.joints[:, 0]

    @cached_property
    def velocity(self):
        """(T, 3) horizontal root velocity (m/s), smoothed over 0.25 s."""
        v = np.gradient(self.root, axis=0) * self.fps if self.n > 1 else np.zeros((self.n, 3))
        v[:, 1] = 0.0
        return _smooth(v, 5)

    @cached_property
    def speed(self):
        return np.linalg.norm(self.velocity, axis=-1)

    @cached_property
    def body_velocity(self):
        """(T, 3): x = leftward, z = forward speed in the body frame (m/s)."""
        return self.to_body(self.velocity)

    @cached_property
    def travel(self):
        """Body-frame distance covered (m): dict forward, backward, left, right, path (total)."""
        bv = self.body_velocity / self.fps
        ahead, side = bv[:, 2], bv[:, 0]
        return {"forward": float(np.clip(ahead, 0, None).sum()), "backward": float(np.clip(-ahead, 0, None).sum()),
                "left": float(np.clip(side, 0, None).sum()), "right": float(np.clip(-side, 0, None).sum()),
                "path": float(self.speed.sum() / self.fps)}

    @cached_property
    def displacement(self):
        """Root displacement first -> last frame, in the frame-0 body frame: (left, forward) metres."""
        d = self.root[-1] - self.root[0]
        return float(d @ self.left[0]), float(d @ self.facing[0])

    # ------------------------------------------------------------------ feet
    @cached_property
    def foot_height(self):
        """(2, T) lift of each whole foot above its flat-on-the-floor height: min over its ankle and ball (m)."""
        rest = [min(np.percentile(self.joints[:, f[k], 1], 5) for f in _FEET) for k in range(2)]
        return np.array([np.minimum(self.joints[:, a, 1] - rest[0], self.joints[:, b, 1] - rest[1]) for a, b in _FEET])

    @cached_property
    def foot_speed(self):
        """(2, T) speed of each foot (mean of ankle and ball), m/s."""
        out = []
        for a, b in _FEET:
            p = 0.5 * (self.joints[:, a] + self.joints[:, b])
            out.append(np.linalg.norm(np.gradient(p, axis=0), axis=-1) * self.fps if self.n > 1 else np.zeros(self.n))
        return np.array(out)

    @cached_property
    def planted(self):
        """(2, T) bool: foot on the floor: low, or still and not far up (a planted foot does not move)."""
        h, v = self.foot_height, self.foot_speed
        return (h < self.m(0.02)) | ((v < self.m(0.5)) & (h < self.m(0.05)))

    @cached_property
    def airborne(self):
        """(T,) bool: neither foot planted."""
        return ~self.planted[0] & ~self.planted[1]

    @cached_property
    def lifted(self):
        """(2, T) bool: foot off the floor (hysteresis 3.5 cm up, 2 cm down)."""
        return np.array([_hysteresis(h, self.m(0.035), self.m(0.02)) for h in self.foot_height])

    @cached_property
    def swings(self):
        """Every lift of either foot (Swing), in time order."""
        out = []
        for side, (ankle, ball) in enumerate(_FEET):
            for a, b in runs(self.lifted[side]):
                if b - a < 2:
                    continue
                before, after = max(a - 1, 0), min(b, self.n - 1)
                move = self.joints[after, ball] - self.joints[before, ball]
                move[1] = 0.0
                out.append(Swing(side, a, b, float(self.foot_height[side, a:b].max()), float(np.linalg.norm(move))))
        return sorted(out, key=lambda s: s.start)

    def steps(self, min_travel=0.12):
        """Swings that put the foot down somewhere else (at least `min_travel` reference metres away)."""
        return [s for s in self.swings if s.travel >= self.m(min_travel)]

    @cached_property
    def flights(self):
        """[(start, end)] of airborne stretches of at least 2 frames."""
        return [(a, b) for a, b in runs(self.airborne) if b - a >= 2]

    @cached_property
    def jumps(self):
        """Two-footed jumps: flights with both feet planted just before and just after, as dicts with frames, body-frame
        displacement (left, forward) of the root over the flight and the pelvis rise above its take-off height (m)."""
        out = []
        near = self.frames(0.2)
        for a, b in self.flights:
            before = slice(max(a - near, 0), a)
            after = slice(b, min(b + near, self.n))
            if a == 0 or b >= self.n:
                continue
            if not (self.planted[:, before].any(axis=1).all() and self.planted[:, after].any(axis=1).all()):
                continue
            d = self.root[min(b + 2, self.n - 1)] - self.root[max(a - 2, 0)]
            rise = float(self.root[a:b, 1].max() - self.root[max(a - near, 0):a + 1, 1].min())
            out.append({"start": a, "end": b, "left": float(d @ self.left[a]), "forward": float(d @ self.facing[a]),
                        "rise": rise})
        return out

    @cached_property
    def moving(self):
        """(T,) bool: the root travels faster than 0.25 m/s (reference body)."""
        return self.speed > self.m(0.25)

    @cached_property
    def cruise_speed(self):
        """Root speed over the moving frames (m/s; 75th percentile, so a ramp up or down does not count); 0 when it
        hardly moves."""
        return float(np.percentile(self.speed[self.moving], 75)) if self.moving.sum() >= 5 else 0.0

    @cached_property
    def flight_share(self):
        """Fraction of the moving frames with both feet off the floor (running and skipping have flight phases)."""
        return float(self.airborne[self.moving].mean()) if self.moving.sum() >= 5 else 0.0

    @cached_property
    def knee_rise(self):
        """(2, T) knee height above its standing height (m)."""
        shin = [float(np.median(np.linalg.norm(self.joints[:, k] - self.joints[:, f[0]], axis=-1)))
                for k, f in zip(_KNEES, _FEET)]
        ankle = min(np.percentile(self.joints[:, f[0], 1], 5) for f in _FEET)
        return np.array([self.joints[:, k, 1] - ankle - s for k, s in zip(_KNEES, shin)])

    @cached_property
    def knee_height(self):
        """(2, T) knee height above the floor (m)."""
        return np.array([self.joints[:, k, 1] for k in _KNEES])

    @cached_property
    def ankle_local(self):
        """(2, T, 3) each ankle relative to the pelvis, body frame."""
        return np.array([self.to_body(self.joints[:, f[0]] - self.joints[:, 0]) for f in _FEET])

    # ------------------------------------------------------------------ pelvis and trunk
    @cached_property
    def stand_height(self):
        """Pelvis height of this body standing upright (m), from its bone lengths."""
        hips = self.joints[:, list(_HIPS), 1].mean(axis=1)
        hip_drop = float(np.median(self.joints[:, 0, 1] - hips))
        ankle_rest = min(np.percentile(self.joints[:, f[0], 1], 5) for f in _FEET)
        return float(ankle_rest + 0.97 * self.leg + hip_drop)

    @cached_property
    def pelvis_drop(self):
        """(T,) how far the pelvis is below its standing height (m; positive = lower)."""
        return self.stand_height - self.joints[:, 0, 1]

    @cached_property
    def pelvis_behind_feet(self):
        """(T,) how far the pelvis is behind the midpoint of the ankles along the facing (m; sitting puts it behind)."""
        mid = 0.5 * (self.joints[:, _FEET[0][0]] + self.joints[:, _FEET[1][0]])
        return -self.to_body(self.root - mid)[:, 2]

    @cached_property
    def trunk(self):
        """(T, 3) body-frame unit vector pelvis -> neck."""
        v = self.to_body(self.joints[:, _J["neck"]] - self.joints[:, 0])
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)

    @cached_property
    def trunk_pitch(self):
        """(T,) rad forward bend of the trunk from vertical (negative = leaning back)."""
        return np.arctan2(self.trunk[:, 2], self.trunk[:, 1])

    @cached_property
    def trunk_roll(self):
        """(T,) rad sideways lean of the trunk (positive = to the left)."""
        return np.arctan2(self.trunk[:, 0], self.trunk[:, 1])

    @cached_property
    def look_yaw(self):
        """(T,) rad, where the upper body looks relative to the hips (+ = left): the shoulder line's yaw against the
        hip line's, plus the head's own yaw where the skeleton puts the head in front of the neck (SMPL / HumanML3D
        do, some mocap conversions do not)."""
        def line_yaw(a, b):
            d = self.joints[:, a] - self.joints[:, b]  # left joint minus right joint: points to the body's left
            return np.arctan2(-d[:, 2], d[:, 0])
        twist = np.angle(np.exp(1j * (line_yaw(*_SHOULDERS) - line_yaw(*_HIPS))))
        head = self.to_body(self.joints[:, _J["head"]] - self.joints[:, _J["neck"]])
        if np.median(head[:, 2]) < self.m(0.04):
            return twist
        return twist + np.arctan2(head[:, 0], head[:, 2])

    # ------------------------------------------------------------------ arms
    @cached_property
    def wrist(self):
        """(2, T, 3) each wrist relative to its own shoulder, body frame (x left, y up, z forward)."""
        return np.array([self.to_body(self.joints[:, w] - self.joints[:, s]) for s, w in zip(_SHOULDERS, _WRISTS)])

    @cached_property
    def wrist_above_head(self):
        """(2, T) wrist height minus head height (m)."""
        head = self.joints[:, _J["head"], 1]
        return np.array([self.joints[:, w, 1] - head for w in _WRISTS])

    @cached_property
    def hand_gap(self):
        """(T,) distance between the wrists (m)."""
        return np.linalg.norm(self.joints[:, _WRISTS[0]] - self.joints[:, _WRISTS[1]], axis=-1)

    @cached_property
    def arm_reach(self):
        """(2, T) shoulder -> wrist distance over the arm's length (1 = straight arm)."""
        return np.linalg.norm(self.wrist, axis=-1) / max(self.arm, 1e-3)

    @cached_property
    def wrist_speed(self):
        """(2, T) wrist speed relative to its shoulder (m/s)."""
        return np.array([np.linalg.norm(np.gradient(w, axis=0), axis=-1) * self.fps for w in self.wrist])


def _side_index(side):
    return SIDES.index(side)


def _longest(mask):
    """Length (frames) of the longest True stretch."""
    return max((b - a for a, b in runs(mask)), default=0)


# ---------------------------------------------------------------------------------------------------------------
# Rules: one per action kind (plus a few families: any wave, kick, turn, side step or jump)

@dataclass
class Verdict:
    """Whether a motion shows an action, and the visible facts that decided it."""

    passed: bool
    why: str = ""

    def __bool__(self):
        return self.passed


@dataclass(frozen=True)
class RuleSpec:
    """A rule: fn(facts, **options) -> Verdict. `related`: kinds whose motions also show this action (not clearly
    different: a curved walk is still a walk), so the rule may pass them."""

    name: str
    fn: Callable
    summary: str
    related: tuple = ()
    sides: bool = False   # takes side="left" / "right"
    speeds: bool = False  # takes speed="slow" / "fast"

    def __call__(self, facts, side=None, speed=None) -> "Verdict":
        return self.fn(facts, side=side, speed=speed)


RULES: dict[str, RuleSpec] = {}


def rule(name, summary, related=(), sides=False, speeds=False):
    """Register fn(facts, side=None, speed=None) -> list of (ok, fact text) as the rule for `name`."""

    def register(fn):
        def judge(facts, side=None, speed=None):
            options = {}
            if sides:
                options["side"] = side
            if speeds:
                options["speed"] = speed
            conditions = fn(facts, **options)
            failed = [text for ok, text in conditions if not ok]
            if failed:
                return Verdict(False, "no: " + failed[0])
            return Verdict(True, ", ".join(text for _, text in conditions if text))

        RULES[name] = RuleSpec(name, judge, summary, tuple(related), sides, speeds)
        return fn

    return register


# Cruise speeds (m/s, reference body) that read as slow / fast. Procedural walks: slow 0.86-1.02, normal 1.2-1.4,
# fast 1.53-1.8; runs 3.3-3.9 and jogs 2.2-2.6 (gait.STYLES with their jitter).
WALK_SPEEDS = {"slow": 1.15, "fast": 1.45}
RUN_SPEEDS = {"slow": 2.8, "fast": 3.2}
# Share of the moving frames with both feet off the floor from which a gait is a run: procedural jogs have 8-15%,
# runs 22-33%, real CMU runs 28% and more; walks 0, real walks up to 4% (a capture glitch of a frame or two).
RUN_FLIGHT = 0.06


def _speed_condition(f, speed, limits):
    v = f.cruise_speed / f.scale
    if speed == "slow":
        return v <= limits["slow"], f"{v:.2f} m/s (slow: at most {limits['slow']})"
    if speed == "fast":
        return v >= limits["fast"], f"{v:.2f} m/s (fast: at least {limits['fast']})"
    return True, ""


def _travel_conditions(f, direction, min_travel, min_steps, share=0.6):
    """Locomotion in one body-frame direction: enough steps, distance, and most of the travel that way."""
    tr = f.travel
    total = tr["forward"] + tr["backward"] + tr["left"] + tr["right"]
    part = tr[direction] / max(total, 1e-6)
    steps = len(f.steps())
    return [(steps >= min_steps, f"{steps} steps"),
            (tr[direction] >= f.m(min_travel), f"{tr[direction]:.1f} m {direction}"),
            (part >= share, f"{part:.0%} of the travel {direction}")]


def _net_heading(f, span_s=0.5):
    """Heading at the end minus heading at the start (rad, + = left), each a median over `span_s`."""
    k = min(f.frames(span_s), max(f.n // 4, 1))
    return float(np.median(f.heading[-k:]) - np.median(f.heading[:k]))


def _walking(f, min_travel=1.0, min_steps=3, direction="forward"):
    conditions = _travel_conditions(f, direction, min_travel, min_steps)
    conditions.append((f.flight_share < RUN_FLIGHT, f"{f.flight_share:.0%} of the moving frames in flight"))
    return conditions


def _running(f, min_travel=0.8, min_steps=3):
    conditions = _travel_conditions(f, "forward", min_travel, min_steps)
    conditions.append((f.flight_share >= RUN_FLIGHT, f"{f.flight_share:.0%} of the moving frames in flight"))
    # Running alternates the feet; a series of two-footed jumps has flights too.
    conditions.append((len(f.jumps) <= len(f.steps()) / 4, f"{len(f.jumps)} two-footed jumps"))
    return conditions


LOCOMOTION_WALKS = ("walk", "start_stop", "walk_curve", "walk_circle", "limp", "march", "sneak", "stumble")


@rule("walk", "walks forward: steps, a foot always down, most travel forward", LOCOMOTION_WALKS, speeds=True)
def _walk(f, speed=None):
    v = f.cruise_speed / f.scale
    return _walking(f) + [(0.3 <= v <= 2.4, f"{v:.2f} m/s"), _speed_condition(f, speed, WALK_SPEEDS)]


@rule("jog", "runs forward at an easy pace: flight phases, 1-3.4 m/s", ("run", "sprint", "skip"), speeds=True)
def _jog(f, speed=None):
    v = f.cruise_speed / f.scale
    return _running(f) + [(1.0 <= v <= 3.4, f"{v:.2f} m/s"), _speed_condition(f, speed, RUN_SPEEDS)]


@rule("run", "runs forward: flight phases, at least 1 m/s", ("jog", "sprint", "skip"), speeds=True)
def _run(f, speed=None):
    v = f.cruise_speed / f.scale
    return _running(f) + [(v >= 1.0, f"{v:.2f} m/s"), _speed_condition(f, speed, RUN_SPEEDS)]


@rule("sprint", "runs at top speed: flight phases, at least 4.3 m/s", ("run",))
def _sprint(f):
    v = f.cruise_speed / f.scale
    return _running(f) + [(v >= 4.3, f"{v:.2f} m/s")]


@rule("sneak", "walks forward slowly, crouched or bent forward", ("walk", "start_stop", "limp", "walk_curve"))
def _sneak(f):
    v = f.cruise_speed / f.scale
    moving = f.moving if f.moving.sum() >= 5 else np.ones(f.n, dtype=bool)
    drop = float(np.median(f.pelvis_drop[moving])) / f.scale
    pitch = float(np.degrees(np.median(f.trunk_pitch[moving])))
    return _walking(f, 0.4, 2) + [(v <= 1.0, f"{v:.2f} m/s"),
                                  (drop >= 0.08 or pitch >= 14, f"pelvis {drop:.2f} m low, trunk {pitch:.0f} deg")]


@rule("march", "walks lifting the knees high", ("walk", "start_stop"))
def _march(f):
    lifts = [float(f.knee_rise[s.side, s.start:s.end].max()) / f.scale for s in f.steps()]
    knee = float(np.median(lifts)) if lifts else 0.0
    return _walking(f) + [(knee >= 0.15, f"knees up {knee:.2f} m per step")]


@rule("limp", "limps: walks slowly and upright (which leg limps is not checked: the unevenness of the library's "
              "limps is no larger than that of real walks)", ("walk", "start_stop", "stumble", "walk_curve"))
def _limp(f):
    v = f.cruise_speed / f.scale
    moving = f.moving if f.moving.sum() >= 5 else np.ones(f.n, dtype=bool)
    drop = float(np.median(f.pelvis_drop[moving])) / f.scale
    pitch = float(np.degrees(np.median(f.trunk_pitch[moving])))
    return _walking(f, 0.5) + [(v <= 1.0, f"{v:.2f} m/s"), (drop < 0.08 and pitch < 14, "upright")]


def _side_step(direction):
    def conditions(f):
        net = abs(np.degrees(_net_heading(f)))
        return _travel_conditions(f, direction, 0.25, 2, share=0.75) + [(net <= 60, f"heading changed {net:.0f} deg")]
    return conditions


rule("side_step_left", "steps sideways to the left", ())(_side_step("left"))
rule("side_step_right", "steps sideways to the right", ())(_side_step("right"))


@rule("side_step", "steps sideways", ("side_step_left", "side_step_right"))
def _side_step_any(f):
    a, b = _side_step("left")(f), _side_step("right")(f)
    return a if all(ok for ok, _ in a) else b


@rule("walk_backwards", "walks backwards: steps, most travel backwards", (), speeds=True)
def _walk_backwards(f, speed=None):
    return _travel_conditions(f, "backward", 0.4, 2) + [_speed_condition(f, speed, {"slow": 0.6, "fast": 1.0})]


def _turn(direction):
    def conditions(f):
        net = np.degrees(_net_heading(f))
        signed = net if direction == "left" else -net
        return [(30 <= signed <= 300, f"turned {abs(net):.0f} deg to the {'left' if net > 0 else 'right'}")]
    return conditions


TURNS = ("turn_around", "spin", "walk_curve", "walk_circle")
rule("turn_left", "turns to the left (30-300 deg)", TURNS + ("turn",))(_turn("left"))
rule("turn_right", "turns to the right (30-300 deg)", TURNS + ("turn",))(_turn("right"))


@rule("turn", "turns either way (30-300 deg)", TURNS + ("turn_left", "turn_right"))
def _turn_any(f):
    a, b = _turn("left")(f), _turn("right")(f)
    return a if all(ok for ok, _ in a) else b


def _side_sign(side):
    return 1.0 if side == "left" else -1.0


@rule("turn_around", "turns around to face the other way (135-250 deg)", ("turn_left", "turn_right", "walk_curve",
                                                                           "walk_circle"), sides=True)
def _turn_around(f, side=None):
    net = np.degrees(_net_heading(f))
    conditions = [(135 <= abs(net) <= 250, f"turned {abs(net):.0f} deg")]
    if side is not None:
        conditions.append((net * _side_sign(side) > 0, f"to the {'left' if net > 0 else 'right'}"))
    return conditions


@rule("spin", "spins around: 300 deg or more within 3 s", ("turn_left", "turn_right", "turn_around"), sides=True)
def _spin(f, side=None):
    k = min(f.frames(3.0), f.n - 1)
    change = f.heading[k:] - f.heading[:-k] if k > 0 else np.zeros(1)
    best = float(np.degrees(change[np.argmax(np.abs(change))])) if len(change) else 0.0
    conditions = [(abs(best) >= 300, f"turned {abs(best):.0f} deg within 3 s")]
    if side is not None:
        conditions.append((best * _side_sign(side) > 0, f"to the {'left' if best > 0 else 'right'}"))
    return conditions


@rule("walk_curve", "walks along a curve: walking while the heading changes 35 deg or more",
      ("walk", "walk_circle", "turn_left", "turn_right", "turn_around", "stumble", "start_stop", "limp"), sides=True)
def _walk_curve(f, side=None):
    net = np.degrees(_net_heading(f))
    tr = f.travel
    conditions = [(len(f.steps()) >= 3, f"{len(f.steps())} steps"), (tr["forward"] >= f.m(1.5),
                                                                      f"{tr['forward']:.1f} m forward"),
                  (f.flight_share < RUN_FLIGHT, f"{f.flight_share:.0%} in flight"),
                  (abs(net) >= 35, f"heading changed {abs(net):.0f} deg")]
    if side is not None:
        conditions.append((net * _side_sign(side) > 0, f"curving {'left' if net > 0 else 'right'}"))
    return conditions


@rule("walk_circle", "walks in a circle: walking while the heading changes 210 deg or more",
      ("walk_curve", "turn_left", "turn_right", "turn_around"), sides=True)
def _walk_circle(f, side=None):
    total = float(np.degrees(f.heading[-1] - f.heading[0]))
    tr = f.travel
    conditions = [(len(f.steps()) >= 4, f"{len(f.steps())} steps"),
                  (tr["forward"] >= f.m(3.0), f"{tr['forward']:.1f} m forward"),
                  (abs(total) >= 210, f"heading changed {abs(total):.0f} deg")]
    if side is not None:
        conditions.append((total * _side_sign(side) > 0, f"circling {'left' if total > 0 else 'right'}"))
    return conditions


@rule("start_stop", "stands, walks, and stands again", ("walk", "limp", "march", "sneak", "walk_curve", "walk_circle",
                                                      "stumble"))
def _start_stop(f):
    k = f.frames(0.3)
    still = f.m(0.3)
    start, end = float(f.speed[:k].max()), float(f.speed[-k:].max())
    return _walking(f, 1.0, 3) + [(start < still, f"{start:.2f} m/s at the start"),
                                  (end < still, f"{end:.2f} m/s at the end")]


@rule("stand", "stands still: no steps, no travel, arms down, upright", ("look_around",))
def _stand(f):
    path = f.travel["path"] / f.scale
    steps = len(f.steps())
    arms = float(np.ptp(f.wrist, axis=1).max()) / f.scale
    up = float(f.wrist[:, :, 1].max()) / f.scale
    drop = float(f.pelvis_drop.max()) / f.scale
    pitch = float(np.degrees(np.abs(f.trunk_pitch).max()))
    turn = float(np.degrees(np.ptp(f.heading)))
    lift = float(f.foot_height.max()) / f.scale
    return [(path <= 0.5, f"{path:.2f} m travelled"), (steps <= 1, f"{steps} steps"),
            (lift <= 0.1, f"feet lift {lift:.2f} m"),
            (arms <= 0.2 and up <= -0.2, f"wrists move {arms:.2f} m"), (drop <= 0.12, f"pelvis dips {drop:.2f} m"),
            (pitch <= 20, f"trunk bends {pitch:.0f} deg"), (turn <= 25, f"heading varies {turn:.0f} deg"),
            (not f.flights, "no flight")]


# ------------------------------------------------------------------ arms

def _wave_runs(f, side):
    """(start, end, reversals, cycle_s) of each stretch where the wrist is above the shoulder and swings to and fro."""
    wrist = f.wrist[side]
    raised = wrist[:, 1] > f.a(0.05)
    out = []
    for a, b in runs(raised):
        if b - a < f.frames(0.6):
            continue
        xz = wrist[a:b][:, [0, 2]]
        xz = xz - xz.mean(axis=0)
        axis = np.linalg.svd(xz, full_matrices=False)[2][0]  # main direction of the swing
        swing = xz @ axis
        turns = _reversals(swing, f.a(0.04))
        cycle = 2.0 * (b - a) / f.fps / max(turns, 1)
        out.append((a, b, turns, cycle))
    return out


def _waves(f, side):
    """True when one hand waves: raised above the shoulder, swinging at least 3 times at 1.2 Hz or faster."""
    return any(turns >= 3 and cycle <= 0.85 for _, _, turns, cycle in _wave_runs(f, side))


def _wave_text(f, side):
    best = max(_wave_runs(f, side), key=lambda r: r[2], default=None)
    if best is None:
        return f"{SIDES[side]} hand not raised above the shoulder for 0.6 s"
    return f"{SIDES[side]} hand raised, {best[2]} swings, {1 / best[3]:.1f} Hz"


rule("wave_right", "waves the right hand: raised above the shoulder, swinging to and fro", ("wave_both", "wave"))(
    lambda f: [(_waves(f, 1), _wave_text(f, 1))])
rule("wave_left", "waves the left hand: raised above the shoulder, swinging to and fro", ("wave_both", "wave"))(
    lambda f: [(_waves(f, 0), _wave_text(f, 0))])
rule("wave_both", "waves both hands", ("dance", "wave"))(
    lambda f: [(_waves(f, 0), _wave_text(f, 0)), (_waves(f, 1), _wave_text(f, 1))])
rule("wave", "waves a hand (either or both)", ("wave_left", "wave_right", "wave_both", "dance"))(
    lambda f: [(_waves(f, 0) or _waves(f, 1), _wave_text(f, 0) + "; " + _wave_text(f, 1))])


@rule("clap", "claps: the hands come together quickly at least twice, opening in between", ("dance",))
def _clap(f):
    gap = f.hand_gap / f.scale
    closed = _hysteresis(-gap, -0.15, -0.21)  # together below 15 cm, apart again beyond 21 cm
    closing = -np.gradient(_smooth(gap, 3)) * f.fps  # m/s, reference body
    k = f.frames(0.3)
    meets = len([a for a, b in runs(closed) if closing[max(a - k, 0):a + 1].max() >= 0.5])  # a clap is quick
    return [(meets >= 2, f"hands meet quickly {meets} times (closest {gap.min():.2f} m)")]


def _both_up(f, above=0.08):
    return (f.wrist_above_head > f.a(above)).all(axis=0)


@rule("raise_arms", "raises both arms: both wrists above the head for 0.4 s",
      ("stretch", "jumping_jacks", "wave_both", "dance"))
def _raise_arms(f):
    held = _longest(_both_up(f)) / f.fps
    return [(held >= 0.4, f"both wrists above the head for {held:.1f} s")]


def _pointing(f, side):
    """(T,) bool: that arm held still, straight and raised to shoulder height or above; the other hand low."""
    reach, wrist = f.arm_reach, f.wrist
    return (reach[side] >= 0.85) & (wrist[side, :, 1] >= -f.a(0.1)) & (wrist[1 - side, :, 1] < -f.a(0.2)) & \
        (f.wrist_speed[side] < f.a(0.6))


@rule("point", "points: one straight arm raised to about shoulder height or above, held still 0.5 s, the other "
               "hand low", (), sides=True)
def _point(f, side=None):
    held = [_longest(_pointing(f, s)) / f.fps for s in range(2)]
    sides = range(2) if side is None else [_side_index(side)]
    best = max(sides, key=lambda s: held[s])
    return [(held[best] >= 0.5, f"{SIDES[best]} arm held out {held[best]:.1f} s")]


def _jabs(f, side):
    """Punches of one arm: the arm straightens (reach 0.8 or more) with the wrist 0.6 arm lengths in front at about
    shoulder height, coming from a bent arm (reach 0.65 or less) within 0.5 s at 0.8 m/s or more; then bends again.
    Not faster than a walk (a runner's arms swing that high)."""
    reach, wrist = f.arm_reach[side], f.wrist[side]
    out = (reach >= 0.8) & (wrist[:, 2] >= 0.6 * f.arm) & (np.abs(wrist[:, 1]) <= f.a(0.22)) & \
        (np.abs(wrist[:, 0]) <= 0.5 * wrist[:, 2]) & (f.speed < f.m(1.5))
    k, back = f.frames(0.5), f.frames(0.6)
    count = 0
    for a, b in runs(out):
        lo = max(a - k, 0)
        bent = np.flatnonzero(reach[lo:a + 1] <= 0.65)
        if not len(bent) or b - a > f.frames(1.0):
            continue
        start = lo + int(bent[-1])
        speed = np.linalg.norm(wrist[a] - wrist[start]) / max(a - start, 1) * f.fps
        after = reach[b:min(b + back, f.n)]
        level = abs(wrist[a, 1] - wrist[start, 1]) <= f.a(0.2)  # a punch goes straight out, a dribble goes down
        if level and speed >= f.a(0.8) and (not len(after) or after.min() <= 0.7 or b + back > f.n):
            count += 1
    return count


@rule("punch", "punches: a wrist shoots forward from chest height and comes back", (), sides=True)
def _punch(f, side=None):
    counts = [_jabs(f, s) for s in range(2)]
    if side is None:
        return [(sum(counts) >= 1, f"{counts[0]} left, {counts[1]} right jabs")]
    return [(counts[_side_index(side)] >= 1, f"{counts[0]} left, {counts[1]} right jabs")]


def _throw_starts(f, side):
    """Frames where an overhand throw starts: the wrist above the shoulder and not in front, then 0.3 m forward and
    0.15 m down within 0.4 s, at 3 m/s or faster."""
    z, y = f.wrist[side, :, 2], f.wrist[side, :, 1]
    cocked = np.flatnonzero((y >= f.a(0.1)) & (z <= f.a(0.2)))
    k = f.frames(0.4)
    out = []
    for a in cocked:
        b = min(a + k + 1, f.n)
        ahead = np.flatnonzero((z[a:b] - z[a] >= f.a(0.3)) & (y[a] - y[a:b] >= f.a(0.15)))
        if len(ahead) and f.wrist_speed[side, a:a + int(ahead[0]) + 1].max() >= f.a(3.0):
            out.append(int(a))
    return out


def _throws(f, side):
    """One arm throws while the other does not move forward and down with it (arm circles, both arms dropping)."""
    z, y = f.wrist[1 - side, :, 2], f.wrist[1 - side, :, 1]
    k = f.frames(0.4)
    for a in _throw_starts(f, side):
        b = min(a + k + 1, f.n)
        if not ((z[a:b] - z[a] >= f.a(0.15)) & (y[a] - y[a:b] >= f.a(0.1))).any():
            return True
    return False


@rule("throw", "throws overhand: the hand goes back above the shoulder, then forward and down fast", (),
      sides=True)
def _throw(f, side=None):
    sides = range(2) if side is None else [_side_index(side)]
    found = [SIDES[s] for s in sides if _throws(f, s)]
    return [(bool(found), f"{' and '.join(found) or 'no'} overhand throw")]


@rule("stretch", "stretches: both arms up over the head for 1 s while the trunk leans", ("raise_arms",))
def _stretch(f):
    up = _both_up(f, 0.05)
    held = _longest(up) / f.fps
    lean = float(np.degrees(np.ptp(f.trunk_roll[up]))) if up.any() else 0.0
    back = float(np.degrees(-f.trunk_pitch[up].min())) if up.any() else 0.0
    return [(held >= 1.0, f"both arms up {held:.1f} s"),
            (lean >= 8 or back >= 8, f"trunk leans {lean:.0f} deg sideways, {back:.0f} deg back")]


def _circles(f, side):
    """Net turns of one wrist around its own moving centre in the body's side (y-z) plane."""
    yz = f.wrist[side][:, [1, 2]]
    centre = _smooth(yz, f.frames(1.0))
    d = yz - centre
    # Only while the arm is held out straight (not hanging, not a bent boxing guard), the wrist off-centre, and not
    # around a flight (arms swing in loops when jumping).
    near_flight = np.zeros(f.n, dtype=bool)
    for a, b in f.flights:
        near_flight[max(a - f.frames(0.5), 0):b + f.frames(0.5)] = True
    moving = (np.linalg.norm(d, axis=-1) > f.a(0.05)) & (centre[:, 0] > -f.a(0.25)) & (f.arm_reach[side] >= 0.75) & \
        ~near_flight
    angle = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    step = np.diff(angle) * moving[1:]
    return float(abs(step.sum())) / (2 * np.pi)


@rule("arm_circles", "circles the arms: both straight arms' wrists go round once or more (or one arm 3 times)", ())
def _arm_circles(f):
    turns = [_circles(f, s) for s in range(2)]
    return [(min(turns) >= 0.9 or max(turns) >= 3.0,
             f"wrists go round {turns[0]:.1f} (left) and {turns[1]:.1f} (right) times")]


# ------------------------------------------------------------------ jumps

@rule("jump_in_place", "jumps in place: two-footed take-off and landing, the pelvis rises, little travel",
      ("jumping_jacks", "jump", "hop_on_one_leg"))
def _jump_in_place(f):
    jumps = [j for j in f.jumps if j["rise"] >= f.m(0.04) and np.hypot(j["left"], j["forward"]) <= f.m(0.3)]
    return [(len(jumps) >= 1, f"{len(jumps)} jumps in place of {len(f.jumps)} two-footed flights")]


@rule("jump_forward", "jumps forward: a two-footed jump that lands 0.3 m or more ahead", ("jump",))
def _jump_forward(f):
    jumps = [j for j in f.jumps if j["forward"] >= f.m(0.3)]
    best = max((j["forward"] for j in f.jumps), default=0.0)
    return [(len(jumps) >= 1, f"{len(jumps)} forward jumps (longest {best:.2f} m)")]


@rule("jump", "jumps: a two-footed jump", ("jump_in_place", "jump_forward", "jumping_jacks", "hop_on_one_leg"))
def _jump_any(f):
    jumps = [j for j in f.jumps if j["rise"] >= f.m(0.04) or j["forward"] >= f.m(0.3)]
    return [(len(jumps) >= 1, f"{len(jumps)} two-footed jumps")]


def _hops(f, side):
    """Flights taken off and landed on one foot while the other stays up the whole time."""
    other = 1 - side
    count = 0
    for a, b in f.flights:
        lo, hi = max(a - f.frames(0.25), 0), min(b + f.frames(0.1), f.n)
        if lo == a or hi == b:
            continue
        if not f.planted[other, lo:hi].any() and f.planted[side, lo:a].any() and f.planted[side, b:hi].any():
            count += 1
    return count


@rule("hop_on_one_leg", "hops on one leg: two or more flights on one foot while the other stays up",
      ("jump_in_place", "jump", "skip"), sides=True)
def _hop(f, side=None):
    hops = [_hops(f, s) for s in range(2)]
    sides = range(2) if side is None else [_side_index(side)]
    best = max(sides, key=lambda s: hops[s])
    return [(hops[best] >= 2, f"{hops[0]} hops on the left foot, {hops[1]} on the right")]


@rule("jumping_jacks", "does jumping jacks: feet apart with the hands up, then together, twice or more",
      ("jump_in_place", "jump", "raise_arms"))
def _jumping_jacks(f):
    apart = np.abs(f.ankle_local[0, :, 0] - f.ankle_local[1, :, 0])
    rest = float(np.percentile(apart, 10))
    spread = apart - rest >= f.m(0.15)
    hands = (f.wrist[:, :, 1] >= f.a(0.05)).all(axis=0)
    # Both feet move at once: each spread starts from a flight (a side step moves one foot at a time).
    near = f.frames(0.3)
    cycles = len([(a, b) for a, b in runs(spread & hands)
                  if b - a >= 2 and f.airborne[max(a - near, 0):a + 2].any()])
    return [(cycles >= 2, f"{cycles} times feet apart with the hands up")]


# ------------------------------------------------------------------ legs

def _kicks(f, side):
    """Kicks of one leg: the foot swings up 0.25 m and 0.5 m in front of the pelvis while the other foot is planted
    and the body is not running, and is back down within 1.2 s of leaving the floor (a held leg is a balance)."""
    up = f.foot_height[side] >= f.m(0.25)
    ahead = f.ankle_local[side, :, 2] >= f.m(0.5)
    standing = f.planted[1 - side] & (f.speed < f.m(1.5))
    count = 0
    for a, b in runs(f.lifted[side]):
        if b - a <= f.frames(1.2) and (up & ahead & standing)[a:b].any():
            count += 1
    return count


rule("kick_left", "kicks with the left leg: the left foot swings up in front while the right stands", ("kick",))(
    lambda f: [(_kicks(f, 0) >= 1, f"{_kicks(f, 0)} left kicks, {_kicks(f, 1)} right")])
rule("kick_right", "kicks with the right leg: the right foot swings up in front while the left stands", ("kick",))(
    lambda f: [(_kicks(f, 1) >= 1, f"{_kicks(f, 1)} right kicks, {_kicks(f, 0)} left")])
rule("kick", "kicks with either leg", ("kick_left", "kick_right"))(
    lambda f: [(_kicks(f, 0) + _kicks(f, 1) >= 1, f"{_kicks(f, 0)} left, {_kicks(f, 1)} right kicks")])


def _dips(f, depth, hold_s=0.0):
    """[(start, end)] where the pelvis is `depth` or more below standing for at least `hold_s`."""
    low = f.pelvis_drop >= f.m(depth)
    return [(a, b) for a, b in runs(low) if b - a >= max(f.frames(hold_s), 1)]


def _kneeling(f):
    """(T,) bool: a knee within 15 cm of the floor."""
    return (f.knee_height < f.m(0.15)).any(axis=0)


@rule("squat", "squats: the pelvis drops 0.15 m with both feet planted and both knees up, then rises",
      ("sit_down_stand_up", "lunge", "kneel"))
def _squat(f):
    dips = []
    # The crouch up to 1.5 s before a jump's take-off and the landing 0.5 s after it are not squats.
    landing, takeoff = f.frames(0.5), f.frames(1.5)
    for a, b in _dips(f, 0.15, 0.3):
        planted = f.planted[:, a:b].mean(axis=1).min()
        if planted >= 0.9 and not _kneeling(f)[a:b].any() and not f.airborne[max(a - landing, 0):b + takeoff].any():
            dips.append((a, b))
    deepest = float(f.pelvis_drop.max()) / f.scale
    return [(len(dips) >= 1, f"{len(dips)} squats (pelvis down {deepest:.2f} m at most)")]


@rule("lunge", "lunges: one foot 0.45 m ahead of the other and the pelvis 0.12 m down", ("kneel", "squat"),
      sides=True)
def _lunge(f, side=None):
    split = f.ankle_local[:, :, 2]  # (2, T) forward of each ankle
    low = f.pelvis_drop >= f.m(0.12)
    found = []
    for s in range(2):
        ahead = (split[s] - split[1 - s] >= f.m(0.45)) & low & f.planted.all(axis=0) & (f.speed < f.m(0.4))
        if _longest(ahead) >= f.frames(0.25):
            found.append(SIDES[s])
    if side is not None:
        return [(side in found, f"lunges with the {' and '.join(found) or 'no'} leg")]
    return [(bool(found), f"lunges with the {' and '.join(found) or 'no'} leg")]


@rule("kneel", "kneels: a knee within 15 cm of the floor for 0.5 s, the pelvis down", ("lunge", "squat",
                                                                                       "sit_down_stand_up"),
      sides=True)
def _kneel(f, side=None):
    low = f.knee_height < f.m(0.15)
    held = [_longest(low[s] & (f.pelvis_drop >= f.m(0.2))) / f.fps for s in range(2)]
    sides = range(2) if side is None else [_side_index(side)]
    best = max(sides, key=lambda s: held[s])
    return [(held[best] >= 0.5, f"{SIDES[best]} knee down {held[best]:.1f} s")]


@rule("sit_down_stand_up", "sits: the pelvis 0.25 m down and behind the feet for 0.6 s", ("squat", "kneel"))
def _sit(f):
    seated = (f.pelvis_drop >= f.m(0.25)) & (f.pelvis_behind_feet >= f.m(0.2)) & ~_kneeling(f)
    held = _longest(seated) / f.fps
    return [(held >= 0.6, f"seated {held:.1f} s")]


# ------------------------------------------------------------------ whole body

@rule("bow", "bows: from upright, the trunk bends forward 20 deg or more for 0.3 s with the feet still and the "
             "legs straight, arms down, and comes back up", ())
def _bow(f):
    pitch = f.trunk_pitch
    arms_down = (f.wrist[:, :, 1] <= -f.a(0.25)).all(axis=0)  # not a boxer's guard
    bent = (pitch >= np.radians(20)) & (f.pelvis_drop <= f.m(0.12)) & f.planted.all(axis=0) & (f.speed < f.m(0.5)) & \
        arms_down
    upright = pitch <= np.radians(12)
    k = f.frames(1.5)
    bows = [(a, b) for a, b in runs(bent) if f.frames(0.3) <= b - a <= f.frames(4.0) and upright[max(a - k, 0):a].any()
            and upright[b:b + k].any() and not f.airborne[max(a - k, 0):b + k].any()]
    return [(len(bows) >= 1, f"{len(bows)} bows (deepest {np.degrees(pitch.max()):.0f} deg)")]


@rule("look_around", "looks around: the upper body turns to the left and to the right while standing",
      ("stand",))
def _look_around(f):
    yaw = np.degrees(f.look_yaw - np.median(f.look_yaw))
    hold = f.frames(0.3)
    left = _longest(yaw >= 10) >= hold
    right = _longest(yaw <= -10) >= hold
    path = f.travel["path"] / f.scale
    arms = float(f.wrist[:, :, 1].max()) / f.scale
    turn = float(np.degrees(np.abs(_net_heading(f))))
    return [(left and right, f"looks {yaw.max():.0f} deg left, {-yaw.min():.0f} deg right"),
            (path <= 1.0, f"{path:.1f} m travelled"), (turn <= 45, f"turned {turn:.0f} deg"),
            (arms <= 0.0, "hands below the shoulders")]


@rule("stumble", "stumbles: walking, then a sudden forward lurch of the trunk", ("walk", "start_stop"))
def _stumble(f):
    pitch = np.degrees(f.trunk_pitch)
    lurch = float((pitch - np.median(pitch)).max())
    return _walking(f, 1.0, 3) + [(lurch >= 12, f"trunk lurches {lurch:.0f} deg forward")]


@rule("dance", "dances: four or more foot lifts, and either stepping side to side without getting anywhere or at "
               "least two of: a leg raised above the hip, 240 deg or more of turning, the trunk leaning 20 deg to and "
               "fro, leaps", ("wave_both", "clap", "raise_arms", "side_step_left", "side_step_right", "side_step", "spin",
                         "turn_left", "turn_right", "turn", "turn_around", "kick_left", "kick_right", "kick", "jump",
                         "jump_in_place", "jump_forward", "hop_on_one_leg", "skip"))
def _dance(f):
    lifts = len(f.swings)
    lateral = (f.root - f.root[0]) @ f.left[0]
    sway = _reversals(lateral, f.m(0.12))
    net = float(np.hypot(*f.displacement)) / f.scale
    step_touch = sway >= 2 and net <= 1.0
    moves = {"leg raised": float(f.foot_height.max()) >= f.m(0.6),
             "turning": float(np.degrees(np.abs(np.diff(f.heading)).sum())) >= 240,
             "trunk sway": float(np.degrees(np.ptp(f.trunk_roll))) >= 20,
             "leaps": len(f.flights) >= 1}
    shown = [name for name, ok in moves.items() if ok]
    return [(lifts >= 4, f"{lifts} foot lifts"),
            (step_touch or len(shown) >= 2, f"{sway} sideways reversals, {net:.1f} m net travel; "
                                            f"{', '.join(shown) or 'no dance moves'}")]


@rule("skip", "skips: forward hop-steps, each foot landing twice in a row, with flight", ("run", "jog"))
def _skip(f):
    landings = [s.side for s in sorted(f.steps(), key=lambda s: s.end)]
    repeats = [sum(1 for a, b in zip(landings[:-1], landings[1:]) if a == b == side) for side in range(2)]
    return _travel_conditions(f, "forward", 1.0, 3) + [
        (min(repeats) >= 1, f"{repeats[0]} left, {repeats[1]} right same-foot landings in a row"),
        (f.flight_share >= RUN_FLIGHT, f"{f.flight_share:.0%} of the moving frames in flight")]


# ---------------------------------------------------------------------------------------------------------------
# Expectations: what a prompt asks for, checked on a whole motion

@dataclass(frozen=True)
class ActionCheck:
    """One action to see: a rule name plus its options (side "left" / "right", speed "slow" / "fast")."""

    kind: str
    side: str | None = None
    speed: str | None = None

    def __post_init__(self):
        if self.kind not in RULES:
            raise ValueError(f"no rule for action {self.kind!r}; known: {sorted(RULES)}")
        spec = RULES[self.kind]
        if self.side is not None and (not spec.sides or self.side not in SIDES):
            raise ValueError(f"{self.kind!r} takes no side {self.side!r}")
        if self.speed is not None and (not spec.speeds or self.speed not in SPEEDS):
            raise ValueError(f"{self.kind!r} takes no speed {self.speed!r}")

    def judge(self, facts: Facts) -> Verdict:
        return RULES[self.kind].fn(facts, side=self.side, speed=self.speed)

    def spec(self) -> str:
        options = [o for o in (self.side, self.speed) if o]
        return self.kind + (f"[{','.join(options)}]" if options else "")

    @classmethod
    def parse(cls, text):
        """'kneel[left]', 'walk[fast]', 'clap' -> ActionCheck."""
        text = text.strip()
        kind, _, rest = text.partition("[")
        side = speed = None
        for option in filter(None, (o.strip() for o in rest.rstrip("]").split(","))):
            if option in SIDES:
                side = option
            elif option in SPEEDS:
                speed = option
            else:
                raise ValueError(f"unknown option {option!r} in {text!r}")
        return cls(kind.strip(), side, speed)


@dataclass(frozen=True)
class Expectation:
    """Segments in time order, each a tuple of ActionChecks that hold together. No segments: nothing to check."""

    segments: tuple = ()

    @classmethod
    def parse(cls, text):
        """'walk[fast] + wave_right > sit_down_stand_up' -> Expectation; 'none' or '' -> nothing to check."""
        text = text.strip()
        if text in ("", "none"):
            return cls(())
        return cls(tuple(tuple(ActionCheck.parse(c) for c in seg.split("+")) for seg in text.split(">")))

    def spec(self) -> str:
        return " > ".join(" + ".join(c.spec() for c in seg) for seg in self.segments) or "none"

    def __bool__(self):
        return bool(self.segments)

    @property
    def label(self) -> str:
        """How to group results: the action kind of a single check, else 'sequence' / 'together'; 'none'."""
        if not self.segments:
            return "none"
        if len(self.segments) > 1:
            return "sequence"
        return self.segments[0][0].kind if len(self.segments[0]) == 1 else "together"

    @property
    def kinds(self) -> list:
        return [c.kind for seg in self.segments for c in seg]


SEGMENT_GRID_S = 0.5      # where one segment may end and the next begin
SEGMENT_OVERLAP_S = 0.25  # each segment's window reaches this far into its neighbours (transitions blend)
MIN_SEGMENT_S = 1.0


def _judge_all(checks, facts):
    verdicts = [c.judge(facts) for c in checks]
    return Verdict(all(verdicts), "; ".join(f"{c.spec()}: {v.why}" for c, v in zip(checks, verdicts)))


def check_motion(joints, expectation: Expectation, fps=FPS) -> Verdict:
    """Does the motion show what `expectation` asks for? joints: (T, 22, 3) metres, Y-up, +Z forward, 20 fps.

    One segment: every check on the whole motion. Several: segment i must pass on a window of its own, windows in
    time order (boundaries on a 0.5 s grid, each window at least 1 s, reaching 0.25 s into its neighbours); the
    earliest boundaries that work are taken.
    """
    if not expectation:
        return Verdict(True, "nothing to check")
    facts = Facts(joints, fps)
    segments = expectation.segments
    if len(segments) == 1:
        return _judge_all(segments[0], facts)
    n = facts.n
    step, pad, shortest = facts.frames(SEGMENT_GRID_S), facts.frames(SEGMENT_OVERLAP_S), facts.frames(MIN_SEGMENT_S)
    windows, judged = {}, {}

    def passes(i, a, b):
        lo, hi = max(a - pad, 0), min(b + pad, n)
        if (i, lo, hi) not in judged:
            if (lo, hi) not in windows:
                windows[(lo, hi)] = facts.window(lo, hi)
            judged[(i, lo, hi)] = _judge_all(segments[i], windows[(lo, hi)])
        return judged[(i, lo, hi)]

    def search(i, start):
        if i == len(segments) - 1:
            return [(start, n)] if n - start >= shortest and passes(i, start, n) else None
        for end in range(start + shortest, n - shortest * (len(segments) - 1 - i) + 1, step):
            if passes(i, start, end):
                rest = search(i + 1, end)
                if rest is not None:
                    return [(start, end)] + rest
        return None

    found = search(0, 0)
    if found is None:
        whole = [_judge_all(seg, facts) for seg in segments]
        return Verdict(False, "no: not in this order; on the whole motion: " +
                       " | ".join(v.why for v in whole))
    parts = [f"{a / fps:.1f}-{b / fps:.1f} s {passes(i, a, b).why}" for i, (a, b) in enumerate(found)]
    return Verdict(True, " then ".join(parts))

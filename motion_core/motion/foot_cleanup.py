"""Foot-contact cleanup after generation: pin each foot while the model says it is planted. numpy only.

Conventions: joints (T, 22, 3) metres, Y-up, +Z forward, floor at y = 0, 20 fps, HumanML3D 22-joint order (hips 1/2,
knees 4/5, ankles 7/8, balls of the feet 10/11). Contact channels (T, 4): the last 4 of the de-normalised 263-d
features, in their order left ankle, left foot, right ankle, right foot; 1 = planted (HumanML3D labels a joint
planted when it moves less than sqrt(0.002) m per frame).

    cleaned = clean_foot_contacts(joints, features[:, -4:])

The steps, each vectorised over frames (loops run over the 4 channels and the 2 legs only):
  1. Contacts: a channel switches on at >= 0.6 and off at <= 0.4 (hysteresis, so a value hovering around 0.5 does
     not flicker); contact runs and gaps shorter than 2 frames are blips and are removed.
  2. One pin per contact span and joint. Horizontally: the span's median position, so a foot that stood still for
     most of the span keeps its place exactly and a sliding one is pinned mid-slide. Vertically: the span's lowest
     point moves into the joint's floor band (a hovering foot comes down, a piercing one up) and the heights within
     the span keep their shape. What is not a plant leaves the spans: frames well above the span's lowest point (a
     step), frames over MAX_PIN_DISTANCE from the pin, spans hovering over MAX_HOVER above the floor band, and glides
     (over a third of the span's frames far from its pin: the body travelled metres "in contact", and pinning would
     need legs metres long, so such motion is left as it came).
  3. Weights: 1 inside a span; outside, the correction of the span's edge frame fades out over BLEND_FRAMES frames
     (smoothstep), so nothing pops and a foot that already stood at its pin is not touched. Where two spans' blends
     meet they share. Inside a span a joint rising above its lowest point (a heel
     peeling off the floor) lets go of its horizontal pin over RELEASE_RANGE of height.
  4. Foot targets: the ankle and the ball follow their own pins; a foot planted only on the ball moves its ankle with
     the ball (and the other way round), and the ball stays at its frame's distance from the ankle.
  5. Root correction: where a pinned ankle is out of the leg's reach, the whole body moves toward it, at most
     MAX_ROOT_SHIFT and eased in and out over a few frames; beyond that the foot stops short of its pin.
  6. Clearance: a foot may touch the floor or move, not both. Where the cleanup moved a foot (a pinned foot catching
     up with the body after its span, or a swinging foot lowered with the body) and its ball moves faster than
     SKATE_SPEED, the whole foot is lifted: to CLEARANCE where the pins pulled it 3 cm or more off its path, and back
     to its own height where only the body's correction lowered it; eased over neighbouring frames, never above
     CLEARANCE. The catch-up becomes a short step through the air instead of a slide along the floor (generated walks
     slid most at exactly these take-off and landing frames).
  7. Leg IK (hip -> knee -> ankle, `motion_core.motion.ik`) with the frame's own thigh and shin lengths and the knee
     bending where the original knee bent; the ball is placed at the frame's ankle-ball distance toward its target.
     Every bone keeps its length in every frame; frames no pin touches are returned as they came.
"""

import numpy as np

from motion_core.metrics import SKATE_SPEED
from motion_core.motion.features import gaussian_smooth
from motion_core.motion.ik import two_bone_ik
from motion_core.motion.skeleton import FEET_LEFT, FEET_RIGHT, NUM_JOINTS, PARENTS

CONTACT_JOINTS = FEET_LEFT + FEET_RIGHT  # (7, 10, 8, 11): the order of the 4 contact channels
LEGS = tuple((PARENTS[PARENTS[ankle]], PARENTS[ankle], ankle, ball)  # (hip, knee, ankle, ball) per side
             for ankle, ball in (FEET_LEFT, FEET_RIGHT))
CONTACT_ON, CONTACT_OFF = 0.6, 0.4  # hysteresis thresholds on the contact channels
MIN_CONTACT_FRAMES = 2  # contact runs shorter than this are blips (dropped) ...
MIN_GAP_FRAMES = 2  # ... and so are gaps shorter than this between two contacts (filled)
BLEND_FRAMES = 3  # frames of smoothstep blend into and out of each contact span (at 20 fps)
# Floor bands (metres above the floor) of a planted joint, per channel. Measured: the procedural body plants its
# ankles at 0.064 m and its balls at 0.001 m; HumanML3D's sample 012314 plants them at 0.047-0.065 m and 0.0-0.02 m.
FLOOR_BANDS = ((0.04, 0.08), (0.0, 0.025), (0.04, 0.08), (0.0, 0.025))
MAX_HOVER = 0.10  # m: a "contact" whose lowest point is this far above its floor band is not one
MAX_PIN_DISTANCE = 0.15  # m: frames farther than this from their span's pin are not planted ...
GLIDE_SHARE = 1.0 / 3.0  # ... and a span with more such frames than this share is a glide, not a plant
RELEASE_HOLD, RELEASE_RANGE = 0.01, 0.04  # a pinned joint lets go between 1 and 5 cm above its span's lowest point
MAX_ROOT_SHIFT = 0.08  # m: the largest correction of the whole body toward out-of-reach pins
# A foot moving faster than SKATE_SPEED (the speed `motion_core.metrics.foot_skate_ratio` calls a skate) is not planted
CLEARANCE = 0.07  # m: ... and its ball is lifted at least this high (above the metrics' 5-cm contact height) ...
CATCH_UP = 0.03  # m: ... in full where the pins moved it this far or more from its path (less in proportion)
REACH_MARGIN = 1e-4  # m: legs are never asked to be straighter than this short of full length


def contact_mask(channels, on=CONTACT_ON, off=CONTACT_OFF, min_frames=MIN_CONTACT_FRAMES, min_gap=MIN_GAP_FRAMES):
    """Planted or not per frame and channel from contact channels (T, K) float -> (T, K) bool.

    Hysteresis: a channel turns on at >= on and off at <= off, and keeps its state in between (before its first
    decisive frame the midpoint decides). Then contact runs shorter than `min_frames` are dropped and gaps shorter
    than `min_gap` between two contacts are filled.
    """
    channels = np.asarray(channels, dtype=np.float64)
    frames = np.arange(len(channels))[:, None]
    high, low = channels >= on, channels <= off
    last = np.maximum.accumulate(np.where(high | low, frames, -1), axis=0)  # (T, K) last decisive frame, or -1
    mask = np.where(last >= 0, np.take_along_axis(high, np.maximum(last, 0), axis=0), channels >= 0.5 * (on + off))
    for k in range(mask.shape[1]):
        mask[:, k] = _fill_short(~_fill_short(~mask[:, k], min_frames, edges=True), min_gap, edges=False)
    return mask


def _fill_short(gaps, shortest, edges):
    """Set True the False runs of `gaps` (T,) bool shorter than `shortest`; runs touching an end only if `edges`.

    Called on ~mask it drops short contacts; on mask it fills short gaps.
    """
    out = gaps.copy()
    padded = np.concatenate([[True], gaps, [True]])
    change = np.flatnonzero(padded[1:] != padded[:-1])  # boundaries of the False runs, in pairs
    starts, stops = change[0::2], change[1::2]
    short = stops - starts < shortest
    if not edges:
        short &= (starts > 0) & (stops < len(gaps))
    for start, stop in zip(starts[short], stops[short]):  # few runs: a loop over runs, not frames
        out[start:stop] = True
    return out


def _smoothstep(distance, frames):
    """1 at distance 0, falling smoothly to 0 at `frames` + 1; distance (T,) >= 0."""
    u = np.clip(1.0 - distance / (frames + 1.0), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _spans(planted):
    """Planted frames (N,) and, for each, its span number (N,); spans are runs of planted (T,) bool."""
    index = np.flatnonzero(planted)
    starts = np.diff(np.concatenate([[-2], index])) > 1
    return index, np.cumsum(starts) - 1


def _span_median(values, span_of):
    """Median of values (N,) within each span; span_of (N,) nondecreasing span numbers -> (S,)."""
    order = np.lexsort((values, span_of))
    ordered = values[order]
    counts = np.bincount(span_of)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return 0.5 * (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2])


def _channel_correction(position, planted, band, blend=BLEND_FRAMES):
    """Pins of one joint: its correction (T, 3), pin weight (T,) and horizontal pin weight (T,).

    position: (T, 3) the joint's original path; planted: (T,) bool; band: (low, high) floor band in metres.
    The corrected path is position + correction. Inside a span the correction takes the joint to its pin; outside,
    the correction of the span's edge frame fades out over `blend` frames (so a foot that already stood at its pin
    is not touched). The weight is how much the pins control a frame (1 inside a
    span, the blend around it); the horizontal weight is that weight after the release of a rising joint.
    """
    T = len(position)
    height = position[:, 1]
    planted = planted.copy()
    while True:  # drop what is not a plant until every span is one (each pass only removes frames)
        index, span_of = _spans(planted)
        if len(index) == 0:
            return np.zeros((T, 3)), np.zeros(T), np.zeros(T)
        lowest = np.full(span_of[-1] + 1, np.inf)
        np.minimum.at(lowest, span_of, height[index])  # (S,) each span's lowest point
        above = height[index] - lowest[span_of]  # (N,)
        # Pin: the span's median position. A foot that stood still for most of the span keeps its place exactly
        # (the slow frames of landing and take-off do not pull it), and a sliding foot is pinned mid-slide.
        pin_xz = np.stack([_span_median(position[index, axis], span_of) for axis in (0, 2)], -1)  # (S, 2)
        far = np.linalg.norm(position[index][:, [0, 2]] - pin_xz[span_of], axis=-1) > MAX_PIN_DISTANCE  # (N,)
        frames_in = np.bincount(span_of)
        # Not plants: a span hovering far above the floor; a span the joint glides across (most of its frames far
        # from the pin: the model moved the body without steps, and pinning would need legs metres long); a lone
        # frame. Frames far from an otherwise good pin (a foot sliding off late) and frames well above the span's
        # lowest point (a step: the foot lifted and lands elsewhere) leave the span, which may split in two.
        glide = np.bincount(span_of, far) > GLIDE_SHARE * frames_in
        drop = (lowest > band[1] + MAX_HOVER) | glide | (frames_in < MIN_CONTACT_FRAMES)
        drop = drop[span_of] | far | (above > RELEASE_HOLD + RELEASE_RANGE)
        if not drop.any():
            break
        planted[index[drop]] = False
    span = np.full(T, -1)
    span[index] = span_of

    # Vertically: the offset that puts each span's lowest point in the floor band.
    lift = np.clip(lowest, band[0], band[1]) - lowest  # (S,)

    # Inside spans: to the pin, letting go of the horizontal pin as the joint rises (a heel peeling off).
    release = np.clip(1.0 - (above - RELEASE_HOLD) / RELEASE_RANGE, 0.0, 1.0)  # (N,)
    inside = np.zeros((T, 3))
    inside[index, 0] = release * (pin_xz[span_of, 0] - position[index, 0])
    inside[index, 1] = lift[span_of]
    inside[index, 2] = release * (pin_xz[span_of, 1] - position[index, 2])
    held = np.zeros(T)
    held[index] = release

    # Outside: the edge frames' corrections fade out over `blend` frames; where two blends meet they share.
    frames = np.arange(T)
    last = np.maximum.accumulate(np.where(planted, frames, -1))
    following = np.minimum.accumulate(np.where(planted, frames, T)[::-1])[::-1]
    w_prev = np.where(last >= 0, _smoothstep(frames - last, blend), 0.0)
    w_next = np.where((following < T) & ~planted, _smoothstep(following - frames, blend), 0.0)
    last, following = np.maximum(last, 0), np.minimum(following, T - 1)
    share = 1.0 / np.maximum(w_prev + w_next, 1.0)
    w_prev, w_next = w_prev * share, w_next * share
    correction = w_prev[:, None] * inside[last] + w_next[:, None] * inside[following]
    return correction, w_prev + w_next, w_prev * held[last] + w_next * held[following]


def _carried(other, weight, horizontal):
    """The part of the other foot joint's correction (T, 3) that a joint with pin weights (T,) takes over."""
    share = np.stack([1.0 - horizontal, 1.0 - weight, 1.0 - horizontal], axis=-1)  # (T, 3) x, y, z
    return share * other


def _smooth_peaks(shift, radius=2, sigma=1.5):
    """A smooth path (T, 3) about as large as `shift` (T, 3): the largest shift within `radius` frames, blurred.

    The body then eases into and out of a correction instead of jerking for one frame.
    """
    frames = np.arange(len(shift))
    window = np.clip(frames[:, None] + np.arange(-radius, radius + 1), 0, len(shift) - 1)  # (T, 2r+1)
    size = np.linalg.norm(shift, axis=-1)[window]
    widest = window[frames, np.argmax(size, axis=1)]
    return gaussian_smooth(shift[widest], sigma, axis=0)


def _clearance(ball, original, fps=20.0):
    """Upward offset (T, 3) for a foot whose ball target (T, 3), the body's correction included, moves faster than
    SKATE_SPEED near the floor where the cleanup moved it away from its decoded path `original` (T, 3)."""
    step = np.linalg.norm(np.diff(ball[:, [0, 2]], axis=0), axis=-1) * fps  # (T-1,) horizontal speed per frame step
    speed = np.maximum(np.concatenate([step, [0.0]]), np.concatenate([[0.0], step]))  # (T,) fastest step touching
    fast = np.clip((speed - 0.8 * SKATE_SPEED) / (0.4 * SKATE_SPEED), 0.0, 1.0)  # 0 below 0.4 m/s, 1 above 0.6
    moved = np.linalg.norm(ball[:, [0, 2]] - original[:, [0, 2]], axis=-1)  # (T,) horizontal correction
    moved = np.maximum(moved, np.maximum(np.concatenate([moved[1:], [0.0]]), np.concatenate([[0.0], moved[:-1]])))
    below = np.maximum(CLEARANCE - ball[:, 1], 0.0)  # (T,) how far the ball is under the clearance
    caught_up = np.clip(moved / CATCH_UP, 0.0, 1.0) * below  # pulled off its path: up to the clearance
    lowered = np.clip(np.minimum(original[:, 1], CLEARANCE) - ball[:, 1], 0.0, None)  # lowered: back to its height
    lift = np.zeros((len(ball), 3))
    lift[:, 1] = fast * np.maximum(caught_up, lowered)
    # Eased over the neighbouring frames, but never above the clearance (a ball already in the air stays as it is).
    lift[:, 1] = np.minimum(_smooth_peaks(lift, radius=1, sigma=1.0)[:, 1], below)
    return lift


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def clean_foot_contacts(joints, contacts, on=CONTACT_ON, off=CONTACT_OFF, blend=BLEND_FRAMES):
    """Pin the feet where the contact channels say they are planted (see the module docstring for the steps).

    joints: (..., T, 22, 3) metres, Y-up, floor y = 0, 20 fps, HumanML3D order. contacts: (..., T, 4) or
    (..., T-1, 4) (a feature file's rows; the last row is repeated) channels for left ankle, left foot, right ankle,
    right foot. Returns joints of the same shape and dtype; bone lengths are kept in every frame, and frames no
    contact touches come back unchanged.
    """
    joints = np.asarray(joints)
    contacts = np.asarray(contacts, dtype=np.float64)
    if joints.ndim < 3 or joints.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape (..., T, {NUM_JOINTS}, 3), got {joints.shape}")
    T = joints.shape[-3]
    if contacts.shape[:-2] != joints.shape[:-3] or contacts.shape[-1] != 4 or contacts.shape[-2] not in (T, T - 1):
        raise ValueError(f"contacts must have shape {joints.shape[:-3] + (T, 4)} (or T-1 rows), got {contacts.shape}")
    if contacts.shape[-2] == T - 1:
        contacts = np.concatenate([contacts, contacts[..., -1:, :]], axis=-2)
    if joints.ndim > 3:
        flat_j = joints.reshape((-1,) + joints.shape[-3:])
        flat_c = contacts.reshape((-1, T, 4))
        out = [_clean_clip(j, c, on, off, blend) for j, c in zip(flat_j, flat_c)]
        return np.stack(out).reshape(joints.shape).astype(joints.dtype, copy=False)
    return _clean_clip(joints, contacts, on, off, blend).astype(joints.dtype, copy=False)


def _clean_clip(joints, contacts, on, off, blend):
    """clean_foot_contacts for one clip: joints (T, 22, 3), contacts (T, 4) -> (T, 22, 3) float64."""
    x = np.asarray(joints, dtype=np.float64)
    planted = contact_mask(contacts, on, off)
    if not planted.any():
        return x.copy()
    channel = [_channel_correction(x[:, j], planted[:, k], FLOOR_BANDS[k], blend)
               for k, j in enumerate(CONTACT_JOINTS)]

    # 4. Foot targets per leg: ankle A*, ball F* and how much the pins control the leg (T,).
    targets = []
    for side, (hip, knee, ankle, ball) in enumerate(LEGS):
        (c_a, w_a, h_a), (c_f, w_f, h_f) = channel[2 * side], channel[2 * side + 1]
        # A joint without its own pin moves with the other one (a foot on its ball carries the ankle along).
        ankle_target = x[:, ankle] + c_a + _carried(c_f, w_a, h_a)
        ball_target = x[:, ball] + c_f + _carried(c_a, w_f, h_f)
        targets.append((ankle_target, ball_target, np.maximum(w_a, w_f)))

    # 5. Root correction: move the body toward pinned ankles that the legs cannot reach (a few Gauss-Seidel passes).
    shift = np.zeros((len(x), 3))
    reach = [np.linalg.norm(x[:, knee] - x[:, hip], axis=-1) + np.linalg.norm(x[:, ankle] - x[:, knee], axis=-1)
             - REACH_MARGIN for hip, knee, ankle, _ in LEGS]
    for _ in range(4):
        for (hip, _, _, _), (ankle_target, _, weight), limit in zip(LEGS, targets, reach):
            gap = ankle_target - (x[:, hip] + shift)
            distance = np.linalg.norm(gap, axis=-1)
            excess = weight * np.maximum(distance - limit, 0.0)
            shift += excess[:, None] * gap / np.maximum(distance, 1e-12)[:, None]
        size = np.linalg.norm(shift, axis=-1, keepdims=True)
        shift *= np.minimum(1.0, MAX_ROOT_SHIFT / np.maximum(size, 1e-12))
    shift = _smooth_peaks(shift)

    # 6. Clearance, on the targets as the body's correction leaves them (an unpinned foot moves with the body).
    final = []  # per leg: ankle and ball targets, and the frames the IK must pose
    for (_, _, _, ball), (ankle_target, ball_target, weight) in zip(LEGS, targets):
        follow = (1.0 - weight)[:, None] * shift
        lift = _clearance(ball_target + follow, x[:, ball])
        final.append((ankle_target + follow + lift, ball_target + follow + lift, (weight > 0.0) | (lift[:, 1] > 0.0)))

    # 7. Leg IK with the frame's own bone lengths; the knee bends where the original knee bent.
    out = x + shift[:, None, :]
    forward = _unit(np.cross(x[:, LEGS[0][0]] - x[:, LEGS[1][0]], [0.0, 1.0, 0.0]))  # (T, 3) +Z when facing +Z
    for (hip, knee, ankle, ball), (ankle_target, ball_target, touched) in zip(LEGS, final):
        if not touched.any():
            continue
        thigh = np.linalg.norm(x[:, knee] - x[:, hip], axis=-1, keepdims=True)
        shin = np.linalg.norm(x[:, ankle] - x[:, knee], axis=-1, keepdims=True)
        foot = np.linalg.norm(x[:, ball] - x[:, ankle], axis=-1, keepdims=True)
        leg = _unit(x[:, ankle] - x[:, hip])
        bend = (x[:, knee] - x[:, hip]) - ((x[:, knee] - x[:, hip]) * leg).sum(-1, keepdims=True) * leg
        pole = bend + 0.01 * forward  # a straight original leg has no bend: the knee then points forward
        new_knee, new_ankle = two_bone_ik(out[:, hip], ankle_target, pole, thigh, shin)
        new_ball = new_ankle + foot * _unit(ball_target - new_ankle)
        for j, value in ((knee, new_knee), (ankle, new_ankle), (ball, new_ball)):
            out[touched, j] = value[touched]
    return out

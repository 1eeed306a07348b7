"""Splicing generated frames into a motion that must stay as it is outside them: span edits and continuations.

numpy only. Conventions: joints (T, 22, 3) metres, Y-up, +Z forward, 20 fps.

Why it is needed: the generator works in HumanML3D features, which carry the root as velocities from a start facing
+Z at the origin, and its VAE reproduces a pose to within its round-trip error, not exactly. So generated frames
land somewhere else and a little off. Two corrections put them back:
  1. Rigid, per boundary frame f: the rotation about +Y and the translation that best move the generated frame f
     onto the original frame f (least squares over the joints). Inside a span the rotation angle, its pivot and the
     translation move from the first boundary's to the second's along a smoothstep, which is flat at both ends, so
     near each boundary the frames move rigidly with that boundary's fit.
  2. Residual: what the rigid fit leaves (bone lengths, the VAE's error) is known at the boundary frames and one
     frame beyond them; a cubic Hermite curve per joint coordinate carries its value and per-frame slope from each
     boundary into the span (and, for a continuation, down to zero).
Result: positions equal the original at the boundary frames exactly, and velocities on both sides differ by the
generated motion's own acceleration over one frame.

A continuation also keeps the given motion's floor: a motion read back from a rig stands on that rig's floor (feet
higher or lower than the model's body would put them), and the model's new frames drift to its own floor once the
given pose's residual has faded, so their heights move from the given floor to the model's along the same blend.

Rig side (the add-on merges an edit into the user's action, `splice_rotations` / `splice_offsets`): the regenerated
keys of one bone between the kept scene frames A and B are turned by the difference between the user's key and the
generated one at A, moving to that at B along the smoothstep. So the bone's twist, which joint positions do not
carry, and any other difference the user's keys make go on into the span and the keys at A and B are the user's.
"""

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion import rotations as rot

CONTINUE_BLEND_FRAMES = 20  # a continuation lets go of the given pose's residual over 1 s
CONTINUE_CONTEXT_FRAMES = 40  # frames up to the current one that a continuation encodes (2 s)
EDIT_MIN_GAP = 2  # last - first of an edited span: at least one new frame between the kept ones
EDIT_CONTEXT_FRAMES = 80  # frames of the user's motion encoded on each side of an edited span (4 s)
FLOOR_PERCENTILE = 10  # of the per-frame lowest foot joint: a motion's floor, kept by continuations
FLOOR_TOLERANCE = 0.01  # metres of floor difference taken as the motions' own (a step's phase), not a floor to move
_FOOT_JOINTS = (7, 8, 10, 11)  # left/right ankle, left/right foot (HumanML3D order)


def edit_window(frames, first, last):
    """The frames lo .. hi-1 of a `frames`-long motion that a span edit of first+1 .. last-1 reads: the span with
    EDIT_CONTEXT_FRAMES on each side, cut to the motion. Frames outside it cannot change the result, so a caller may
    pass only these (with first - lo, last - lo)."""
    return max(0, first - EDIT_CONTEXT_FRAMES), min(frames, last + 1 + EDIT_CONTEXT_FRAMES)


def floor_height(joints):
    """The height a motion stands on: the FLOOR_PERCENTILE-th percentile over frames of the lowest ankle or foot
    joint. joints: (T, 22, 3) metres, Y-up -> float. A low percentile, not the minimum: one frame of a foot through
    the floor does not move it, and a jump's airborne frames do not count."""
    lowest = np.asarray(joints, np.float64)[:, _FOOT_JOINTS, 1].min(axis=1)  # (T,)
    return float(np.percentile(lowest, FLOOR_PERCENTILE))


def check_span(frames, first, last):
    """MotionError unless frames first+1 .. last-1 of a `frames`-long motion can be regenerated: each seam needs a
    kept frame beyond it for its velocity, so 1 <= first, first + EDIT_MIN_GAP <= last <= frames - 2."""
    if not (isinstance(first, (int, np.integer)) and isinstance(last, (int, np.integer))
            and 1 <= first and first + EDIT_MIN_GAP <= last <= frames - 2):
        raise MotionError(f"the kept frames must satisfy 1 <= first, first + {EDIT_MIN_GAP} <= last <= {frames - 2} "
                          f"(the motion has {frames} frames), got first={first!r}, last={last!r}")


def _xz(points):
    return points[..., 0] + 1j * points[..., 2]


def yaw_fit(source, target, pivot):
    """The yaw rotation about `pivot` and the translation that best move `source` onto `target`.

    source, target: (J, 3) metres; pivot: (3,) (its y is ignored). Rotation and translation minimise the squared
    distance over the joints. Returns (angle, offset (3,)) for `apply_yaw`.
    """
    s, t = _xz(source - pivot), _xz(target - pivot)
    cross = np.sum(np.conj(s - s.mean()) * (t - t.mean()))
    angle = float(np.angle(cross)) if abs(cross) > 1e-12 else 0.0
    moved = t.mean() - np.exp(1j * angle) * s.mean()
    offset = np.array([moved.real, float(np.mean(target[:, 1] - source[:, 1])), moved.imag])
    return angle, offset


def apply_yaw(points, angle, pivot, offset):
    """Rotate points (..., J, 3) by `angle` about the vertical line through `pivot`, then add `offset`.

    angle: scalar or (...,) radians (a turn from +X toward +Z); pivot, offset: (3,) or (..., 3).
    """
    angle = np.asarray(angle, np.float64)[..., None]
    pivot = np.asarray(pivot, np.float64)[..., None, :]
    offset = np.asarray(offset, np.float64)[..., None, :]
    turned = _xz(points - pivot) * np.exp(1j * angle) + _xz(pivot) + _xz(offset)
    return np.stack([turned.real, points[..., 1] + offset[..., 1], turned.imag], axis=-1)


def _hermite(s, p0, m0, p1, m1, length):
    """Cubic Hermite at s (n,) in [0, 1] between values p0, p1 (J, 3) with per-frame slopes m0, m1 -> (n, J, 3)."""
    s = s[:, None, None]
    h00, h10 = 2 * s ** 3 - 3 * s ** 2 + 1, s ** 3 - 2 * s ** 2 + s
    h01, h11 = -2 * s ** 3 + 3 * s ** 2, s ** 3 - s ** 2
    return h00 * p0 + h10 * length * m0 + h01 * p1 + h11 * length * m1


def _fit_at(original, generated, frame):
    pivot = generated[frame, 0] * np.array([1.0, 0.0, 1.0])
    angle, offset = yaw_fit(generated[frame], original[frame], pivot)
    return angle, pivot, offset


def splice_between(original, generated, first, last):
    """`original` with frames first+1 .. last-1 taken from `generated`, moved so both seams stay continuous.

    original, generated: (T, J, 3) on the same frames (generated[f] is what the model made for frame f; only
    frames first-1 .. last+1 of it are read). 1 <= first < last <= T-2. Returns (T, J, 3) float64: frames up to
    `first` and from `last` on are the original's, exactly.
    """
    original = np.asarray(original, np.float64)
    generated = np.asarray(generated, np.float64)
    if not 1 <= first < last <= len(original) - 2:
        raise ValueError(f"need 1 <= first < last <= T-2, got first={first}, last={last}, T={len(original)}")
    a_angle, a_pivot, a_offset = _fit_at(original, generated, first)
    b_angle, b_pivot, b_offset = _fit_at(original, generated, last)
    length = last - first
    s = np.arange(length + 1) / length
    w = (s * s * (3 - 2 * s))[:, None]  # smoothstep: flat at both ends
    turn = (b_angle - a_angle + np.pi) % (2 * np.pi) - np.pi  # the short way round
    aligned = apply_yaw(generated[first:last + 1], a_angle + w[:, 0] * turn, a_pivot + w * (b_pivot - a_pivot),
                        a_offset + w * (b_offset - a_offset))
    before = apply_yaw(generated[first - 1], a_angle, a_pivot, a_offset)
    after = apply_yaw(generated[last + 1], b_angle, b_pivot, b_offset)
    r0, r1 = original[first] - aligned[0], original[last] - aligned[-1]
    m0 = r0 - (original[first - 1] - before)
    m1 = (original[last + 1] - after) - r1
    out = original.copy()
    out[first:last + 1] = aligned + _hermite(s, r0, m0, r1, m1, length)
    return out


def splice_after(given, generated, blend=CONTINUE_BLEND_FRAMES):
    """Continue `given` with `generated`: the generated frames from len(given)-1 on, moved to start at the last
    given pose with its velocity.

    given: (n, J, 3), n >= 2, the motion so far; generated: (T, J, 3), T > n, whose first n frames are the model's
    version of `given`. Returns (T - n + 1, J, 3) float64 whose frame 0 is given[-1] exactly; the residual of the
    rigid fit fades to zero over `blend` frames while the height moves to the given motion's floor (`floor_height`
    of the new frames after the blend, J = 22 only).
    """
    given = np.asarray(given, np.float64)
    generated = np.asarray(generated, np.float64)
    n = len(given)
    if n < 2 or len(generated) <= n:
        raise ValueError(f"need at least 2 given frames and more generated than given, got {n} and {len(generated)}")
    angle, pivot, offset = _fit_at(given, generated, n - 1)
    out = apply_yaw(generated[n - 1:], angle, pivot, offset)
    r0 = given[-1] - out[0]
    m0 = r0 - (given[-2] - apply_yaw(generated[n - 2], angle, pivot, offset))
    length = min(blend, len(out) - 1)
    s = np.arange(length + 1) / length
    zero = np.zeros_like(r0)
    out[:length + 1] += _hermite(s, r0, m0, zero, zero, length)
    if out.shape[1] == 22:
        # The new frames' floor where the given frames had theirs: measured after the blend (the model's own frames),
        # moved in along the same smoothstep the residual fades with, so frame 0 stays given[-1].
        lift = floor_height(given) - floor_height(out[length:] if len(out) - length >= 2 else out[1:])
        lift = np.sign(lift) * max(abs(lift) - FLOOR_TOLERANCE, 0.0)
        ramp = np.ones(len(out))
        ramp[:length + 1] = s * s * (3 - 2 * s)
        out[..., 1] += lift * ramp[:, None]
    return out


def _smoothstep(count):
    s = np.arange(count) / max(count - 1, 1)
    return s * s * (3 - 2 * s)


def splice_rotations(generated, kept_first, kept_last):
    """Generated rotations over the scene frames A .. B turned to meet the kept ones at both ends.

    generated: (n, K, 4) pose-local quaternions (w, x, y, z) at frames A .. B (n >= 2); kept_first, kept_last: (K, 4)
    the user's rotations at A and B. Returns (n, K, 4) unit, hemisphere-continuous from kept_first's sign:
    generated[t] · slerp(D_A, D_B, smoothstep(t)), with D = generated^-1 · kept at each end (a turn in the bone's
    own frame, such as a twist), so frame 0 is kept_first and frame n-1 kept_last up to sign.
    """
    generated = rot.quat_normalize(np.asarray(generated, np.float64))
    d_first = rot.quat_mul(rot.quat_inv(generated[0]), rot.quat_normalize(kept_first))  # (K, 4)
    d_last = rot.quat_mul(rot.quat_inv(generated[-1]), rot.quat_normalize(kept_last))
    w = _smoothstep(len(generated))[:, None]  # (n, 1)
    out = rot.quat_normalize(rot.quat_mul(generated, rot.quat_slerp(d_first[None], d_last[None], w)))
    out = rot.quat_fix(out, axis=0)
    flip = np.sum(out[0] * np.asarray(kept_first, np.float64), axis=-1) < 0  # (K,): start on the user's sign
    return np.where(flip[None, :, None], -out, out)


def splice_offsets(generated, kept_first, kept_last):
    """Generated values over frames A .. B (n, ...) moved by the difference to the kept ones at A (kept_first, (...))
    fading into that at B along the smoothstep: frame 0 is kept_first, frame n-1 kept_last (locations)."""
    generated = np.asarray(generated, np.float64)
    w = _smoothstep(len(generated)).reshape((-1,) + (1,) * (generated.ndim - 1))
    return generated + (1 - w) * (kept_first - generated[0]) + w * (kept_last - generated[-1])

"""Rotation math in numpy: quaternions, matrices, 6D, axis-angle and Euler angles.

Conventions (stated once here, repeated per function):
- Quaternions are (w, x, y, z), scalar first, shape (..., 4). Functions that return rotations return unit quaternions.
- Matrices are (..., 3, 3) and act on column vectors: v' = R @ v. A quaternion q and its matrix rotate alike.
- `quat_mul(a, b)` is the rotation "b first, then a" (same order as the matrix product A @ B).
- 6D is HumanML3D's "cont6d": the first two COLUMNS of the matrix, [col0, col1] -> (..., 6)
  (pytorch3d uses rows; we use columns because HumanML3D's features do).
- Euler angles are intrinsic: order "ZXY" means R = Rz(a0) @ Rx(a1) @ Ry(a2), angles (..., 3) in the order of the
  letters. This is how BVH channel lists read ("Zrotation Xrotation Yrotation"). Letters are case-insensitive and
  always intrinsic (unlike scipy, where lower case means extrinsic).
- Angles are radians unless `degrees=True`.

Everything is vectorised over leading dimensions, which broadcast. Nothing here imports torch.
"""

import numpy as np

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


# ----------------------------------------------------------------------------------------------------------------------
# Quaternion basics


def quat_identity(shape=()):
    """Identity quaternions (w, x, y, z) = (1, 0, 0, 0) of shape (*shape, 4)."""
    q = np.zeros(tuple(shape) + (4,))
    q[..., 0] = 1.0
    return q


def quat_normalize(q, eps=1e-12):
    """Unit quaternions. q: (..., 4) (w, x, y, z). A zero quaternion becomes the identity rather than NaN."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    out = q / np.maximum(norm, eps)
    degenerate = norm[..., 0] < eps
    if np.any(degenerate):
        out = np.where(degenerate[..., None], quat_identity(()), out)
    return out


def quat_conjugate(q):
    """(w, -x, -y, -z). q: (..., 4). For unit quaternions this is the inverse rotation."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def quat_inv(q):
    """Inverse quaternion q^-1 = conj(q) / |q|^2. q: (..., 4) (w, x, y, z)."""
    q = np.asarray(q, dtype=np.float64)
    return quat_conjugate(q) / np.sum(q * q, axis=-1, keepdims=True)


def quat_mul(a, b):
    """Hamilton product a * b: the rotation b, then a (like A @ B). a, b: (..., 4) (w, x, y, z), broadcast."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_rotate(q, v):
    """Rotate vectors v by unit quaternions q. q: (..., 4) (w, x, y, z); v: (..., 3); broadcast -> (..., 3)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    # v' = v + 2w (u x v) + 2 u x (u x v): two cross products instead of building the matrix.
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def quat_standardize(q):
    """Pick the sign with w >= 0 (q and -q are the same rotation). q: (..., 4) (w, x, y, z)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0.0, -q, q)


def quat_fix(q, axis=0):
    """Flip signs along a time axis so consecutive quaternions have a non-negative dot product.

    q: (..., T, ..., 4) (w, x, y, z), time along `axis` (default 0, e.g. (T, J, 4)). Returns the same rotations with
    no sign jumps, which keeps interpolation and 6D/feature curves continuous. The first frame keeps its sign.
    """
    q = np.array(q, dtype=np.float64)
    axis = axis if axis >= 0 else q.ndim - 1 + axis  # axes count over the leading dims only
    q = np.moveaxis(q, axis, 0)
    if q.shape[0] > 1:
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        # Each negative dot toggles the sign of every later frame: cumulative parity of flips.
        flips = np.cumsum(dots < 0.0, axis=0) % 2
        q[1:] = np.where(flips[..., None] == 1, -q[1:], q[1:])
    return np.moveaxis(q, 0, axis)


# ----------------------------------------------------------------------------------------------------------------------
# Matrices


def quat_to_matrix(q):
    """Rotation matrices from quaternions. q: (..., 4) (w, x, y, z), normalised here -> (..., 3, 3), column vectors."""
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.stack(
        [
            1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
            2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
            2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
        ],
        axis=-1,
    )
    return m.reshape(m.shape[:-1] + (3, 3))


def matrix_to_quat(m):
    """Quaternions (w, x, y, z), w >= 0, from rotation matrices m: (..., 3, 3) (column vectors) -> (..., 4).

    Well-conditioned: of the four algebraically equal formulas, each element uses the one whose square root argument
    is largest (Shepperd's method), so precision holds near 180 degree rotations too.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_quat expects (..., 3, 3), got {m.shape}")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2) up to the matrix being exactly orthonormal.
    squares = np.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], axis=-1
    )
    r = np.sqrt(np.maximum(squares, 1e-12))  # (..., 4) = 2|w|, 2|x|, 2|y|, 2|z|
    candidates = np.stack(
        [
            np.stack([r[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], axis=-1) / (2 * r[..., 0:1]),
            np.stack([m21 - m12, r[..., 1] ** 2, m01 + m10, m02 + m20], axis=-1) / (2 * r[..., 1:2]),
            np.stack([m02 - m20, m01 + m10, r[..., 2] ** 2, m12 + m21], axis=-1) / (2 * r[..., 2:3]),
            np.stack([m10 - m01, m02 + m20, m12 + m21, r[..., 3] ** 2], axis=-1) / (2 * r[..., 3:4]),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4)
    best = np.argmax(squares, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    return quat_standardize(quat_normalize(q))


# ----------------------------------------------------------------------------------------------------------------------
# Constructing rotations


def _any_perpendicular(v):
    """A unit vector perpendicular to v: (..., 3) -> (..., 3)."""
    v = np.asarray(v, dtype=np.float64)
    # Cross with the coordinate axis least aligned with v, so the result is never tiny.
    least = np.argmin(np.abs(v), axis=-1)
    axis = np.eye(3)[least]
    p = np.cross(v, axis)
    return p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12)


def quat_between(u, v, eps=1e-9):
    """The shortest-arc rotation taking direction u to direction v. u, v: (..., 3) (any length) -> (..., 4) (w,x,y,z).

    Robust to antiparallel inputs: there the 180 degree turn is taken about an axis perpendicular to u.
    A zero-length input gives the identity.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u, v = np.broadcast_arrays(u, v)
    nu = np.linalg.norm(u, axis=-1, keepdims=True)
    nv = np.linalg.norm(v, axis=-1, keepdims=True)
    # Half-way quaternion: (|u||v| + u.v, u x v), normalised.
    w = nu * nv + np.sum(u * v, axis=-1, keepdims=True)
    q = np.concatenate([w, np.cross(u, v)], axis=-1)
    antiparallel = (w[..., 0] <= eps * np.maximum(nu * nv, eps)[..., 0]) & (nu[..., 0] > eps) & (nv[..., 0] > eps)
    if np.any(antiparallel):
        flip = np.concatenate([np.zeros(u.shape[:-1] + (1,)), _any_perpendicular(u)], axis=-1)
        q = np.where(antiparallel[..., None], flip, q)
    return quat_normalize(q)


def axis_angle_to_quat(axis_angle):
    """Quaternions from rotation vectors (axis * angle in radians). axis_angle: (..., 3) -> (..., 4) (w, x, y, z)."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle -> 1/2 as angle -> 0; the Taylor form keeps small rotations exact.
    small = angle < 1e-6
    scale = np.where(small, 0.5 - angle**2 / 48.0, np.sin(half) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(half), axis_angle * scale], axis=-1)


def quat_from_axis_angle(axis, angle):
    """Quaternions for a rotation of `angle` radians about `axis`.

    axis: (..., 3) any length; angle: (...) radians -> (..., 4) (w, x, y, z)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    return axis_angle_to_quat(axis * np.asarray(angle, dtype=np.float64)[..., None])


def quat_to_axis_angle(q):
    """Rotation vectors (axis * angle, angle in [0, pi]) from quaternions q: (..., 4) (w, x, y, z) -> (..., 3)."""
    q = quat_standardize(quat_normalize(q))
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    small = s < 1e-8
    scale = np.where(small, 2.0, angle / np.where(small, 1.0, s))
    return q[..., 1:] * scale


def quat_slerp(q0, q1, t):
    """Spherical interpolation from q0 (t=0) to q1 (t=1) along the shorter arc.

    q0, q1: (..., 4) (w, x, y, z) unit; t: scalar or (...) broadcastable to the leading dims -> (..., 4).
    """
    q0 = quat_normalize(q0)
    q1 = quat_normalize(q1)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6  # nearly equal: linear interpolation is exact enough and avoids 0/0
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


# ----------------------------------------------------------------------------------------------------------------------
# 6D (HumanML3D cont6d: first two columns)


def matrix_to_6d(m):
    """6D from matrices: the first two columns [col0, col1]. m: (..., 3, 3) -> (..., 6)."""
    m = np.asarray(m, dtype=np.float64)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def quat_to_6d(q):
    """6D [col0, col1] of the rotation matrix of q: (..., 4) (w, x, y, z) -> (..., 6)."""
    return matrix_to_6d(quat_to_matrix(q))


def sixd_to_matrix(d6):
    """Rotation matrices from 6D [col0, col1] by Gram-Schmidt. d6: (..., 6) -> (..., 3, 3), column vectors.

    col0 is normalised; col2 = normalize(col0 x col1_raw); col1 = col2 x col0. Any non-degenerate input gives a proper
    rotation (this is how HumanML3D decodes its cont6d).
    """
    d6 = np.asarray(d6, dtype=np.float64)
    a, b = d6[..., 0:3], d6[..., 3:6]
    x = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    z = np.cross(x, b)
    z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def sixd_to_quat(d6):
    """Quaternions (w, x, y, z), w >= 0, from 6D [col0, col1]. d6: (..., 6) -> (..., 4)."""
    return matrix_to_quat(sixd_to_matrix(d6))


# ----------------------------------------------------------------------------------------------------------------------
# Euler angles (intrinsic, any Tait-Bryan order)


def _parse_order(order):
    if not isinstance(order, str) or len(order) != 3 or any(c not in _AXIS_INDEX for c in order.upper()):
        raise ValueError(f"Euler order must be three letters from X, Y, Z, got {order!r}")
    order = order.upper()
    if len(set(order)) != 3:
        raise ValueError(f"Euler order must use three different axes (Tait-Bryan), got {order!r}")
    return [_AXIS_INDEX[c] for c in order]


def _elementary_matrix(axis, angle):
    """Rotation about one coordinate axis. axis: 0/1/2; angle: (...) radians -> (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(np.shape(angle) + (3, 3))
    i, j = (axis + 1) % 3, (axis + 2) % 3
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., j, i] = s
    m[..., i, j] = -s
    return m


def euler_to_matrix(angles, order, degrees=False):
    """Matrices from intrinsic Euler angles. angles: (..., 3) in the order of the letters; order: e.g. "ZXY" means
    R = Rz(angles[0]) @ Rx(angles[1]) @ Ry(angles[2]) (BVH channel order). -> (..., 3, 3), column vectors."""
    axes = _parse_order(order)
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1] != 3:
        raise ValueError(f"Euler angles must have shape (..., 3), got {angles.shape}")
    if degrees:
        angles = np.deg2rad(angles)
    m = _elementary_matrix(axes[0], angles[..., 0])
    m = m @ _elementary_matrix(axes[1], angles[..., 1])
    return m @ _elementary_matrix(axes[2], angles[..., 2])


def euler_to_quat(angles, order, degrees=False):
    """Quaternions (w, x, y, z) from intrinsic Euler angles (..., 3) in `order` (see `euler_to_matrix`) -> (..., 4)."""
    axes = _parse_order(order)
    angles = np.asarray(angles, dtype=np.float64)
    if degrees:
        angles = np.deg2rad(angles)
    q = None
    for k, axis in enumerate(axes):
        half = 0.5 * angles[..., k]
        qk = np.zeros(half.shape + (4,))
        qk[..., 0] = np.cos(half)
        qk[..., 1 + axis] = np.sin(half)
        q = qk if q is None else quat_mul(q, qk)  # intrinsic: later axes multiply on the right
    return q


def matrix_to_euler(m, order, degrees=False):
    """Intrinsic Euler angles (..., 3) in `order` with R = R_order[0] @ R_order[1] @ R_order[2]. m: (..., 3, 3).

    The middle angle is in [-90, 90] degrees. At gimbal lock (middle angle +-90) the last angle is set to 0.
    """
    i, j, k = _parse_order(order)
    m = np.asarray(m, dtype=np.float64)
    # +1 for cyclic orders (XYZ, YZX, ZXY), -1 for the others: fixes the signs of the closed forms below.
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    sin_b = np.clip(s * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = np.abs(sin_b) > 1.0 - 1e-10
    if np.any(locked):
        a_locked = np.arctan2(s * m[..., k, j], m[..., j, j])
        a = np.where(locked, a_locked, a)
        c = np.where(locked, 0.0, c)
    angles = np.stack([a, b, c], axis=-1)
    return np.rad2deg(angles) if degrees else angles


def quat_to_euler(q, order, degrees=False):
    """Intrinsic Euler angles (..., 3) in `order` from quaternions q: (..., 4) (w, x, y, z) (see `matrix_to_euler`)."""
    return matrix_to_euler(quat_to_matrix(q), order, degrees=degrees)


def euler_continuous(angles):
    """The same rotations as `angles` (T, ..., 3), intrinsic Tait-Bryan radians, written continuously along axis 0:
    each frame takes, of its equivalent angle sets (a + 2πn, b + 2πm, c + 2πk) and (a + π, π - b, c + π) (+ 2π
    multiples), the one nearest the previous frame's, so curves keyed from them do not jump by 2π or flip.

    Where the middle angle stays clear of ±90° the first solution is continuous already and only 2π wraps are
    undone (vectorised); the frame-by-frame choice runs only for series that come near gimbal lock.
    """
    angles = np.asarray(angles, dtype=np.float64)
    out = angles.copy()
    out[..., 0] = np.unwrap(angles[..., 0], axis=0)
    out[..., 2] = np.unwrap(angles[..., 2], axis=0)
    near_lock = (np.abs(angles[..., 1]) > np.radians(75.0)).any(axis=0)  # (...,) series that need the careful path
    if not near_lock.any():
        return out
    series = angles[:, near_lock]  # (T, M, 3)
    alternative = np.stack([series[..., 0] + np.pi, np.pi - series[..., 1], series[..., 2] + np.pi], axis=-1)
    chosen = np.empty_like(series)
    chosen[0] = series[0]
    two_pi = 2.0 * np.pi
    for t in range(1, len(series)):
        previous = chosen[t - 1]
        candidates = []
        for option in (series[t], alternative[t]):
            option = option + two_pi * np.round((previous - option) / two_pi)
            candidates.append(option)
        far = np.abs(candidates[0] - previous).sum(-1) > np.abs(candidates[1] - previous).sum(-1)
        chosen[t] = np.where(far[..., None], candidates[1], candidates[0])
    out[:, near_lock] = chosen
    return out

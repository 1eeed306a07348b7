"""The procedural body: pose tracks in, HumanML3D 22-joint positions out.

Every action in the library describes a clip as `PoseTracks`: a pelvis path and heading, trunk / neck angles, foot
(ankle) targets on the ground and hand targets relative to the shoulders. `solve_pose` turns them into joints with
forward kinematics for the trunk, head and collars and analytic two-bone IK for the arms and legs, so every bone keeps
its T2M length and planted feet stay exactly where the tracks put them.

Conventions: metres, Y-up, +Z forward, +X is the person's left, 20 fps, HumanML3D 22-joint SMPL order. Angles are
radians. Positive yaw turns left (maps +Z toward +X); positive pitch leans forward; positive side bend leans left.
"""

from dataclasses import dataclass, field

import numpy as np

from motion_core.motion.kinematics import (LEFT_ANKLE, LEFT_ELBOW, LEFT_FOOT, LEFT_HIP, LEFT_KNEE, LEFT_SHOULDER,
                                            LEFT_WRIST, NECK, PELVIS, RIGHT_ANKLE, RIGHT_ELBOW, RIGHT_FOOT, RIGHT_HIP,
                                            RIGHT_KNEE, RIGHT_SHOULDER, RIGHT_WRIST, SPINE1, SPINE2, SPINE3,
                                            fk_matrices, two_bone_ik)
from motion_core.motion.protocol import FPS
from motion_core.motion.skeleton import PARENTS, T2M_OFFSETS


# Bone lengths of the target skeleton (joint i to its parent), metres.
BONE_LENGTHS = np.linalg.norm(np.asarray(T2M_OFFSETS, dtype=np.float64), axis=-1)

# Rest directions for the trunk / head / collars, measured from a natural standing pose (pelvis frame, unit
# vectors). T2M's own rest directions are axis-aligned (hips straight out, arms hanging from the collar), which would
# look stiff; these keep the T2M bone lengths but point where a standing body's joints are.
_REST_DIRECTIONS = {
    1: (0.44, -0.90, 0.0),   # left hip: out and down from the pelvis
    2: (-0.44, -0.90, 0.0),
    3: (0.0, 0.92, -0.40),   # spine1 sits slightly behind the pelvis
    6: (0.0, 0.97, 0.25),
    9: (0.0, 0.95, 0.31),
    12: (0.0, 1.0, 0.03),
    15: (0.0, 0.46, 0.89),   # head joint is forward and up of the neck
    13: (0.49, 0.87, 0.0),
    14: (-0.49, 0.87, 0.0),
    16: (1.0, -0.07, 0.0),
    17: (-1.0, -0.07, 0.0),
}
REST_OFFSETS = np.zeros((22, 3))
for _joint, _direction in _REST_DIRECTIONS.items():
    _d = np.asarray(_direction, dtype=np.float64)
    REST_OFFSETS[_joint] = _d / np.linalg.norm(_d) * BONE_LENGTHS[_joint]

THIGH = BONE_LENGTHS[[4, 5]]       # (2,) left, right
SHIN = BONE_LENGTHS[[7, 8]]
UPPER_ARM = BONE_LENGTHS[[18, 19]]
FOREARM = BONE_LENGTHS[[20, 21]]
FOOT = BONE_LENGTHS[[10, 11]]      # ankle to ball of the foot
TOE_HEIGHT = 0.012                 # ball-of-foot joint height when the foot is flat on the floor
ANKLE_HEIGHT = 0.075               # ankle joint height when the foot is flat
FOOT_REST_PITCH = np.arcsin((ANKLE_HEIGHT - TOE_HEIGHT) / FOOT)  # (2,) the foot points down-forward at rest
LEG_REACH = 0.993 * (THIGH + SHIN)  # never fully straight: a locked knee looks robotic and IK gets unstable
HIP_HALF_WIDTH = REST_OFFSETS[1, 0]
STANCE_HALF_WIDTH = 0.09          # ankles sit a little wider than the hips
TOE_OUT = 0.12                     # feet turn out slightly (rad)
STAND_PELVIS_HEIGHT = float(ANKLE_HEIGHT - REST_OFFSETS[1, 1] + 0.985 * (THIGH + SHIN).mean())
SIDE_SIGN = np.array([1.0, -1.0])  # left, right: multiply an x coordinate to mirror it onto a side

# Hand targets live in the chest frame, relative to each shoulder: x left, y up, z forward.
HAND_REST = np.array([[0.05, -0.50, 0.06], [-0.05, -0.50, 0.06]])
ELBOW_POLE_REST = np.array([[0.35, 0.0, -1.0], [-0.35, 0.0, -1.0]])


# Tracks stored per side, (2, T, ...); every other array track is (T, ...).
SIDED_TRACKS = ("ankle", "foot_yaw", "foot_pitch", "contact", "hand", "elbow_pole", "knee_pole")


@dataclass
class PoseTracks:
    """One clip as animation curves (T frames). World positions for the pelvis and feet, body-relative elsewhere.

    root: (T, 3) pelvis position. heading: (T,) body yaw. pelvis: (T, 3) extra pelvis (pitch, side, yaw).
    spine: (T, 3) trunk (flex, side, twist) spread over spine1..3. neck: (T, 3) (pitch, side, yaw) of the head.
    collar: (T, 2) shoulder elevation (left, right). ankle: (2, T, 3) ankle targets (left, right).
    foot_yaw: (2, T) world yaw of each foot. foot_pitch: (2, T) heel-up pitch added to the rest pitch.
    contact: (2, T) bool, the foot is planted (used by quality checks and corpus captions).
    hand: (2, T, 3) wrist targets relative to the shoulder, chest frame. elbow_pole: (2, T, 3) chest frame.
    knee_pole: (2, T, 3) world direction the knees point, or None for "along the foot".
    """

    root: np.ndarray
    heading: np.ndarray
    pelvis: np.ndarray
    spine: np.ndarray
    neck: np.ndarray
    collar: np.ndarray
    ankle: np.ndarray
    foot_yaw: np.ndarray
    foot_pitch: np.ndarray
    contact: np.ndarray
    hand: np.ndarray
    elbow_pole: np.ndarray
    knee_pole: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.heading)

    def copy(self) -> "PoseTracks":
        return PoseTracks(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})

    def repeat(self, count: int) -> "PoseTracks":
        """A one-frame track set repeated `count` times (a held pose)."""
        out = {}
        for name, value in self.__dict__.items():
            if not isinstance(value, np.ndarray):
                out[name] = value
            elif name in SIDED_TRACKS:
                out[name] = np.repeat(value[:, :1], count, axis=1)
            else:
                out[name] = np.repeat(value[:1], count, axis=0)
        out["info"] = {}
        return PoseTracks(**out)

    def slice(self, start: int, stop: int) -> "PoseTracks":
        """Frames [start, stop) of every track."""
        out = {}
        for name, value in self.__dict__.items():
            if not isinstance(value, np.ndarray):
                out[name] = value
            elif name in SIDED_TRACKS:
                out[name] = value[:, start:stop]
            else:
                out[name] = value[start:stop]
        return PoseTracks(**out)


def standing_tracks(n_frames: int, root_xz=(0.0, 0.0), heading=0.0, stance_width=0.0) -> PoseTracks:
    """A neutral standing pose held for n_frames: feet under the hips, arms hanging, facing `heading`."""
    t = n_frames
    yaw = np.full(t, float(heading))
    root = np.zeros((t, 3))
    root[:, 0], root[:, 2] = root_xz
    root[:, 1] = STAND_PELVIS_HEIGHT
    ankle = np.zeros((2, t, 3))
    for side in range(2):
        ankle[side] = neutral_foot_position(root, yaw, side, stance_width)
    foot_yaw = np.stack([yaw + TOE_OUT, yaw - TOE_OUT])
    return PoseTracks(
        root=root, heading=yaw, pelvis=np.zeros((t, 3)), spine=np.zeros((t, 3)), neck=np.zeros((t, 3)),
        collar=np.zeros((t, 2)), ankle=ankle, foot_yaw=foot_yaw, foot_pitch=np.zeros((2, t)),
        contact=np.ones((2, t), dtype=bool), hand=np.repeat(HAND_REST[:, None], t, axis=1),
        elbow_pole=np.repeat(ELBOW_POLE_REST[:, None], t, axis=1),
    )


def neutral_foot_position(root: np.ndarray, heading: np.ndarray, side: int, stance_width=0.0, forward=0.0):
    """Flat-foot ankle position under one hip. root: (T, 3), heading: (T,) -> (T, 3) with y = ANKLE_HEIGHT."""
    lateral = SIDE_SIGN[side] * (STANCE_HALF_WIDTH + 0.5 * stance_width)
    local = np.stack([np.full_like(heading, lateral), np.zeros_like(heading), np.full_like(heading, forward)], -1)
    out = root + rotate_yaw(local, heading)
    out[..., 1] = ANKLE_HEIGHT
    return out


def rotate_yaw(vectors: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors about +Y by yaw (...,) radians (positive turns +Z toward +X)."""
    c, s = np.cos(yaw), np.sin(yaw)
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    x, y, z, c, s = np.broadcast_arrays(x, y, z, c, s)
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)


def body_matrix(yaw, pitch, side) -> np.ndarray:
    """Rotation Ry(yaw) @ Rx(pitch) @ Rz(-side) as (..., 3, 3); the three arrays share one shape (...)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(side), -np.sin(side)
    # Closed form of the product, written out to avoid three batched matmuls.
    m = np.stack([cy * cr + sy * sp * sr, -cy * sr + sy * sp * cr, sy * cp,
                  cp * sr, cp * cr, -sp,
                  -sy * cr + cy * sp * sr, sy * sr + cy * sp * cr, cy * cp], axis=-1)
    return m.reshape(m.shape[:-1] + (3, 3))


def foot_direction(yaw: np.ndarray, pitch_down: np.ndarray) -> np.ndarray:
    """Unit vector from ankle to the ball of the foot. yaw, pitch_down: (...,) -> (..., 3)."""
    cp = np.cos(pitch_down)
    return np.stack([np.sin(yaw) * cp, -np.sin(pitch_down), np.cos(yaw) * cp], axis=-1)


def soft_min(value, limit, softness=0.015):
    """A smooth min(value, limit): equals `value` well below the limit, never exceeds it."""
    gap = (limit - value) / softness
    return limit - softness * np.logaddexp(0.0, gap)


_BLUR = np.exp(-0.5 * (np.arange(-4, 5) / 1.6) ** 2)
_BLUR /= _BLUR.sum()


def _smooth_drop(drop):
    """A smooth curve (T,) at least about as large as `drop` (T,): max filter over 5 frames, then a Gaussian blur."""
    if len(drop) < 9:
        return drop
    padded = np.pad(drop, 2, mode="edge")
    widened = np.max(np.stack([padded[i:i + len(drop)] for i in range(5)]), axis=0)
    return np.convolve(np.pad(widened, 4, mode="edge"), _BLUR, mode="valid")


def _widen(flags, radius):
    """A 0..1 weight that ramps up `radius` frames around each True in flags (T,)."""
    w = flags.astype(float)
    kernel = 1.0 - np.abs(np.arange(-radius, radius + 1)) / (radius + 1.0)
    return np.minimum(np.convolve(w, kernel, mode="same"), 1.0)


def _apply(rotations, vectors):
    """rotations (..., 3, 3) applied to vectors (..., 3) or one (3,) vector."""
    if vectors.ndim == 1:
        return rotations @ vectors
    return (rotations @ vectors[..., None])[..., 0]


def solve_pose(tracks: PoseTracks) -> np.ndarray:
    """Pose tracks -> joints (T, 22, 3) float32 with T2M bone lengths.

    The pelvis is lowered (smoothly) where a leg could not otherwise reach its ankle target, so planted feet never
    slide: the body adapts, not the footprint.
    """
    t = tracks.n_frames
    # One batched call for pelvis, spine1..3 and neck rotations: (5, T, 3, 3).
    spine_w = np.array([0.25, 0.35, 0.40])[:, None]
    yaw = np.concatenate([(tracks.heading + tracks.pelvis[:, 2])[None], spine_w * tracks.spine[:, 2],
                          tracks.neck[:, 2][None]])
    pitch = np.concatenate([tracks.pelvis[:, 0][None], spine_w * tracks.spine[:, 0], tracks.neck[:, 0][None]])
    side = np.concatenate([tracks.pelvis[:, 1][None], spine_w * tracks.spine[:, 1], tracks.neck[:, 1][None]])
    local = body_matrix(yaw, pitch, side)
    r_pelvis = local[0]
    hip_offsets = np.stack([r_pelvis @ REST_OFFSETS[LEFT_HIP], r_pelvis @ REST_OFFSETS[RIGHT_HIP]])  # (2, T, 3)

    # Lower the pelvis where needed so both legs reach (smooth, so no velocity kinks at the limit).
    root = tracks.root.copy()
    ankle = tracks.ankle
    hips_xz = root[None, :, [0, 2]] + hip_offsets[:, :, [0, 2]]
    horizontal = ankle[:, :, [0, 2]] - hips_xz
    vertical = np.sqrt(np.maximum(LEG_REACH[:, None] ** 2 - (horizontal * horizontal).sum(-1), 0.01))
    # Only planted feet must be reached; a swing foot may fall short (IK pulls it in) without visible harm.
    slack = 0.15 * (1.0 - np.stack([_widen(tracks.contact[s], 2) for s in range(2)]))
    limit = (ankle[:, :, 1] + vertical - hip_offsets[:, :, 1] + slack).min(0)
    # Smooth the drop: widen it (max filter) and blur it, so the pelvis never jerks at the reach limit.
    drop = _smooth_drop(root[:, 1] - soft_min(root[:, 1], limit))
    root[:, 1] -= drop

    # Trunk, head, collars and hips: forward kinematics over the skeleton's tree. The limbs below the hips and
    # shoulders come out of it at rest and are replaced by IK further down.
    rotations = np.broadcast_to(np.eye(3), (t, 22, 3, 3)).copy()                # (T, 22, 3, 3) local
    rotations[:, [PELVIS, SPINE1, SPINE2, SPINE3, NECK]] = local.transpose(1, 0, 2, 3)
    offsets = np.broadcast_to(REST_OFFSETS, (t, 22, 3)).copy()                 # (T, 22, 3) parent frame
    offsets[:, PELVIS] = root
    for s, shoulder in enumerate((LEFT_SHOULDER, RIGHT_SHOULDER)):
        # Shrug: the shoulder's offset turns about the chest's forward axis.
        angle = tracks.collar[:, s] * SIDE_SIGN[s]
        ox, oy, oz = REST_OFFSETS[shoulder]
        c, sn = np.cos(angle), np.sin(angle)
        offsets[:, shoulder] = np.stack([c * ox - sn * oy, sn * ox + c * oy, np.full(t, oz)], -1)
    world_rot, joints = fk_matrices(PARENTS, rotations, offsets)
    r_chest = world_rot[:, SPINE3]

    # Arms (both at once): wrist targets in the chest frame -> two-bone IK.
    shoulders = joints[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].transpose(1, 0, 2)  # (2, T, 3)
    targets = shoulders + _apply(r_chest[None], tracks.hand)
    poles = _apply(r_chest[None], tracks.elbow_pole)
    elbows, wrists = two_bone_ik(shoulders, targets, poles, UPPER_ARM[:, None, None], FOREARM[:, None, None])
    joints[:, [LEFT_ELBOW, RIGHT_ELBOW]] = elbows.transpose(1, 0, 2)
    joints[:, [LEFT_WRIST, RIGHT_WRIST]] = wrists.transpose(1, 0, 2)

    # Legs (both at once): hips from the pelvis (FK above), knees by IK toward the pole, feet along yaw / pitch.
    hips = joints[:, [LEFT_HIP, RIGHT_HIP]].transpose(1, 0, 2)                  # (2, T, 3)
    if tracks.knee_pole is not None:
        knee_poles = tracks.knee_pole
    else:
        knee_poles = foot_direction(tracks.foot_yaw, np.zeros_like(tracks.foot_yaw)) + 0.3 * r_pelvis[None, :, :, 2]
    knees, ankles = two_bone_ik(hips, ankle, knee_poles, THIGH[:, None, None], SHIN[:, None, None])
    toes = ankles + FOOT[:, None, None] * foot_direction(tracks.foot_yaw,
                                                         FOOT_REST_PITCH[:, None] + tracks.foot_pitch)
    joints[:, [LEFT_KNEE, RIGHT_KNEE]] = knees.transpose(1, 0, 2)
    joints[:, [LEFT_ANKLE, RIGHT_ANKLE]] = ankles.transpose(1, 0, 2)
    joints[:, [LEFT_FOOT, RIGHT_FOOT]] = toes.transpose(1, 0, 2)
    return joints.astype(np.float32)

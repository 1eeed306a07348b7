"""HumanML3D motion features (263-d for 22 joints, KIT-ML's 251-d for 21), both ways, and their normaliser.

Conventions: joints (T, J, 3) metres, Y-up, +Z forward, 20 fps (KIT: 12.5 fps, millimetres); quaternions (w, x, y, z).
Features have T-1 rows (the last frame is used up by velocities). Layout per row (J = 22 -> 263, J = 21 -> 251):

    [0]                      root yaw velocity: arcsin(y of the per-frame root rotation quaternion) = HALF the yaw
                             change per frame, radians
    [1:3]                    root linear velocity (x, z) in the root's facing frame, metres per frame
    [3]                      root height y
    [4 : 4+3(J-1)]           "RIC" joint positions 1..J-1: relative to the root's x/z, rotated to face +Z
    [.. : +6(J-1)]           6D rotations (first two matrix columns) of joints 1..J-1, HumanML3D's swing IK
    [.. : +3J]               joint velocities 0..J-1 in the root's facing frame, metres per frame
    [-4:]                    foot contacts 0/1: left ankle, left foot, right ankle, right foot

The processing follows HumanML3D's `process_file` (motion_representation.ipynb) step by step, quirks included, so our
features and theirs agree: uniform skeleton -> floor -> x/z origin -> face +Z at frame 0 -> foot contacts -> rotations
(with the facing direction smoothed over time) -> RIC positions -> velocities. Recovery is `recover_from_ric`.

HumanML3D's rotation convention differs from `skeleton.py`'s: its quaternion at joint j turns the BONE parent -> j
from its rest direction `RAW_OFFSETS[j]`, and every chain (also the arms, which start at spine3) is relative to the
root rotation. Those swings carry no twist. Use `skeleton.joints_to_rotations` to drive a rig.
"""

from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.rotations import (
    quat_between,
    quat_conjugate,
    quat_fix,
    quat_identity,
    quat_mul,
    quat_rotate,
    quat_to_6d,
    sixd_to_matrix,
    matrix_to_quat,
)
from motion_core.motion.skeleton import SkeletonLayout, get_layout

FACING_SMOOTH_SIGMA = 20.0  # frames; HumanML3D smooths the facing direction with a Gaussian of this width


def feature_dim(joints=22):
    """8 + (J-1)*9 + J*3: 263 for 22 joints, 251 for 21."""
    return 8 + (joints - 1) * 9 + joints * 3


def feature_slices(joints=22):
    """Named slices into a feature row: root_rot_vel, root_lin_vel, root_y, ric, rot, vel, feet."""
    ric = 4 + (joints - 1) * 3
    rot = ric + (joints - 1) * 6
    vel = rot + joints * 3
    return {
        "root_rot_vel": slice(0, 1),
        "root_lin_vel": slice(1, 3),
        "root_y": slice(3, 4),
        "ric": slice(4, ric),
        "rot": slice(ric, rot),
        "vel": slice(rot, vel),
        "feet": slice(vel, vel + 4),
    }


def _layout_for(layout, joints_count):
    if layout is None and joints_count not in (21, 22):
        raise ValueError(f"expected 22 (HumanML3D) or 21 (KIT) joints, got {joints_count}")
    return get_layout(layout, joints=joints_count)


def _check_joints(joints, layout):
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints must have shape (T, J, 3), got {joints.shape}")
    lay = _layout_for(layout, joints.shape[1])
    if joints.shape[1] != lay.num_joints:
        raise ValueError(f"layout {lay.name} has {lay.num_joints} joints, got {joints.shape[1]}")
    if joints.shape[0] < 2:
        raise MotionError(f"motion has {joints.shape[0]} frame(s); features need at least 2 frames, use a longer clip")
    if not np.all(np.isfinite(joints)):
        raise MotionError("motion contains NaN or infinite joint positions; re-export or re-import the clip")
    return joints, lay


# ----------------------------------------------------------------------------------------------------------------------
# Processing steps


def gaussian_smooth(x, sigma, axis=0, ends="hold"):
    """Gaussian smoothing along one axis (truncated at 4 sigma) written in numpy so Blender's Python needs nothing
    else. x: (..., T, ...) -> same shape, float64.

    ends: "hold" repeats the first and last values past the ends (scipy's gaussian_filter1d, mode "nearest");
    "extend" point-reflects them (2 x0 - x_k), so a value changing steadily at an end keeps changing so (a joint
    moving at constant velocity comes back unchanged, where held ends would bend its path); the kernel is then cut to
    the length of the axis."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    radius = int(4.0 * sigma + 0.5)
    if ends == "extend":
        radius = min(radius, len(x) - 1)
        head, tail = 2 * x[:1] - x[radius:0:-1], 2 * x[-1:] - x[-2:-radius - 2:-1]
    elif ends == "hold":
        head, tail = np.repeat(x[:1], radius, axis=0), np.repeat(x[-1:], radius, axis=0)
    else:
        raise ValueError(f"ends must be \"hold\" or \"extend\", got {ends!r}")
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([head, x, tail], axis=0)
    out = np.zeros_like(x)
    for k, weight in enumerate(kernel):
        out += weight * padded[k : k + x.shape[0]]
    return np.moveaxis(out, 0, axis)


def uniform_skeleton(joints, target_lengths=None, layout=None):
    """Re-target a clip to the target skeleton's bone lengths (HumanML3D's uniform_skeleton).

    Every bone keeps its direction and takes the target length; the root trajectory is scaled by the leg-length
    ratio (target / source, legs measured at frame 0). Equals HumanML3D's IK-then-FK, which reproduces bone
    directions exactly. joints: (T, J, 3); target_lengths: (J,) (default: the layout's target, for KIT the clip's
    own frame-0 lengths) -> (T, J, 3).
    """
    joints = np.asarray(joints, dtype=np.float64)
    lay = _layout_for(layout, joints.shape[1])
    parents = np.array(lay.parents)
    if target_lengths is None:
        target_lengths = lay.target_bone_lengths
    bones = joints[:, 1:] - joints[:, parents[1:]]  # (T, J-1, 3)
    if target_lengths is None:
        target_lengths = np.concatenate([[0.0], np.linalg.norm(bones[0], axis=-1)])
    target_lengths = np.asarray(target_lengths, dtype=np.float64)
    source_lengths = np.concatenate([[0.0], np.linalg.norm(bones[0], axis=-1)])
    leg = list(lay.leg_joints)
    source_leg = source_lengths[leg].sum()
    scale = target_lengths[leg].sum() / source_leg if source_leg > 1e-9 else 1.0

    norms = np.linalg.norm(bones, axis=-1, keepdims=True)
    rest = np.broadcast_to(lay.raw_offsets[1:], bones.shape)
    # A zero-length bone has no direction; fall back to the rest direction (HumanML3D would produce NaN).
    directions = np.where(norms > 1e-9, bones / np.maximum(norms, 1e-12), rest)
    out = np.zeros_like(joints)
    out[:, 0] = joints[:, 0] * scale
    for j in range(1, lay.num_joints):
        out[:, j] = out[:, parents[j]] + directions[:, j - 1] * target_lengths[j]
    return out


def _forward_direction(joints, across_pairs):
    """Per-frame horizontal forward direction, forward = y cross normalize(across), with
    across = (joint a - joint b) + (joint c - joint d) for across_pairs ((a, b), (c, d)).
    joints: (T, J, 3) -> (T, 3)."""
    (a, b), (c, d) = across_pairs
    across = (joints[:, a] - joints[:, b]) + (joints[:, c] - joints[:, d])
    across = across / np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-12)
    return np.cross(np.array([0.0, 1.0, 0.0]), across)


def humanml3d_bone_rotations(joints, layout=None, smooth_forward=True):
    """HumanML3D's swing IK (`Skeleton.inverse_kinematics_np`): per-joint bone quaternions (w, x, y, z).

    Index 0 holds the root (facing) rotation qbetween(forward, +Z), set to the identity at frame 0 as HumanML3D
    does; index j > 0 holds R_chain^-1 * qbetween(RAW_OFFSETS[j], bone parent -> j), where R_chain accumulates
    along the kinematic chain starting from the root rotation. joints: (T, J, 3) -> (T, J, 4).
    """
    joints = np.asarray(joints, dtype=np.float64)
    lay = _layout_for(layout, joints.shape[1])
    right_hip, left_hip, right_shoulder, left_shoulder = lay.face_joints
    # HumanML3D's IK unpacks face_joint_indx as (l_hip, r_hip, sdr_r, sdr_l): its across is
    # (second - first) + (third - fourth). Kept as is for parity (the shoulders dominate, so it still points right).
    forward = _forward_direction(joints, ((left_hip, right_hip), (right_shoulder, left_shoulder)))
    if smooth_forward:
        forward = gaussian_smooth(forward, FACING_SMOOTH_SIGMA, axis=0)
    forward = forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-12)
    root_quat = quat_between(forward, np.array([0.0, 0.0, 1.0]))
    root_quat[0] = quat_identity(())

    num_frames = joints.shape[0]
    quats = np.zeros((num_frames, lay.num_joints, 4))
    quats[:, 0] = root_quat
    for chain in lay.kinematic_chain:
        accumulated = root_quat
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = joints[:, child] - joints[:, parent]
            swing = quat_between(np.broadcast_to(lay.raw_offsets[child], bone.shape), bone)
            local = quat_mul(quat_conjugate(accumulated), swing)
            quats[:, child] = local
            accumulated = quat_mul(accumulated, local)
    return quats


def foot_contacts(joints, threshold, layout=None):
    """Binary foot contacts (T-1, 2) per side: squared per-frame displacement < threshold (m^2 per frame).
    joints: (T, J, 3) -> (left (T-1, 2), right (T-1, 2)) as float."""
    lay = _layout_for(layout, joints.shape[1])
    step = np.sum((joints[1:] - joints[:-1]) ** 2, axis=-1)  # (T-1, J)
    left = (step[:, list(lay.feet_left)] < threshold).astype(np.float64)
    right = (step[:, list(lay.feet_right)] < threshold).astype(np.float64)
    return left, right


def canonicalize(joints, layout=None):
    """Floor at y = 0, root at x = z = 0 and facing +Z at frame 0 (HumanML3D's steps 2-4). (T, J, 3) -> (T, J, 3)."""
    joints = np.array(joints, dtype=np.float64)
    lay = _layout_for(layout, joints.shape[1])
    joints[..., 1] -= joints[..., 1].min()
    joints -= joints[0, 0] * np.array([1.0, 0.0, 1.0])
    right_hip, left_hip, right_shoulder, left_shoulder = lay.face_joints
    forward = _forward_direction(joints[:1], ((right_hip, left_hip), (right_shoulder, left_shoulder)))
    forward = forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-12)
    face = quat_between(forward, np.array([0.0, 0.0, 1.0]))  # (1, 4)
    return quat_rotate(face[:, None], joints)


def joints_to_features(joints, feet_threshold=None, layout=None, target_lengths=None, return_positions=False):
    """HumanML3D features from joint positions (does uniform skeleton, floor, origin and facing itself).

    joints: (T, J, 3), J = 22 (metres) or 21 (KIT layout, millimetres); feet_threshold defaults to 0.002 (KIT 0.05);
    target_lengths: (J,) bone lengths to re-target to (default: HumanML3D's target skeleton; KIT: the clip's own).
    Returns (T-1, 263) float32 (251 for KIT); with return_positions=True also the canonical uniformised joints
    (T, J, 3) float64 the features were computed from.
    """
    joints, lay = _check_joints(joints, layout)
    threshold = lay.feet_threshold if feet_threshold is None else feet_threshold
    positions = canonicalize(uniform_skeleton(joints, target_lengths, lay), lay)  # global positions (T, J, 3)
    num_frames, num_joints = positions.shape[:2]

    feet_l, feet_r = foot_contacts(positions, threshold, lay)

    bone_quats = humanml3d_bone_rotations(positions, lay, smooth_forward=True)
    # (T, 4) world -> facing frame. Signs made continuous first: HumanML3D skips this, which flips the sign of the
    # yaw-velocity channel at the frame where the facing passes 180 degrees from the start (a turn-around).
    root_rot = quat_fix(bone_quats[:, 0])
    rot6d = quat_to_6d(bone_quats[:, 1:]).reshape(num_frames, -1)  # (T, (J-1)*6)

    root_velocity = quat_rotate(root_rot[1:], positions[1:, 0] - positions[:-1, 0])  # (T-1, 3)
    root_turn = quat_mul(root_rot[1:], quat_conjugate(root_rot[:-1]))  # (T-1, 4)
    root_yaw_velocity = np.arcsin(np.clip(root_turn[:, 2:3], -1.0, 1.0))

    ric = positions.copy()
    ric[..., 0] -= ric[:, :1, 0]
    ric[..., 2] -= ric[:, :1, 2]
    ric = quat_rotate(root_rot[:, None], ric)  # (T, J, 3)

    local_velocity = quat_rotate(root_rot[:-1, None], positions[1:] - positions[:-1])  # (T-1, J, 3)

    features = np.concatenate(
        [
            root_yaw_velocity,
            root_velocity[:, [0, 2]],
            ric[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(num_frames - 1, -1),
            rot6d[:-1],
            local_velocity.reshape(num_frames - 1, -1),
            feet_l,
            feet_r,
        ],
        axis=-1,
    ).astype(np.float32)
    assert features.shape[-1] == feature_dim(num_joints)
    if return_positions:
        return features, positions
    return features


# ----------------------------------------------------------------------------------------------------------------------
# Recovery


def _joints_from_dim(dim):
    for joints in (22, 21):
        if feature_dim(joints) == dim:
            return joints
    raise ValueError(f"feature size {dim} is neither 263 (22 joints) nor 251 (21 joints)")


def recover_root(features):
    """Root rotation and position from features (HumanML3D's recover_root_rot_pos).

    features: (..., T, D). Returns (root_quat (..., T, 4) (w, x, y, z), yaw only, world -> facing frame;
    root_pos (..., T, 3) metres, starting at x = z = 0).
    """
    features = np.asarray(features, dtype=np.float64)
    yaw_velocity = features[..., 0]
    # Channel 0 holds half-angles, so the accumulated value is directly the quaternion's half-angle.
    half_angle = np.zeros_like(yaw_velocity)
    half_angle[..., 1:] = np.cumsum(yaw_velocity[..., :-1], axis=-1)
    root_quat = np.zeros(features.shape[:-1] + (4,))
    root_quat[..., 0] = np.cos(half_angle)
    root_quat[..., 2] = np.sin(half_angle)

    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    root_pos = np.cumsum(quat_rotate(quat_conjugate(root_quat), step), axis=-2)
    root_pos[..., 1] = features[..., 3]
    return root_quat, root_pos


def recover_from_ric(features, joints=None):
    """Joint positions from features via the RIC channels (what every text-to-motion repo uses).

    features: (..., T, 263) or (..., T, 251) de-normalised -> (..., T, J, 3) float32, metres, Y-up.
    """
    features = np.asarray(features, dtype=np.float64)
    joints = joints or _joints_from_dim(features.shape[-1])
    root_quat, root_pos = recover_root(features)
    ric = features[..., 4 : 4 + (joints - 1) * 3].reshape(features.shape[:-1] + (joints - 1, 3))
    positions = quat_rotate(quat_conjugate(root_quat)[..., None, :], ric)
    positions[..., 0] += root_pos[..., None, 0]
    positions[..., 2] += root_pos[..., None, 2]
    return np.concatenate([root_pos[..., None, :], positions], axis=-2).astype(np.float32)


features_to_joints = recover_from_ric


def recover_from_rot(features, joints=None, target_lengths=None, layout=None):
    """Joint positions by forward kinematics of the 6D rotation channels on the target skeleton (HumanML3D's
    recover_from_rot; the bone-rotation convention of `humanml3d_bone_rotations`).

    features: (..., T, 263|251) de-normalised; target_lengths: (J,) bone lengths (default: the layout's target).
    -> (..., T, J, 3) float32. Equals recover_from_ric up to bone lengths when the features are consistent.
    """
    features = np.asarray(features, dtype=np.float64)
    joints = joints or _joints_from_dim(features.shape[-1])
    lay = get_layout(layout, joints=joints)
    lengths = lay.target_bone_lengths if target_lengths is None else np.asarray(target_lengths, dtype=np.float64)
    if lengths is None:
        raise ValueError(f"layout {lay.name} has no target skeleton; pass target_lengths")
    offsets = lay.raw_offsets * lengths[:, None]
    root_quat, root_pos = recover_root(features)
    start = 4 + (joints - 1) * 3
    sixd = features[..., start : start + (joints - 1) * 6].reshape(features.shape[:-1] + (joints - 1, 6))
    bone_quats = matrix_to_quat(sixd_to_matrix(sixd))  # (..., T, J-1, 4)

    positions = [None] * joints
    positions[0] = root_pos
    for chain in lay.kinematic_chain:
        accumulated = root_quat
        for parent, child in zip(chain[:-1], chain[1:]):
            accumulated = quat_mul(accumulated, bone_quats[..., child - 1, :])
            positions[child] = positions[parent] + quat_rotate(accumulated, offsets[child])
    return np.stack(positions, axis=-2).astype(np.float32)


def process_for_dataset(joints, feet_threshold=None, layout=None, target_lengths=None):
    """The pair a HumanML3D-layout corpus stores for one clip.

    joints: (T, J, 3) -> (new_joints (T-1, J, 3) float32 = recover_from_ric(features), the uniformised canonical
    motion; new_joint_vecs (T-1, D) float32 features).
    """
    features = joints_to_features(joints, feet_threshold=feet_threshold, layout=layout, target_lengths=target_lengths)
    return recover_from_ric(features), features


# ----------------------------------------------------------------------------------------------------------------------
# Normalisation


class Normalizer:
    """Per-dimension mean/std normalisation with HumanML3D's Mean.npy / Std.npy files.

    mean, std: (D,) float32. `normalize(x) = (x - mean) / std`; works on numpy arrays and on array types with a
    `new_tensor` method (torch tensors) without this module importing torch.
    """

    def __init__(self, mean, std):
        mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        std = np.asarray(std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(f"mean and std differ in shape: {mean.shape} vs {std.shape}")
        if np.any(~np.isfinite(std)) or np.any(std <= 0):
            raise ValueError("std must be finite and positive")
        self.mean = mean
        self.std = std

    @property
    def dim(self):
        return int(self.mean.shape[0])

    @classmethod
    def load(cls, folder):
        """Read `Mean.npy` and `Std.npy` from a folder (HumanML3D layout)."""
        folder = Path(folder)
        paths = [folder / "Mean.npy", folder / "Std.npy"]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise MotionError(f"{', '.join(missing)} not found in {folder}; point to a HumanML3D-layout dataset folder")
        try:
            mean, std = (np.load(p, allow_pickle=False) for p in paths)
        except (ValueError, OSError) as exc:
            raise MotionError(f"cannot read Mean.npy/Std.npy in {folder} ({exc}); regenerate them") from None
        if mean.ndim != 1 or mean.shape != std.shape or mean.shape[0] not in (263, 251):
            raise MotionError(f"Mean.npy/Std.npy in {folder} have shapes {mean.shape}/{std.shape}; expected (263,)")
        if np.any(std <= 0):
            raise MotionError(f"Std.npy in {folder} has non-positive entries; regenerate it")
        return cls(mean, std)

    def save(self, folder):
        """Write `Mean.npy` and `Std.npy` (float32) into a folder (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "Mean.npy", self.mean.astype(np.float32))
        np.save(folder / "Std.npy", self.std.astype(np.float32))

    @classmethod
    def fit(cls, features, feat_bias=1.0):
        """Mean per dimension; std averaged within each feature group (HumanML3D's cal_mean_variance).

        features: a list (or any iterable) of (T_i, D) arrays, or one (N, D) array. Groups: root yaw velocity,
        root linear velocity, root height, RIC, rotations, velocities, foot contacts. feat_bias > 1 divides the std
        of the root and foot groups by it (T2M's evaluator normalisation uses 5), so those channels weigh more after
        normalising.
        A group with zero spread gets std 1 so normalising never divides by zero.
        """
        clips = [features] if isinstance(features, np.ndarray) and features.ndim == 2 else list(features)
        clips = [np.asarray(c).reshape(-1, np.asarray(c).shape[-1]) for c in clips]
        if not clips or sum(len(c) for c in clips) == 0:
            raise ValueError("Normalizer.fit needs at least one feature row")
        joints = _joints_from_dim(clips[0].shape[-1])
        # Two passes over the clips in float64, so a large corpus never has to sit in memory as one array.
        count = sum(len(c) for c in clips)
        mean = sum(c.sum(axis=0, dtype=np.float64) for c in clips) / count
        std = np.sqrt(sum(((c - mean) ** 2).sum(axis=0) for c in clips) / count)
        for name, part in feature_slices(joints).items():
            group = std[part].mean()
            std[part] = group if group > 1e-8 else 1.0
        normalizer = cls(mean, std)
        return normalizer.with_feat_bias(feat_bias) if feat_bias != 1.0 else normalizer

    def with_feat_bias(self, feat_bias):
        """A copy whose root (channels 0-3) and foot-contact stds are divided by feat_bias (T2M's trick)."""
        std = self.std.astype(np.float64).copy()
        parts = feature_slices(_joints_from_dim(self.dim))
        for name in ("root_rot_vel", "root_lin_vel", "root_y", "feet"):
            std[parts[name]] /= feat_bias
        return Normalizer(self.mean, std)

    def _stats_like(self, x):
        if hasattr(x, "new_tensor"):  # a torch tensor: build matching tensors without importing torch here
            return x.new_tensor(self.mean), x.new_tensor(self.std)
        return self.mean, self.std

    def normalize(self, x):
        """(x - mean) / std. x: (..., D)."""
        mean, std = self._stats_like(x)
        return (x - mean) / std

    def denormalize(self, x):
        """x * std + mean. x: (..., D)."""
        mean, std = self._stats_like(x)
        return x * std + mean

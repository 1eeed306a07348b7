"""HumanML3D features: parity with HumanML3D's shipped sample, round trips on synthetic and real CMU motion,
KIT's 21-joint layout, and the normaliser."""

import numpy as np
import pytest

from motion_core.errors import MotionError
from motion_core.motion import features as F
from motion_core.motion import skeleton as S
from motion_core.motion.rotations import axis_angle_to_quat, quat_rotate

SAMPLE = "012314"


def synthetic_motion(frames=160, seed=0, layout=S.HUMANML3D, turns=1.25, scale=1.0):
    """FK of smooth random joint swings on a walking, turning root (turns > 0.5 passes the 180-degree facing)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 20.0
    num = layout.num_joints
    axes = rng.normal(size=(num, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    swing = rng.uniform(0.2, 0.6, num) * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, num) * t + rng.uniform(0, 6, num))
    quats = axis_angle_to_quat(swing[..., None] * axes)
    yaw = np.linspace(0, 2 * np.pi * turns, frames)
    quats[:, 0] = axis_angle_to_quat(np.stack([0.1 * np.sin(t[:, 0]), yaw, 0.05 * np.cos(t[:, 0])], axis=-1))
    root = np.stack([np.sin(yaw) * 1.5 + 0.3, 0.95 + 0.03 * np.sin(6 * t[:, 0]), np.cos(yaw) * 1.5 - 2.0], axis=-1)
    lengths = rng.uniform(0.9, 1.1, num) * (
        S.T2M_BONE_LENGTHS if layout is S.HUMANML3D else np.r_[0.0, np.full(num - 1, 0.2)]
    )
    joints = S.forward_kinematics(quats, root, S.offsets_from_lengths(lengths, layout), layout=layout)
    return joints * scale


@pytest.fixture(scope="module")
def sample(humanml3d_sample_dir):
    return (
        np.load(humanml3d_sample_dir / "new_joints" / f"{SAMPLE}.npy"),
        np.load(humanml3d_sample_dir / "new_joint_vecs" / f"{SAMPLE}.npy"),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Parity with HumanML3D's sample (a reference nobody here wrote)


def test_recover_from_ric_reproduces_sample_joints(sample):
    joints, vecs = sample
    recovered = F.features_to_joints(vecs)
    assert recovered.shape == joints.shape and recovered.dtype == np.float32
    assert np.abs(recovered - joints).max() < 1e-5


def test_recover_from_rot_reproduces_sample_joints(sample):
    joints, vecs = sample
    assert np.abs(F.recover_from_rot(vecs) - joints).max() < 1e-5


def test_recovery_is_batched(sample):
    joints, vecs = sample
    batch = np.stack([vecs, vecs[::-1].copy()])
    recovered = F.features_to_joints(batch)
    assert recovered.shape == (2,) + joints.shape
    np.testing.assert_array_equal(recovered[0], F.features_to_joints(vecs))


# Per-group bounds for joints -> features on the sample's joints. Not exact: HumanML3D computed the sample from the
# raw AMASS joints over one more frame, and the facing is smoothed over time (measured max: 3e-4, 1.4e-4, 1e-6,
# 6.8e-3, 1.3e-2, 4.1e-4, 0).
GROUP_BOUNDS = {
    "root_rot_vel": 1e-3,
    "root_lin_vel": 1e-3,
    "root_y": 1e-5,
    "ric": 1e-2,
    "rot": 3e-2,
    "vel": 1e-3,
    "feet": 0.0,
}


def test_joints_to_features_lands_close_to_sample_features(sample):
    joints, vecs = sample
    ours = F.joints_to_features(joints)
    assert ours.shape == (len(joints) - 1, 263) and ours.dtype == np.float32
    reference = vecs[: len(ours)]
    for name, part in F.feature_slices(22).items():
        error = np.abs(ours[:, part] - reference[:, part])
        assert error.max() <= GROUP_BOUNDS[name], (name, error.max())
        assert error.mean() <= GROUP_BOUNDS[name] / 10 + 1e-7, (name, error.mean())


def test_process_for_dataset_round_trip_on_sample(sample):
    joints, _ = sample
    new_joints, new_vecs = F.process_for_dataset(joints)
    assert new_joints.shape == (len(joints) - 1, 22, 3) and new_vecs.shape == (len(joints) - 1, 263)
    # The sample is already uniformised and canonical, so the round trip must give it back.
    assert np.abs(new_joints - joints[:-1]).max() < 1e-4


def test_normalizer_loads_sample_statistics(humanml3d_sample_dir, sample):
    _, vecs = sample
    norm = F.Normalizer.load(humanml3d_sample_dir)
    assert norm.dim == 263
    # HumanML3D's Std is averaged within each feature group: constant inside a group.
    for name, part in F.feature_slices(22).items():
        assert np.ptp(norm.std[part]) == 0.0, name
    normalized = norm.normalize(vecs)
    assert abs(float(normalized[:, 4:67].mean())) < 2.0  # a real clip lands near the unit scale
    np.testing.assert_allclose(norm.denormalize(normalized), vecs, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Round trips and invariances


def test_round_trip_on_synthetic_turning_motion():
    joints = synthetic_motion(seed=1, turns=1.25)
    features, canonical = F.joints_to_features(joints, return_positions=True)
    recovered = F.features_to_joints(features)
    assert np.abs(recovered - canonical[:-1]).max() < 1e-4
    # Uniformised to the target skeleton, on the floor, at the origin, facing +Z at frame 0.
    np.testing.assert_allclose(S.bone_lengths(recovered), S.T2M_BONE_LENGTHS, atol=1e-5)
    assert abs(recovered[..., 1].min()) < 1e-6
    np.testing.assert_allclose(recovered[0, 0, [0, 2]], 0.0, atol=1e-6)
    across = (recovered[0, 2] - recovered[0, 1]) + (recovered[0, 17] - recovered[0, 16])
    assert abs(across[2]) < 1e-5 and across[0] < 0  # right points to -X: facing +Z
    # 6D rotation channels agree with the positions (FK on the target skeleton).
    assert np.abs(F.recover_from_rot(features) - recovered).max() < 1e-4


def test_turn_around_yaw_channel_accumulates_the_whole_turn():
    joints = synthetic_motion(seed=2, turns=1.25)
    features = F.joints_to_features(joints)
    total_yaw = 2.0 * features[:, 0].astype(np.float64).sum()  # channel 0 holds half-angles
    # The facing turns by 1.25 turns over the clip (up to the smoothing at the ends and the last frame).
    assert abs(abs(total_yaw) - 2 * np.pi * 1.25) < 0.5, total_yaw
    assert np.all(np.abs(features[1:, 0]) < 0.2)  # no sign flip spike when passing 180 degrees


def test_features_ignore_where_the_clip_starts_and_faces():
    joints = synthetic_motion(seed=3, turns=0.3)
    moved = quat_rotate(axis_angle_to_quat([0.0, 2.5, 0.0]), joints) + np.array([4.0, 0.2, -7.0])
    np.testing.assert_allclose(F.joints_to_features(moved), F.joints_to_features(joints), atol=2e-5)


def test_uniform_skeleton_keeps_directions_and_takes_target_lengths():
    joints = synthetic_motion(seed=4, turns=0.2) * 1.2
    uniform = F.uniform_skeleton(joints)
    np.testing.assert_allclose(S.bone_lengths(uniform), S.T2M_BONE_LENGTHS, atol=1e-9)
    parents = list(S.PARENTS[1:])
    unit = lambda b: b / np.linalg.norm(b, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(uniform[:, 1:] - uniform[:, parents]), unit(joints[:, 1:] - joints[:, parents]))


def test_foot_contacts_standing_vs_moving():
    still = np.repeat(synthetic_motion(seed=5)[:1], 30, axis=0)
    features = F.joints_to_features(still)
    assert np.all(features[:, -4:] == 1.0)
    assert np.allclose(features[:, 193:259], 0.0, atol=1e-7)
    running = synthetic_motion(seed=5, turns=3.0)  # the root covers ~0.35 m per frame: no contact anywhere
    assert np.all(F.joints_to_features(running)[:, -4:] == 0.0)


def test_kit_layout_round_trip_on_synthetic_motion():
    joints = synthetic_motion(seed=6, layout=S.KIT, scale=1000.0)  # KIT data is in millimetres
    features, canonical = F.joints_to_features(joints, layout="kit", return_positions=True)
    assert features.shape == (len(joints) - 1, 251)
    recovered = F.features_to_joints(features)
    assert recovered.shape == (len(joints) - 1, 21, 3)
    assert np.abs(recovered - canonical[:-1]).max() < 1e-4 * 1000.0
    # KIT keeps the clip's own (frame-0) bone lengths: there is no target skeleton here.
    np.testing.assert_allclose(S.bone_lengths(recovered, S.KIT), S.bone_lengths(joints[:1], S.KIT), rtol=1e-5)
    # Joint count picks the layout by itself.
    np.testing.assert_array_equal(F.joints_to_features(joints), features)


def test_bad_input():
    with pytest.raises(MotionError, match="at least 2 frames"):
        F.joints_to_features(np.zeros((1, 22, 3)))
    nan = synthetic_motion(seed=7)
    nan[5, 3, 1] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        F.joints_to_features(nan)
    with pytest.raises(ValueError):
        F.joints_to_features(np.zeros((10, 17, 3)))
    with pytest.raises(ValueError, match="263"):
        F.features_to_joints(np.zeros((10, 100)))


def test_gaussian_smooth_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(8).normal(size=(90, 3))
    for sigma in (20.0, 2.5):
        expected = ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest")
        np.testing.assert_allclose(F.gaussian_smooth(x, sigma), expected, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------------
# Normaliser


def test_normalizer_fit_uses_group_averaged_std_and_feat_bias(tmp_path):
    clips = [F.joints_to_features(synthetic_motion(frames=60, seed=s)) for s in range(3)]
    norm = F.Normalizer.fit(clips)
    data = np.concatenate(clips).astype(np.float64)
    np.testing.assert_allclose(norm.mean, data.mean(axis=0), rtol=1e-5, atol=1e-6)
    parts = F.feature_slices(22)
    np.testing.assert_allclose(norm.std[parts["ric"]], data[:, parts["ric"]].std(axis=0).mean(), rtol=1e-5)
    biased = F.Normalizer.fit(clips, feat_bias=5.0)
    np.testing.assert_allclose(biased.std[:4], norm.std[:4] / 5.0, rtol=1e-6)
    np.testing.assert_allclose(biased.std[4:259], norm.std[4:259])
    np.testing.assert_allclose(biased.std[259:], norm.std[259:] / 5.0, rtol=1e-6)
    # Save and load back; normalising is invertible.
    norm.save(tmp_path)
    loaded = F.Normalizer.load(tmp_path)
    np.testing.assert_array_equal(loaded.mean, norm.mean)
    np.testing.assert_array_equal(loaded.std, norm.std)
    np.testing.assert_allclose(loaded.denormalize(loaded.normalize(clips[0])), clips[0], atol=1e-5)


def test_normalizer_load_errors(tmp_path):
    with pytest.raises(MotionError, match="Mean.npy"):
        F.Normalizer.load(tmp_path)
    np.save(tmp_path / "Mean.npy", np.zeros(10, np.float32))
    np.save(tmp_path / "Std.npy", np.ones(10, np.float32))
    with pytest.raises(MotionError, match="shapes"):
        F.Normalizer.load(tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# Real CMU clips through the mocap importer

CMU_CLIPS = ["bvh-daz/02_01.bvh", "bvh-mb/05_06.bvh", "bvh-iclone/007_01.bvh", "bvh-max/131_01.bvh", "amc/35_01.amc"]


def test_round_trip_on_real_cmu_clips(cmu_dir):
    mocap = pytest.importorskip("motion_core.motion.mocap")
    worst = 0.0
    tried = 0
    for relative in CMU_CLIPS:
        path = cmu_dir / relative
        if not path.is_file():
            continue
        asf = None
        if path.suffix == ".amc":
            asf = path.parent / (path.stem.split("_")[0] + ".asf")
        imported = mocap.import_motion(path, asf=asf)
        features, canonical = F.joints_to_features(imported.joints, return_positions=True)
        recovered = F.features_to_joints(features)
        worst = max(worst, float(np.abs(recovered - canonical[:-1]).max()))
        tried += 1
    if tried == 0:
        pytest.skip("none of the chosen CMU clips are present")
    assert worst < 1e-4, worst


def test_normalizer_accepts_torch_tensors_without_importing_torch_itself():
    torch = pytest.importorskip("torch")
    norm = F.Normalizer(np.arange(263, dtype=np.float32), np.full(263, 2.0, np.float32))
    x = torch.ones(2, 5, 263, dtype=torch.float64)
    y = norm.normalize(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), norm.normalize(np.ones((2, 5, 263))), rtol=1e-6)
    np.testing.assert_allclose(norm.denormalize(y).numpy(), 1.0, rtol=1e-6)

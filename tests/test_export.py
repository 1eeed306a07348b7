"""BVH/NPZ export: structure, re-import round trip (<= 1 mm), npz keys, bad paths."""

import numpy as np
import pytest

from conftest import TEST_DATA
from motion_core.errors import MotionError
from motion_core.motion.bvh import read_bvh
from motion_core.motion.export import save_motion
from motion_core.motion.mocap import import_motion, to_y_up_facing_z
from motion_core.motion.skeleton import JOINT_NAMES, PARENTS, forward_kinematics, joints_to_rotations, rest_offsets


def rigid_clip(name="bvh-daz/02_01.bvh"):
    """A real clip made exactly rigid (FK of its own IK), normalised as an import would be."""
    joints = import_motion(TEST_DATA / "cmu" / name).joints.astype(np.float64)
    offsets = rest_offsets(joints)
    quats, root = joints_to_rotations(joints, offsets=offsets)
    return to_y_up_facing_z(forward_kinematics(quats, root, offsets), np.array([0.0, 1.0, 0.0]))


def test_bvh_structure(tmp_path):
    joints = rigid_clip()
    path = save_motion(tmp_path / "clip.bvh", joints, fps=20)
    data = read_bvh(path)
    assert data.frames == len(joints)
    assert data.frame_time == pytest.approx(0.05)
    real = [n for n, end in zip(data.names, data.is_end_site) if not end]
    assert sorted(real) == sorted(JOINT_NAMES)
    assert int(data.is_end_site.sum()) == 5  # two feet, head, two wrists
    assert data.names[0] == "pelvis" and len(data.channels[0]) == 6
    assert all(len(c) == 3 for n, c in zip(data.names, data.channels) if n in JOINT_NAMES[1:])


@pytest.mark.parametrize("name, units", [("bvh-daz/02_01.bvh", "m"), ("bvh-mb/02_01.bvh", "cm")])
def test_bvh_reimport_within_a_millimetre(tmp_path, name, units):
    joints = rigid_clip(name)
    path = save_motion(tmp_path / "clip.bvh", joints, fps=20, units=units)
    back = import_motion(path)
    assert back.convention == "motion-mamba" and back.units == units and back.dropped_frames == 0
    error = np.linalg.norm(back.joints - joints, axis=-1)
    print(f"{name} ({units}): max {1000 * error.max():.4f} mm, mean {1000 * error.mean():.4f} mm")
    assert error.max() < 1e-3


def test_bvh_other_rate(tmp_path):
    joints = rigid_clip()
    path = save_motion(tmp_path / "clip.bvh", joints, fps=30)
    back = import_motion(path, fps=30)
    assert back.source_fps == 30 and back.frames == len(joints)
    np.testing.assert_allclose(back.joints, joints, atol=1e-3)


def test_npz_keys_and_fk(tmp_path):
    joints = rigid_clip()
    path = save_motion(tmp_path / "clip.npz", joints, fps=20, prompt="a person walks", seed=7)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) >= {"joints", "rotations", "root_translation", "fps", "joint_names", "parents"}
        assert data["joints"].shape == joints.shape and data["joints"].dtype == np.float32
        assert data["rotations"].shape == (len(joints), 22, 4)
        assert data["root_translation"].shape == (len(joints), 3)
        assert float(data["fps"]) == 20.0 and str(data["prompt"]) == "a person walks" and int(data["seed"]) == 7
        assert list(data["joint_names"]) == list(JOINT_NAMES) and list(data["parents"]) == list(PARENTS)
        rebuilt = forward_kinematics(data["rotations"], data["root_translation"], data["offsets"])
    np.testing.assert_allclose(rebuilt, joints, atol=1e-4)


def test_bad_paths(tmp_path):
    joints = rigid_clip()[:5]
    with pytest.raises(MotionError, match=".bvh or .npz"):
        save_motion(tmp_path / "clip.fbx", joints, 20)
    with pytest.raises(MotionError, match="folder"):
        save_motion(tmp_path / "missing" / "clip.bvh", joints, 20)
    with pytest.raises(MotionError, match="units"):
        save_motion(tmp_path / "clip.bvh", joints, 20, units="inch")
    with pytest.raises(ValueError):
        save_motion(tmp_path / "clip.npz", joints[:, :21], 20)

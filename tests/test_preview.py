"""Contact sheets: a PNG with both side colours, one per variation row pair; the preview command's inputs."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, TEST_DATA
from motion_core.commands.preview import load_joints
from motion_core.errors import MotionError
from motion_core.motion.export import save_motion
from motion_core.motion.mocap import import_motion
from motion_core.motion.preview import LEFT_COLOUR, RIGHT_COLOUR, contact_sheet

Image = pytest.importorskip("PIL.Image")


def _has_colour(pixels, hex_colour, tolerance=40):
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.any(np.all(np.abs(pixels[..., :3].astype(int) - rgb) < tolerance, axis=-1))


def test_contact_sheet_draws_left_and_right(tmp_path):
    joints = import_motion(TEST_DATA / "cmu" / "bvh-mb" / "02_01.bvh").joints
    out = contact_sheet(joints, tmp_path / "sheet.png", fps=20, title="walk", columns=6)
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert pixels.shape[1] > 400 and pixels.shape[0] > 200
    assert _has_colour(pixels, LEFT_COLOUR) and _has_colour(pixels, RIGHT_COLOUR)


def test_contact_sheet_variations_make_taller_sheets(tmp_path):
    joints = import_motion(TEST_DATA / "cmu" / "bvh-mb" / "02_01.bvh").joints[:40]
    one = np.asarray(Image.open(contact_sheet(joints, tmp_path / "one.png", columns=4)))
    two = np.asarray(Image.open(contact_sheet(np.stack([joints, joints]), tmp_path / "two.png", columns=4)))
    assert two.shape[0] > 1.6 * one.shape[0]
    with pytest.raises(ValueError):
        contact_sheet(joints[..., :2], tmp_path / "bad.png")


def test_load_joints_from_each_format(tmp_path):
    joints = import_motion(TEST_DATA / "cmu" / "bvh-mb" / "02_01.bvh").joints
    save_motion(tmp_path / "clip.npz", joints, fps=20)
    np.save(tmp_path / "new_joints.npy", joints)
    from_npz, fps = load_joints(tmp_path / "clip.npz")
    np.testing.assert_allclose(from_npz, joints)
    assert fps == 20
    np.testing.assert_allclose(load_joints(tmp_path / "new_joints.npy")[0], joints, atol=1e-6)
    amc, _ = load_joints(TEST_DATA / "cmu" / "amc" / "35_01.amc")
    assert amc.shape[1:] == (22, 3)
    np.save(tmp_path / "wrong.npy", np.zeros((4, 21, 3)))
    with pytest.raises(MotionError, match="22, 3"):
        load_joints(tmp_path / "wrong.npy")
    with pytest.raises(MotionError, match="cannot preview"):
        load_joints(TEST_DATA / "README.md")


def test_preview_command(tmp_path):
    out = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, "-m", "motion_core", "preview", str(TEST_DATA / "cmu" / "bvh-daz" / "16_01.bvh"),
         "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.is_file() and Image.open(out).size[0] > 400

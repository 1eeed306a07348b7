"""`motion-mamba import`: JSON report, --out, --map, and one clean error line (exit 2) for every kind of bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, TEST_DATA

DATA = TEST_DATA / "cmu"


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "motion_core", "import", *map(str, args)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip


def test_json_report_and_outputs(tmp_path):
    out = tmp_path / "clip.npz"
    result = run_cli(DATA / "bvh-daz" / "02_01.bvh", "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["joints"] == 22 and report["fps"] == 20.0 and report["source_fps"] == 120.0
    assert report["convention"] == "cgspeed-daz" and report["dropped_frames"] >= 1
    assert report["seconds"] == pytest.approx(report["frames"] / 20.0)
    with np.load(out) as data:
        assert data["joints"].shape == (report["frames"], 22, 3)

    result = run_cli(DATA / "amc" / "35_01.amc", "--asf", DATA / "amc" / "35.asf", "--out", tmp_path / "c.bvh")
    assert result.returncode == 0, result.stderr
    assert "cmu-asf" in result.stdout and (tmp_path / "c.bvh").is_file()


def _truncated(tmp_path):
    text = (DATA / "bvh-mb" / "02_01.bvh").read_text()
    path = tmp_path / "truncated.bvh"
    path.write_text(text[: len(text) // 2])
    return path


def _hierarchy_only(tmp_path):
    text = (DATA / "bvh-mb" / "02_01.bvh").read_text()
    path = tmp_path / "cut.bvh"
    path.write_text(text[: text.index("MOTION") - 40])
    return path


def _unknown_skeleton(tmp_path):
    text = (DATA / "bvh-mb" / "02_01.bvh").read_text()
    for old in ("LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg"):
        text = text.replace(f"JOINT {old}\n", f"JOINT bone_{old.lower()}\n")
    path = tmp_path / "renamed.bvh"
    path.write_text(text)
    return path


def _absurd_frame_time(tmp_path):
    text = (DATA / "bvh-mb" / "02_01.bvh").read_text().replace("Frame Time: 0.008333", "Frame Time: 120")
    path = tmp_path / "slow.bvh"
    path.write_text(text)
    return path


def _garbage(tmp_path):
    path = tmp_path / "garbage.bvh"
    path.write_bytes(bytes(range(256)) * 10)
    return path


def _empty(tmp_path):
    path = tmp_path / "empty.bvh"
    path.write_text("")
    return path


def _wrong_extension(tmp_path):
    path = tmp_path / "clip.fbx"
    path.write_text("Kaydara FBX Binary")
    return path


def _bad_map(tmp_path):
    path = tmp_path / "map.json"
    path.write_text("{not json")
    return path


@pytest.mark.parametrize(
    "make, extra, needle",
    [
        (_empty, [], "empty"),
        (_truncated, [], "truncated"),
        (_hierarchy_only, [], "truncated"),
        (_garbage, [], "not a BVH"),
        (_unknown_skeleton, [], "--map"),
        (_absurd_frame_time, [], "Frame Time"),
        (_wrong_extension, [], "unsupported file type"),
        (lambda tmp: tmp / "missing.bvh", [], "not found"),
        (lambda tmp: DATA / "amc" / "35.asf", [], "skeleton only"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--map", "{tmp}/map.json"], "not valid JSON"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--units", "furlong"], "units"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--out", "{tmp}/clip.fbx"], ".bvh or .npz"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, make, extra, needle):
    _bad_map(tmp_path)
    path = make(tmp_path)
    result = run_cli(path, *[e.format(tmp=tmp_path) for e in extra])
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert needle.lower() in lines[0].lower()


def test_unknown_skeleton_names_the_joints(tmp_path):
    result = run_cli(_unknown_skeleton(tmp_path))
    message = result.stderr.strip()
    for joint in ("left_hip", "right_hip", "left_knee", "right_knee"):
        assert joint in message
    mapping = {
        "left_hip": "bone_leftupleg", "right_hip": "bone_rightupleg", "left_knee": "bone_leftleg",
        "right_knee": "bone_rightleg", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
        "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck1", "head": "Head",
        "left_shoulder": "LeftArm", "right_shoulder": "RightArm", "left_elbow": "LeftForeArm",
        "right_elbow": "RightForeArm", "left_wrist": "LeftHand", "right_wrist": "RightHand",
    }  # fmt: skip
    map_path = tmp_path / "map.json"
    map_path.write_text(json.dumps(mapping))
    result = run_cli(_unknown_skeleton(tmp_path), "--map", map_path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["convention"] == "user-map"

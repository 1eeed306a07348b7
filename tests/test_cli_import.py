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
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--up", "sideways"], "up axis"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--scale", "0.01", "--units", "cm"], "either --units or --scale"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--scale", "0"], "positive"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--suggest-map", "{tmp}/map.json"], "exists"),
        (lambda tmp: DATA / "bvh-mb" / "02_01.bvh", ["--suggest-map", "{tmp}/map.txt"], "json"),
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


def test_json_says_how_units_and_up_were_decided(tmp_path):
    result = run_cli(DATA / "bvh-mb" / "02_01.bvh", "--json")
    report = json.loads(result.stdout)
    assert report["units"] == "cmu" and report["scale"] == pytest.approx(0.0254 / 0.45)
    assert 1.5 < report["height_m"] < 1.7 and report["warnings"] == []
    assert report["up_axis"] == "+Y" and report["up_method"] == "rest-pose+first-frames"
    assert set(report["up_evidence"]) == {"rest_pose", "first_frames", "foot_contacts", "whole_clip"}
    result = run_cli(DATA / "bvh-mb" / "02_01.bvh", "--json", "--up", "+y", "--scale", "0.1")
    report = json.loads(result.stdout)
    assert report["up_method"] == "given" and report["units"] == "scale"
    # 0.1 m per CMU unit makes a 2.8 m figure: warned on stderr and in the JSON.
    assert len(report["warnings"]) == 1 and "not a plausible person" in report["warnings"][0]
    assert result.stderr.startswith("warning: the skeleton comes out 2.8")
    report = json.loads(run_cli(DATA / "amc" / "35_01.amc", "--json").stdout)
    assert report["up_method"] == "asf-rest-pose" and report["asf"].endswith("35.asf") and report["units"] == "asf"


def test_suggest_map_writes_a_starter_that_imports(tmp_path):
    renamed = _unknown_skeleton(tmp_path)
    out = tmp_path / "starter.json"
    result = run_cli(renamed, "--suggest-map", out, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # bone_leftupleg / bone_leftleg carry no side marker the matcher trusts: those are left to fill.
    assert report["to_fill"] == ["left_hip", "right_hip", "left_knee", "right_knee"]
    starter = json.loads(out.read_text())
    assert starter["left_hip"] is None and starter["left_ankle"] == "LeftFoot" and "bone_leftupleg" in starter["_bones"]
    assert "_end" in starter["_about"]
    # Unfilled, it is refused with the joints to fill; filled in, it imports.
    result = run_cli(renamed, "--map", out)
    assert result.returncode == 2 and "lacks joints left_hip" in result.stderr
    starter.update(left_hip="bone_leftupleg", right_hip="bone_rightupleg", left_knee="bone_leftleg",
                   right_knee="bone_rightleg")
    out.write_text(json.dumps(starter))
    result = run_cli(renamed, "--map", out, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["convention"] == "user-map"
    # A known skeleton's starter is complete.
    result = run_cli(DATA / "bvh-iclone" / "002_03.bvh", "--suggest-map", tmp_path / "cc.json")
    assert result.returncode == 0 and "16 of 16 required joints matched" in result.stdout

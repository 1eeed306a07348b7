"""Corpus builder: HumanML3D layout, determinism, split disjointness by source, mirrors, CMU packs, augmentations.

Builds run on synthetic stick-figure "trials" packed like CMU data and on a stand-in procedural library, so the test
exercises the builder itself in a few seconds; the real procedural library and the CMU sample get their own checks.
"""

import csv
import hashlib
import json
import sys
import types

import numpy as np
import pytest

import motion_core.data
from motion_core.cli import main
from motion_core.data import augment, captions, cmu_corpus, corpus
from motion_core.data.humanml3d import load_split
from motion_core.motion.rotations import axis_angle_to_quat
from motion_core.motion.skeleton import bone_lengths, forward_kinematics, mirror_joints

FPS = 20.0


def walker(seconds, speed, turn_deg_per_s=0.0, phase=0.0):
    """Stick figure swinging legs and arms while walking along its facing direction; joints (T, 22, 3)."""
    frames = int(seconds * FPS)
    t = np.arange(frames) / FPS
    zero = 0 * t
    local = np.zeros((frames, 22, 4))
    local[..., 0] = 1.0
    swing = 0.4 * np.sin(2 * np.pi * t + phase)
    local[:, 1] = axis_angle_to_quat(np.stack([swing, zero, zero], -1))
    local[:, 2] = axis_angle_to_quat(np.stack([-swing, zero, zero], -1))
    local[:, 16] = axis_angle_to_quat(np.stack([-0.5 * swing, zero, 0.3 + zero], -1))
    local[:, 17] = axis_angle_to_quat(np.stack([0.5 * swing, zero, -0.5 + zero], -1))  # asymmetric on purpose
    yaw = np.radians(turn_deg_per_s) * t
    local[:, 0] = axis_angle_to_quat(np.stack([zero, yaw, zero], -1))
    root = np.zeros((frames, 3))
    root[:, [0, 2]] = np.cumsum(np.stack([np.sin(yaw), np.cos(yaw)], -1) * speed / FPS, axis=0)
    joints = forward_kinematics(local, root)
    joints[..., 1] -= joints[..., 1].min()
    return joints.astype(np.float32)


def fake_procedural():
    """A stand-in for the procedural library with the contract's API: ACTION_KINDS, generate_clip(kind, rng)."""

    def generate_clip(kind, rng, **params):
        speed = {"walk": 1.2, "run": 3.2, "wave_left": 0.0}[kind]
        joints = walker(float(rng.uniform(3.0, 6.0)), speed, phase=float(rng.uniform(0, 6)))
        texts = [f"a person does a {kind.replace('_', ' ')} number {i}" for i in range(8)]
        return joints, texts

    def sample_random_clip(rng):
        kind = sorted(module.ACTION_KINDS)[int(rng.integers(3))]
        joints, texts = generate_clip(kind, rng)
        return joints, texts, {"mode": "single", "kinds": [kind]}

    module = types.ModuleType("motion_core.data.procedural")
    module.ACTION_KINDS = {"walk": {}, "run": {}, "wave_left": {}}
    module.generate_clip = generate_clip
    module.sample_random_clip = sample_random_clip
    return module


@pytest.fixture(scope="module")
def stand_in_library():
    module = fake_procedural()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "motion_core.data.procedural", module)
        patch.setattr(motion_core.data, "procedural", module, raising=False)
        patch.setattr(corpus, "procedural", module)
        yield module


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    trials = [
        cmu_corpus.CmuTrial("01_01", walker(16, 1.3, 12), "playground - forward jumps, turn around", "bvh-daz"),
        cmu_corpus.CmuTrial("02_03", walker(10, 3.0, -20), "run/jog", "bvh-mb"),
        cmu_corpus.CmuTrial("07_04", walker(6, 0.7), "slow walk", "amc"),
        cmu_corpus.CmuTrial("08_01", walker(1.5, 0.7), "walk", "amc"),  # too short to cut a 2 s clip from
    ]
    path = cmu_corpus.save_pack(trials, tmp_path_factory.mktemp("pack") / "cmu.npz")
    return path, trials


@pytest.fixture(scope="module")
def built(tmp_path_factory, pack, stand_in_library):
    """One corpus shared by the read-only checks: (root, stats)."""
    return build(tmp_path_factory.mktemp("built"), "c", pack[0], hours=0.02)


def folder_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "stats.json"):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(tmp_path, name, pack_path, **options):
    options = {"hours": 0.005, "seed": 3, "cmu": pack_path, "cmu_copies": 1, **options}
    stats = corpus.build_corpus(tmp_path / name, **options)
    return tmp_path / name, stats


def test_layout_and_stats(built):
    root, stats = built
    names = (root / "all.txt").read_text().split()
    assert len(names) == stats["clips"] == len(set(names))
    assert sorted(names) == sorted(sum(((root / f"{s}.txt").read_text().split() for s in ("train", "val", "test")),
                                       []))
    for name in names:
        joints = np.load(root / "new_joints" / f"{name}.npy")
        features = np.load(root / "new_joint_vecs" / f"{name}.npy")
        assert joints.shape == (len(features), 22, 3) and features.shape[1] == 263
        assert 39 <= len(features) <= 195
        lines = (root / "texts" / f"{name}.txt").read_text().splitlines()
        assert lines and all(captions.parse_text_line(line)[1] for line in lines)
    assert np.load(root / "Mean.npy").shape == (263,) and np.all(np.load(root / "Std.npy") > 0)
    assert stats == json.loads((root / "stats.json").read_text())
    # Mirrors of "wave_left" clips count as "wave_right".
    assert set(stats["kinds"]) == {"walk", "run", "wave_left", "wave_right", "cmu/playground", "cmu/run", "cmu/walk"}
    assert stats["kinds"]["wave_left"]["clips"] == stats["kinds"]["wave_right"]["clips"]
    assert stats["cmu"]["trials"] == 4 and stats["procedural"]["unique_hours"] >= 0.02
    frames = sum(len(np.load(root / "new_joint_vecs" / f"{n}.npy")) for n in names)
    assert stats["hours"] == pytest.approx(frames / FPS / 3600, abs=1e-3)
    # The reader sees what the builder wrote.
    items = load_split(root, "train")
    assert len(items) == stats["by_split"]["train"]["clips"]
    assert items[0].captions[0][1:] == (0.0, 0.0)


def test_same_seed_same_files_for_any_worker_count(tmp_path, pack, stand_in_library):
    first, _ = build(tmp_path, "a", pack[0], workers=1)
    second, _ = build(tmp_path, "b", pack[0], workers=2)
    other, _ = build(tmp_path, "c", pack[0], seed=4)
    assert folder_digest(first) == folder_digest(second)
    assert folder_digest(first) != folder_digest(other)


def test_splits_are_disjoint_by_source(built):
    root, stats = built
    with open(root / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    split_of_source, split_of_name = {}, {}
    for row in rows:
        assert split_of_source.setdefault(row["source"], row["split"]) == row["split"]
        split_of_name[row["new_name"]] = row["split"]
    for split in ("train", "val", "test"):
        for name in (root / f"{split}.txt").read_text().split():
            assert split_of_name[name] == split
            assert split_of_name[name.lstrip("M")] == split  # a mirror stays with its original
    assert len(set(split_of_source.values())) >= 2
    augmented = [r for r in rows if r["source"] == "cmu/01_01" and "speed=" in r["augmentation"]]
    assert augmented, "CMU trials get speed-changed copies"


def test_mirror_files_swap_side_words_and_joints(built):
    root, _ = built
    names = (root / "all.txt").read_text().split()
    swapped_any = False
    for name in [n for n in names if not n.startswith("M")]:
        original = (root / "texts" / f"{name}.txt").read_text().splitlines()
        mirrored = (root / "texts" / f"M{name}.txt").read_text().splitlines()
        assert [captions.swap_left_right(line.split("#")[0]) for line in original] == \
               [line.split("#")[0] for line in mirrored]
        swapped_any |= original != mirrored
    assert swapped_any
    # Processing (facing +Z, uniform skeleton) commutes with mirroring up to the skeleton's small asymmetries.
    joints = np.load(root / "new_joints" / "000000.npy")
    mirrored_joints = np.load(root / "new_joints" / "M000000.npy")
    expected = mirror_joints(joints)
    assert np.abs((mirrored_joints - mirrored_joints[:, :1]) - (expected - expected[:, :1])).max() < 0.03


def test_refuses_non_empty_output_and_needs_a_source(tmp_path, pack, stand_in_library):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(corpus.MotionError):
        corpus.build_corpus(tmp_path / "busy", hours=0.01, cmu=pack[0])
    with pytest.raises(corpus.MotionError):
        corpus.build_corpus(tmp_path / "none", hours=0, cmu=None)
    with pytest.raises(corpus.MotionError):
        corpus.build_corpus(tmp_path / "kinds", hours=0.01, kinds=["moonwalk"])


def test_cli_build_prints_stats(tmp_path, pack, stand_in_library, capsys):
    out = tmp_path / "cli"
    assert main(["corpus", "build", "--out", str(out), "--hours", "0", "--cmu", str(pack[0])]) == 0
    printed = capsys.readouterr()
    assert "action kinds" in printed.out and "cmu/run" in printed.out
    assert "cmu clips" in printed.err  # the progress bar
    assert main(["corpus", "build", "--out", str(out), "--hours", "0", "--cmu", str(pack[0])]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_pack_round_trip_keeps_millimetres(pack):
    path, trials = pack
    loaded = cmu_corpus.load_pack(path)
    assert [t.trial_id for t in loaded] == [t.trial_id for t in trials]
    assert [t.description for t in loaded] == [t.description for t in trials]
    for before, after in zip(trials, loaded):
        assert after.joints.shape == before.joints.shape
        assert np.abs(after.joints - before.joints).max() < 1e-3
    with pytest.raises(cmu_corpus.MotionError):
        cmu_corpus.load_cmu(path.parent / "missing.npz")


def test_segments_are_2_to_9_8_seconds():
    rng = np.random.default_rng(0)
    for frames in (40, 196, 197, 230, 1000, 4321):
        pieces = cmu_corpus.segment_frames(frames, rng)
        assert pieces[0][0] == 0 and all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
        assert all(40 <= end - start <= 196 for start, end in pieces)
        assert frames - pieces[-1][1] < 40
    assert cmu_corpus.segment_frames(39, rng) == []


def test_augmentations_keep_the_body_and_change_the_path():
    joints = walker(6, 1.4)
    assert np.array_equal(augment.mirror(augment.mirror(joints)), joints)
    faster = augment.change_speed(joints, 1.25)
    assert len(faster) == round((len(joints) - 1) / 1.25) + 1
    assert captions.describe_motion(faster).speed_mps == pytest.approx(1.25 * 1.4, rel=0.05)
    bent = augment.bend_path(joints, 30.0)
    assert np.allclose(bone_lengths(bent), bone_lengths(joints), atol=1e-4)
    assert captions.describe_motion(bent).turn_deg == pytest.approx(30.0 * 1.4 * (len(joints) - 1) / FPS, rel=0.05)
    assert np.allclose(augment.bend_path(walker(3, 0.0), 30.0), walker(3, 0.0))
    assert augment.trim(joints, 5, 50).shape == (45, 22, 3)


def test_cmu_sample_is_deduplicated_by_trial(cmu_dir):
    files = cmu_corpus.find_trial_files(cmu_dir)
    assert len(files) == 106
    assert files["02_01"][0][0] == "bvh-mb"  # MotionBuilder BVH preferred over Daz and iClone
    assert files["35_01"][0][0] == "amc" and files["35_01"][0][2].name == "35.asf"
    assert files["131_03"][0][0] == "bvh-max" and "01_01" in files
    descriptions = cmu_corpus.read_descriptions(cmu_dir / "descriptions.csv")
    assert descriptions["02_03"] == "run/jog"


def test_real_procedural_library_builds(tmp_path):
    procedural = pytest.importorskip("motion_core.data.procedural")
    if not hasattr(procedural, "ACTION_KINDS"):
        pytest.skip("procedural library not available yet")
    stats = corpus.build_corpus(tmp_path / "p", hours=0.004, seed=1)
    known = set(procedural.ACTION_KINDS) | {"chain", "layered"}
    assert set(stats["kinds"]) <= known | {corpus.mirror_kind(k) for k in known}
    assert stats["procedural"]["unique_hours"] >= 0.004
    assert len(load_split(tmp_path / "p", "all")) == stats["clips"]


def test_glitches_split_a_trial():
    joints = walker(8, 1.0)
    broken = joints.copy()
    broken[100:] += np.array([2.0, 0.0, 0.0], np.float32)  # a 2 m teleport between frames 99 and 100
    assert cmu_corpus.clean_pieces(joints) == [(0, len(joints))]
    assert cmu_corpus.clean_pieces(broken) == [(0, 99), (100, len(joints))]
    assert cmu_corpus.peak_joint_speed(broken) > 40 > cmu_corpus.peak_joint_speed(joints)


def test_pack_and_build_from_the_committed_cmu_subset(tmp_path, capsys):
    """The real path: CMU files of every convention -> pack-cmu -> corpus build from the pack (no procedural)."""
    from conftest import TEST_DATA

    pack_path = tmp_path / "cmu.npz"
    assert main(["corpus", "pack-cmu", "--cmu", str(TEST_DATA / "cmu"), "--out", str(pack_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    trials = {t.trial_id: t for t in cmu_corpus.load_pack(pack_path)}
    assert set(trials) | set(report["skipped"]) == {"02_01", "02_03", "16_01", "35_01", "131_01"}  # 02_01 once
    assert report["bytes"] == pack_path.stat().st_size
    stats = corpus.build_corpus(tmp_path / "c", hours=0, cmu=pack_path, cmu_copies=0)
    assert stats["by_origin"]["cmu"]["sources"] == len(trials)
    assert stats["clips"] == 2 * len({n.lstrip("M") for n in (tmp_path / "c" / "all.txt").read_text().split()})

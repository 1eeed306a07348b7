"""Readers of the HumanML3D / KIT-ML folder layout, on small synthetic folders written here.

The real HumanML3D motions are never used (licence); the parity sample has no texts, so only its feature file is read.
"""

import numpy as np
import pytest

from motion_core.data import humanml3d
from motion_core.errors import MotionError

# Text lines in the style of the original releases: spaCy tags, lemmas, "left" kept, a NaN span, a time span.
LINES_000001 = [
    "a man kicks something or someone with his left leg.#a/DET man/NOUN kick/VERB something/PRON or/CCONJ "
    "someone/PRON with/ADP his/DET left/ADJ leg/NOUN#0.0#0.0",
    "the standing person kicks with their left foot before going back to their original stance.#the/DET "
    "stand/VERB person/NOUN kick/VERB with/ADP their/DET left/ADJ foot/NOUN before/ADP go/VERB back/ADV to/ADP "
    "their/DET original/ADJ stance/NOUN#nan#nan",
    "a person waves#a/DET person/NOUN wave/VERB#1.0#3.5",
]


def write_folder(root, dim, joints, fps, names, frames=60, texts=None, splits=None):
    """A HumanML3D-layout folder: features of size `dim`, joints (T-1, joints, 3), texts and split lists."""
    rng = np.random.default_rng(0)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        np.save(root / "new_joint_vecs" / f"{name}.npy", rng.normal(size=(frames + i, dim)).astype(np.float32))
        np.save(root / "new_joints" / f"{name}.npy", rng.normal(size=(frames + i, joints, 3)).astype(np.float32))
        lines = (texts or {}).get(name, [f"a person moves number {i}#a/DET person/NOUN move/VERB#0.0#0.0"])
        (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    np.save(root / "Mean.npy", np.zeros(dim, np.float32))
    np.save(root / "Std.npy", np.ones(dim, np.float32))
    for split, members in (splits or {"all": names}).items():
        (root / f"{split}.txt").write_text("\n".join(members) + "\n")
    return root


@pytest.fixture()
def humanml(tmp_path):
    names = ["000000", "000001", "M000000", "M000001", "000002"]
    texts = {"000001": LINES_000001, "M000001": [l.replace("left", "right") for l in LINES_000001],
             "000002": ["", "   "]}  # no usable caption -> skipped
    splits = {"train": ["000000", "M000000", "000002"], "test": ["000001", "M000001", "009999"],
              "all": names}
    return write_folder(tmp_path / "HumanML3D", 263, 22, 20.0, names, texts=texts, splits=splits)


def test_humanml3d_split_with_mirrors_spans_and_pos_tokens(humanml):
    train = humanml3d.load_split(humanml, "train")
    assert [item.name for item in train] == ["000000", "M000000"]  # 000002 has no caption
    test = humanml3d.load_split(humanml, "test")
    assert [item.name for item in test] == ["000001", "M000001"]  # 009999 has no files
    item, mirrored = test
    assert not item.mirrored and mirrored.mirrored
    assert item.features.shape == (61, 263) and item.joints.shape == (61, 22, 3) and item.fps == 20.0
    assert item.captions == [(LINES_000001[0].split("#")[0], 0.0, 0.0),
                             (LINES_000001[1].split("#")[0], 0.0, 0.0),  # NaN span = whole clip
                             ("a person waves", 1.0, 3.5)]
    assert item.caption_lines[0].tokens[8] == ("left", "ADJ")
    assert "right" in mirrored.captions[0][0]
    assert item.span(1.0, 2.5) == (20, 50) and item.span(0.0, 0.0) == (0, 61)
    assert item.span(1.0, 99.0) == (20, 61)


def test_kit_layout_is_detected(tmp_path):
    root = write_folder(tmp_path / "KIT-ML", 251, 21, 12.5, ["00001", "M00001"])
    items = humanml3d.load_split(root, "all")
    assert [i.name for i in items] == ["00001", "M00001"]
    assert items[0].fps == 12.5 and items[0].features.shape[1] == 251 and items[0].joints.shape[1:] == (21, 3)
    assert humanml3d.detect_layout(root) == ("kit", 21, 12.5)
    mean, std = humanml3d.load_mean_std(root)
    assert mean.shape == std.shape == (251,)


def test_missing_pieces_raise_one_line_errors(tmp_path, humanml):
    with pytest.raises(MotionError, match="not found"):
        humanml3d.load_split(tmp_path / "nowhere", "train")
    with pytest.raises(MotionError, match="val.txt"):
        humanml3d.load_split(humanml, "val")
    with pytest.raises(MotionError, match="unknown split"):
        humanml3d.load_split(humanml, "training")
    (humanml / "Mean.npy").unlink()
    assert humanml3d.detect_layout(humanml)[0] == "humanml3d"  # falls back to a feature file's size


def test_min_frames_and_lazy_joints(tmp_path):
    root = write_folder(tmp_path / "h", 263, 22, 20.0, ["a", "b"], frames=30)
    (root / "new_joints" / "b.npy").unlink()
    items = humanml3d.load_split(root, "all", min_frames=31)
    assert [i.name for i in items] == ["b"]  # "a" has 30 frames
    assert items[0].joints is None


def test_parity_sample_features_read_with_the_layout_reader(humanml3d_sample_dir, tmp_path):
    """The HumanML3D sample has features but no texts: read its .npy in place through a split of our own."""
    vec = next(iter(sorted(humanml3d_sample_dir.rglob("new_joint_vecs/*.npy"))), None)
    if vec is None:
        pytest.skip("no new_joint_vecs in the parity sample")
    root = tmp_path / "view"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    (root / "new_joint_vecs" / vec.name).symlink_to(vec)
    (root / "texts" / f"{vec.stem}.txt").write_text("a person#a/DET person/NOUN#0.0#0.0\n")
    (root / "all.txt").write_text(vec.stem + "\n")
    items = humanml3d.load_split(root, "all")
    assert items[0].features.shape[1] == 263 and items[0].fps == 20.0
    assert np.array_equal(items[0].features, np.load(vec))

"""BVH reader/writer: hierarchy parsing, channel orders, FK, validation of bad files."""

import numpy as np
import pytest

from motion_core.errors import MotionError
from motion_core.motion.bvh import axis_rotations_to_matrix, format_bvh, parse_bvh, read_bvh
from motion_core.motion.kinematics import fk_matrices
from motion_core.motion.rotations import euler_to_matrix

TWO_BONES = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 0 0 0 0 0 0
1 2 3 90 0 0 0 0 90
"""


def _rot(axis, degrees):
    """Elementary rotation matrices written out by hand (column vectors). degrees: (N,) -> (N, 3, 3)."""
    a = np.deg2rad(np.asarray(degrees, dtype=float))
    c, s, one, zero = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    rows = {
        "X": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "Y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "Z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.moveaxis(np.array(rows), -1, 0)


def test_parse_two_bones_and_end_site():
    data = parse_bvh(TWO_BONES)
    assert data.names == ["Hips", "Arm", "Arm_end"]
    assert data.parents.tolist() == [-1, 0, 1]
    assert data.is_end_site.tolist() == [False, False, True]
    assert data.motion.shape == (2, 9)
    assert data.fps == pytest.approx(30.0, rel=1e-5)


def test_fk_follows_channel_order_and_position_channels():
    data = parse_bvh(TWO_BONES)
    rotations, translations = data.local_transforms()
    positions = fk_matrices(data.parents, rotations, translations)[1]
    # Frame 0: rest pose moved by the root position channels (which replace the zero OFFSET).
    np.testing.assert_allclose(positions[0], [[1, 2, 3], [11, 2, 3], [16, 2, 3]], atol=1e-9)
    # Frame 1: root Z 90 deg turns +X to +Y; the arm's own Z 90 turns its child +X to +Y in its frame -> -X in world.
    np.testing.assert_allclose(positions[1, 1], [1, 12, 3], atol=1e-9)
    np.testing.assert_allclose(positions[1, 2], [1 - 5, 12, 3], atol=1e-9)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
def test_channel_order_is_intrinsic_product(order):
    rng = np.random.default_rng(0)
    angles = rng.uniform(-170, 170, size=(5, 3))
    expected = _rot(order[0], angles[:, 0]) @ _rot(order[1], angles[:, 1]) @ _rot(order[2], angles[:, 2])
    np.testing.assert_allclose(axis_rotations_to_matrix(angles, order), expected, atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(angles, order, degrees=True), expected, atol=1e-12)


def test_fewer_rotation_channels_and_six_channel_child():
    text = TWO_BONES.replace(
        "CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 4 Xposition Yposition Zposition Zrotation"
    )
    text = text.replace("1 2 3 0 0 0 0 0 0", "1 2 3 0 0 0 4 0 0 0")
    text = text.replace("1 2 3 90 0 0 0 0 90", "1 2 3 0 0 0 4 0 0 90")
    data = parse_bvh(text)
    rotations, translations = data.local_transforms()
    positions = fk_matrices(data.parents, rotations, translations)[1]
    # The child's position channels replace its OFFSET (10 -> 4).
    np.testing.assert_allclose(positions[0, 1], [5, 2, 3], atol=1e-9)
    np.testing.assert_allclose(positions[1, 2], [5, 7, 3], atol=1e-9)


def test_format_bvh_round_trip_in_any_joint_order():
    # Joints given child-before-sibling order (not depth first): the writer must reorder the columns.
    names = ["root", "a", "b", "a1"]
    parents = [-1, 0, 0, 1]
    offsets = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0]], dtype=float)
    channels = [("Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation")] + [
        ("Zrotation", "Xrotation", "Yrotation")
    ] * 3
    rng = np.random.default_rng(1)
    motion = rng.uniform(-60, 60, size=(4, 15))
    data = parse_bvh(format_bvh(names, parents, offsets, channels, motion, 0.05))
    assert data.names == ["root", "a", "a1", "b"]
    reorder = {"root": slice(0, 6), "a": slice(6, 9), "a1": slice(12, 15), "b": slice(9, 12)}
    expected = np.concatenate([motion[:, reorder[n]] for n in data.names], axis=1)
    np.testing.assert_allclose(data.motion, expected, atol=1e-6)
    assert data.frame_time == pytest.approx(0.05)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("hello world\n", "not a BVH"),
        (TWO_BONES.split("MOTION")[0], "no MOTION"),
        (TWO_BONES[: TWO_BONES.index("0 0 0 0 0 0\n1 2 3 90")], "truncated"),
        (TWO_BONES.replace("Frame Time: 0.0333333", "Frame Time: 0"), "Frame Time"),
        (TWO_BONES.replace("Frame Time: 0.0333333", "Frame Time: 30"), "Frame Time"),
        (TWO_BONES.replace("Frame Time: 0.0333333", "Frame Time: -0.01"), "Frame Time"),
        (TWO_BONES.replace("Frames: 2", "Frames: two"), "Frames"),
        (TWO_BONES.replace("CHANNELS 3 Xrotation", "CHANNELS 3 Wrotation"), "CHANNELS"),
        (TWO_BONES.replace("OFFSET 10 0 0", "OFFSET 10 zero 0"), "malformed"),
        (TWO_BONES.replace("    }\n  }\n}", "    }\n  }"), "braces"),
        (TWO_BONES.replace("1 2 3 90 0 0 0 0 90", "1 2 3 90 nan 0 0 0 90"), "non-finite"),
    ],
)
def test_bad_bvh_raises_one_line_motion_error(text, message):
    with pytest.raises(MotionError) as info:
        parse_bvh(text, source="bad.bvh")
    assert message.lower() in str(info.value).lower()
    assert "\n" not in str(info.value)


def test_read_real_files_have_consistent_shapes(tmp_path):
    from conftest import TEST_DATA

    for path in sorted((TEST_DATA / "cmu").glob("bvh-*/*.bvh")):
        data = read_bvh(path)
        assert data.motion.shape[1] == sum(len(c) for c in data.channels)
        assert data.frames > 10
        assert 29 < data.fps < 121
    with pytest.raises(MotionError):
        read_bvh(tmp_path / "missing.bvh")


def test_crlf_and_wrapped_motion_lines():
    reference = parse_bvh(TWO_BONES)
    crlf = parse_bvh(TWO_BONES.replace("\n", "\r\n"))
    head, motion = TWO_BONES.split("Frame Time: 0.0333333\n")
    wrapped = parse_bvh(head + "Frame Time: 0.0333333\n" + motion.replace(" 0 0 0\n", "\n0 0 0\n"))
    for data in (crlf, wrapped):
        assert data.names == reference.names
        np.testing.assert_array_equal(data.motion, reference.motion)


def _retab(text):
    """Every space between tokens becomes a tab (as some exporters write), indentation tabs too."""
    return "\n".join("\t".join(line.split(" ")) for line in text.split("\n"))


@pytest.mark.parametrize(
    "variant",
    [
        _retab,  # OFFSET\t10\t0\t0 was rejected before (lines were split on one space)
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("\n", "\r"),  # classic Mac line ends
        lambda t: t.replace("\n", "   \n"),  # trailing spaces
        lambda t: "\ufeff" + t,  # byte-order mark
        lambda t: t.replace("HIERARCHY", "hierarchy").replace("ROOT", "Root").replace("JOINT", "joint")
        .replace("OFFSET", "Offset").replace("CHANNELS", "channels").replace("End Site", "END SITE")
        .replace("MOTION", "Motion").replace("Frames:", "FRAMES:").replace("Frame Time:", "frame time:")
        .replace("Xrotation", "XROTATION").replace("Yposition", "yPosition"),
        lambda t: t.replace("ROOT Hips\n{", "ROOT Hips {").replace("JOINT Arm\n  {", "JOINT Arm{")
        .replace("    }\n  }\n}", "    } } }"),  # braces on the keyword's line, several closes on one line
        lambda t: t.replace("Frames: 2\nFrame Time: 0.0333333", "Frames:\t2\nFrame Time:\t0.0333333"),
        lambda t: t.replace("}\nMOTION", "} MOTION"),
    ],
    ids=["tabs", "crlf", "cr", "trailing-spaces", "bom", "keyword-case", "braces-inline", "header-tabs",
         "motion-inline"],
)
def test_tolerant_tokenizer(variant):
    reference = parse_bvh(TWO_BONES)
    data = parse_bvh(variant(TWO_BONES))
    assert data.names == reference.names
    assert data.channels == reference.channels
    np.testing.assert_array_equal(data.offsets, reference.offsets)
    np.testing.assert_array_equal(data.motion, reference.motion)
    assert data.frame_time == reference.frame_time


def test_joint_names_keep_inner_spaces_and_real_file_with_tabs(tmp_path):
    data = parse_bvh(TWO_BONES.replace("JOINT Arm", "JOINT Left Arm"))
    assert data.names == ["Hips", "Left Arm", "Left Arm_end"]
    from conftest import TEST_DATA

    text = (TEST_DATA / "cmu" / "bvh-mb" / "02_01.bvh").read_text()
    path = tmp_path / "tabs.bvh"
    path.write_text(_retab(text).replace("\n", "\r\n"))
    tabbed, reference = read_bvh(path), read_bvh(TEST_DATA / "cmu" / "bvh-mb" / "02_01.bvh")
    assert tabbed.names == reference.names
    np.testing.assert_array_equal(tabbed.motion, reference.motion)


@pytest.mark.parametrize(
    "text, message",
    [
        (TWO_BONES.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Xrotation Zrotation"),
         "CHANNELS"),
        (TWO_BONES.replace("OFFSET 10 0 0", "OFFSET 10 0"), "OFFSET"),
        (TWO_BONES.replace("JOINT Arm", "JOINT {"), "no name"),
    ],
)
def test_tolerance_keeps_real_errors(text, message):
    with pytest.raises(MotionError, match=message):
        parse_bvh(text, source="bad.bvh")


def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args):
        calls.append(args[1:])
        return original(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def _same(a, b):
    assert a.names == b.names and a.channels == b.channels
    np.testing.assert_array_equal(a.parents, b.parents)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.motion, b.motion)
    assert a.frame_time == b.frame_time


@pytest.mark.parametrize("chunk", [None, 7, 64])
def test_read_bvh_streams_numbers_like_the_text_parser(tmp_path, monkeypatch, chunk):
    # read_bvh parses the MOTION block from bytes in chunks cut at whitespace; parse_bvh on the decoded text is the
    # reference (every CMU file, and tiny chunks so that cuts fall everywhere).
    from conftest import TEST_DATA
    from motion_core.motion import bvh

    if chunk:
        monkeypatch.setattr(bvh, "NUMBER_CHUNK", chunk)
    streamed = _count_calls(monkeypatch, bvh, "_parse_number_chunks")
    paths = sorted((TEST_DATA / "cmu").glob("bvh-*/*.bvh"))
    for path in paths:
        _same(read_bvh(path), parse_bvh(path.read_text(), source=str(path)))
    assert len(streamed) == len(paths)  # none took the text path
    for i, variant in enumerate(
        [_retab, lambda t: t.replace("\n", "\r"), lambda t: "\ufeff" + t, lambda t: t.replace("}\nMOTION", "} MOTION"),
         lambda t: t.replace("Frames: 2", "Frames: 2" + " " * 5000), lambda t: t + "\n\n  trailing words\n"]
    ):  # fmt: skip
        path = tmp_path / f"v{i}.bvh"
        path.write_bytes(variant(TWO_BONES).encode())
        _same(read_bvh(path), parse_bvh(TWO_BONES))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("0 0 0 0 90\n", "0 0 0 0 x90\n"), "found 17 numbers"),  # stops at a non-number
        (lambda t: t.replace("Frames: 2", "Frames: 3"), "found 18 numbers"),
        (lambda t: t.replace("Frames: 2", "Frames: 1000000000000"), "found 18 numbers"),  # nothing allocated for it
        (lambda t: t.replace("0 0 0 0 90\n", "0 0 0 0 \udcff90\n"), "found 17 numbers"),  # not UTF-8
        (lambda t: t.replace("0 0 0 0 90\n", "\n\n   \n"), "found 13 numbers"),  # whitespace only is no number
        (lambda t: t.replace("Frame Time: 0.0333333", "Frame Time: 0"), "Frame Time"),
    ],
)
def test_read_bvh_streaming_errors_match(tmp_path, monkeypatch, edit, message):
    from motion_core.motion import bvh

    monkeypatch.setattr(bvh, "NUMBER_CHUNK", 5)
    streamed = _count_calls(monkeypatch, bvh, "_parse_number_chunks")
    path = tmp_path / "bad.bvh"
    path.write_bytes(edit(TWO_BONES).encode("utf-8", errors="surrogateescape"))
    with pytest.raises(MotionError, match=message) as info:
        read_bvh(path)
    assert len(streamed) == (message != "Frame Time")  # the numbers were read by the streaming path
    assert "\n" not in str(info.value)
    with pytest.raises(MotionError) as text_info:  # the same message as the text parser's
        parse_bvh(path.read_bytes().decode("utf-8", errors="replace"), source=str(path))
    assert str(info.value) == str(text_info.value)

"""ASF/AMC reader: units, hierarchy, dof orders, the Acclaim FK convention, bad files."""

import numpy as np
import pytest

from conftest import TEST_DATA
from motion_core.errors import MotionError
from motion_core.motion.asf_amc import INCH, find_asf_for, local_transforms, read_amc, read_asf
from motion_core.motion.kinematics import fk_matrices

ASF_35 = TEST_DATA / "cmu" / "amc" / "35.asf"
AMC_35 = TEST_DATA / "cmu" / "amc" / "35_01.amc"

# A tiny skeleton: root -> up (points +Y, length 2) -> side (points +X, length 1, its axis turned 90 deg about Z).
TINY_ASF = """:version 1.10
:name tiny
:units
  mass 1.0
  length 0.5
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name up
     direction 0 1 0
     length 2
     axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
     id 2
     name side
     direction 1 0 0
     length 1
     axis 0 0 90 XYZ
    dof rx
  end
:hierarchy
  begin
    root up
    up side
  end
"""


def _tiny(tmp_path, frames):
    asf = tmp_path / "tiny.asf"
    asf.write_text(TINY_ASF)
    amc = tmp_path / "tiny_01.amc"
    amc.write_text(":FULLY-SPECIFIED\n:DEGREES\n" + "".join(frames))
    return asf, amc


def test_cmu_asf_units_and_hierarchy():
    skeleton = read_asf(ASF_35)
    assert skeleton.length_scale == pytest.approx(INCH / 0.45)
    assert skeleton.names[0] == "root" and len(skeleton.names) == 31
    assert skeleton.parents[skeleton.names.index("ltibia")] == skeleton.names.index("lfemur")
    assert skeleton.bones["ltibia"].dof == ("rx",)
    assert skeleton.bones["lfoot"].dof == ("rx", "rz")
    femur = skeleton.bones["lfemur"]
    assert 0.35 < femur.length < 0.5  # metres, a thigh


def test_cmu_amc_frames_and_tree():
    skeleton = read_asf(ASF_35)
    motion = read_amc(AMC_35, skeleton)
    assert motion.frames == 358
    assert motion.values["root"].shape == (358, 6)
    names, parents, rotations, translations = local_transforms(skeleton, motion)
    assert "ltoes_end" in names and "head_end" in names
    positions = fk_matrices(parents, rotations, translations)[1]
    assert positions.shape == (358, len(names), 3)
    # Standing subject, CMU frame is Y-up: head above the knees by about a metre.
    head, knee = positions[:, names.index("head")], positions[:, names.index("ltibia")]
    assert np.median(head[:, 1] - knee[:, 1]) > 0.8


def test_acclaim_fk_convention(tmp_path):
    # Frame 1: rest. Frame 2: `up` turned 90 deg about Z (applied in the global rest frame); `side` rx = 90, which its
    # axis (90 deg about Z) turns into a rotation about the global Y axis.
    asf, amc = _tiny(tmp_path, ["1\nroot 0 0 0 0 0 0\nup 0 0 0\nside 0\n", "2\nroot 1 0 0 0 0 0\nup 0 0 90\nside 90\n"])
    skeleton = read_asf(asf)
    motion = read_amc(amc, skeleton)
    names, parents, rotations, translations = local_transforms(skeleton, motion)
    positions = fk_matrices(parents, rotations, translations)[1] / skeleton.length_scale  # file units
    assert names == ["root", "up", "side", "side_end"]
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [0, 0, 0], [0, 2, 0], [1, 2, 0]], atol=1e-9)
    # up: +Y turned 90 about Z -> -X, so `side` starts at (-2, 0, 0) plus the root's TX of 1 (file units).
    np.testing.assert_allclose(positions[1, 2], [1 - 2, 0, 0], atol=1e-9)
    # side: its segment +X, rotated about global Y by 90 (x -> -z), then by up's Z 90 (z stays): -Z.
    np.testing.assert_allclose(positions[1, 3], [1 - 2, 0, -1], atol=1e-9)


@pytest.mark.parametrize(
    "frames, message",
    [
        # A bad or incomplete frame before the last one is an error (only a cut-short end is forgiven).
        (["1\nroot 0 0 0 0 0 0\nup 0 0\nside 0\n", "2\nroot 0 0 0 0 0 0\nup 0 0 0\nside 0\n"], "values"),
        (["1\nroot 0 0 0 0 0 0\nup 0 0 0\n", "2\nroot 0 0 0 0 0 0\nup 0 0 0\nside 0\n",
          "3\nroot 0 0 0 0 0 0\nup 0 0 0\nside 0\n"], "frame 1 lacks side"),
        (["1\nroot 0 0 0 0 0 0\nelbow 0 0 0\n"], "not in the ASF"),
        (["1\nroot 0 0 x 0 0 0\n"], "malformed"),
        ([""], "no frames"),
    ],
)
def test_bad_amc(tmp_path, frames, message):
    asf, amc = _tiny(tmp_path, frames)
    with pytest.raises(MotionError, match=message):
        read_amc(amc, read_asf(asf))


def test_bad_asf(tmp_path):
    path = tmp_path / "bad.asf"
    path.write_text(":version 1.10\n:units\n  length 0.45\n")
    with pytest.raises(MotionError, match="not an ASF"):
        read_asf(path)
    path.write_text(TINY_ASF.replace("length 2", "length two"))
    with pytest.raises(MotionError, match="malformed"):
        read_asf(path)
    path.write_text(TINY_ASF.replace("    up side\n", "    up elbow\n"))
    with pytest.raises(MotionError, match="elbow"):
        read_asf(path)


def test_truncated_amc_keeps_complete_frames(tmp_path):
    full = ["%d\nroot %d 0 0 0 0 0\nup 0 0 0\nside 0\n" % (i, i) for i in range(1, 5)]
    cuts = {
        "bone-missing": full[:3] + ["4\nroot 4 0 0 0 0 0\nup 0 0 0\n"],  # one bone lacks its last frame
        "values-cut": full[:3] + ["4\nroot 4 0 0 0 0 0\nup 0 0\n"],  # cut inside a line
        "name-cut": full[:3] + ["4\nroot 4 0 0 0 0 0\nup 0 0 0\nsi"],  # cut inside a bone name
        "number-only": full[:3] + ["4\n"],
    }
    for label, frames in cuts.items():
        asf, amc = _tiny(tmp_path, frames)
        motion = read_amc(amc, read_asf(asf))
        assert motion.frames == 3, label
        assert motion.values["root"][:, 0].tolist() == [1, 2, 3]
        (warning,) = motion.warnings
        assert "truncated" in warning and "3 complete frames of 4" in warning
    asf, amc = _tiny(tmp_path, full)
    assert read_amc(amc, read_asf(asf)).warnings == []
    # The real file cut inside its last frame: every complete frame kept, bit for bit.
    text = AMC_35.read_text()
    cut = tmp_path / "35_01.amc"
    cut.write_text(text[: text.rindex("rhumerus")])
    (tmp_path / "35.asf").write_text(ASF_35.read_text())
    skeleton = read_asf(tmp_path / "35.asf")
    whole, kept = read_amc(AMC_35, skeleton), read_amc(cut, skeleton)
    assert kept.frames == whole.frames - 1 and kept.warnings
    for bone, values in kept.values.items():
        np.testing.assert_array_equal(values, whole.values[bone][:-1])


def test_find_asf_beside_amc(tmp_path):
    assert find_asf_for(AMC_35) == ASF_35
    lonely = tmp_path / "7_01.amc"
    lonely.write_text("1\n")
    with pytest.raises(MotionError, match="no .asf is beside it.*--asf"):
        find_asf_for(lonely)


def test_find_asf_by_shared_prefix(tmp_path):
    """HDM05 names its skeletons after the actor (HDM_bd.asf) and its motions HDM_bd_<class>_<take>_120.amc."""
    for asf in ("HDM_bd.asf", "HDM_mm.asf", "HDM.asf", "README.txt"):
        (tmp_path / asf).write_text(TINY_ASF)
    amc = tmp_path / "HDM_mm_01-02_01_120.amc"
    amc.write_text("1\n")
    assert find_asf_for(amc) == tmp_path / "HDM_mm.asf"  # the longest prefix wins over HDM.asf
    assert find_asf_for(tmp_path / "HDM_bd_03-11_02_120.amc") == tmp_path / "HDM_bd.asf"
    (tmp_path / "HDM.asf").unlink()
    # No ASF shares the prefix and several are present: the message names them.
    with pytest.raises(MotionError) as info:
        find_asf_for(tmp_path / "HDMX_tr_01_120.amc")
    message = str(info.value)
    assert "HDM_bd.asf" in message and "HDM_mm.asf" in message and "--asf" in message and "\n" not in message
    # A prefix must end at a separator: HDM_b.asf is not the skeleton of HDM_bd_*.
    (tmp_path / "HDM_mm.asf").unlink()
    (tmp_path / "HDM_bd.asf").rename(tmp_path / "HDM_b.asf")
    (tmp_path / "other.asf").write_text(TINY_ASF)
    with pytest.raises(MotionError, match="HDM_b.asf, other.asf"):
        find_asf_for(tmp_path / "HDM_bd_03-11_02_120.amc")
    (tmp_path / "other.asf").unlink()
    assert find_asf_for(tmp_path / "HDM_bd_03-11_02_120.amc") == tmp_path / "HDM_b.asf"  # the only one is used

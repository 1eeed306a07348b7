"""motion_core.motion.proportions: the motion's skeleton laid onto a rig's rest pose (numpy only, float64)."""

import numpy as np
import pytest

from motion_core.data.procedural.library import make_clip
from motion_core.motion import skeleton
from motion_core.motion.proportions import proportioned_rest
from motion_core.motion.retarget import leg_length, lower_arms, smpl_rest_joints

NAMES = list(skeleton.JOINT_NAMES)
I = {n: j for j, n in enumerate(NAMES)}
SIDES = ("left", "right")


@pytest.fixture(scope="module")
def clip():
    return make_clip("walk", np.random.default_rng(7)).joints.astype(np.float64)


def standing(body, clip):
    """`body` (22, 3) raised so its ankles stand at the clip's lowest ankle height (its floor)."""
    body = body.copy()
    ankles = [I[f"{s}_ankle"] for s in SIDES]
    body[:, 1] += clip[:, ankles, 1].min() - body[ankles, 1].mean()
    return body


def rigify_like():
    """A rest skeleton shaped like Rigify's stock metarig (motion frame, metres, floor at 0): the pelvis joint 6 cm
    below the hips, a short torso with an S-curve, knees and elbows bent, feet pitched down to the floor, arms lowered
    30°, clavicles from the sternum."""
    p = {"pelvis": (0.0, 1.01, 0.055), "spine1": (0.0, 1.157, 0.017), "spine2": (0.0, 1.293, 0.0),
         "spine3": (0.0, 1.466, -0.006), "neck": (0.0, 1.658, -0.011), "head": (0.0, 1.781, 0.025)}
    for side, s in (("left", 1.0), ("right", -1.0)):
        p.update({f"{side}_hip": (0.098 * s, 1.072, -0.012), f"{side}_knee": (0.098 * s, 0.537, 0.029),
                  f"{side}_ankle": (0.098 * s, 0.085, -0.016), f"{side}_foot": (0.098 * s, 0.017, 0.093),
                  f"{side}_collar": (0.018 * s, 1.605, 0.068), f"{side}_shoulder": (0.195 * s, 1.585, -0.027),
                  f"{side}_elbow": (0.47 * s, 1.585, -0.06), f"{side}_wrist": (0.72 * s, 1.585, -0.02)})
    return lower_arms(np.array([p[n] for n in NAMES]), 30.0)


def length(points, a, b):
    return np.linalg.norm(points[I[a]] - points[I[b]])


@pytest.mark.parametrize("size", [1.0, 1.7])
def test_the_clips_own_skeleton_is_kept(clip, size):
    """A rig built on the clip's skeleton (any size, on its floor) is already proportioned: nothing moves."""
    rig = standing(smpl_rest_joints(clip), clip) * size
    out = proportioned_rest(dict(zip(NAMES, rig)), clip)
    np.testing.assert_allclose(out, rig, atol=1e-9)


def test_another_body_takes_the_clips_lengths_and_shapes_on_its_own_floor(clip):
    rig = rigify_like()
    out = proportioned_rest(dict(zip(NAMES, rig)), clip)
    body = smpl_rest_joints(clip)
    scale = leg_length(dict(zip(NAMES, rig))) / leg_length(dict(zip(NAMES, body)))
    assert leg_length(dict(zip(NAMES, out))) == pytest.approx(leg_length(dict(zip(NAMES, rig))), abs=1e-9)
    # every bone as long as the clip's, scaled
    for j in range(1, 22):
        parent = NAMES[skeleton.PARENTS[j]]
        assert length(out, NAMES[j], parent) == pytest.approx(length(body, NAMES[j], parent) * scale, abs=1e-9)
    # chain bones keep the rig's direction (feet excepted: pitched to the floor)
    for child in ("left_knee", "right_ankle", "spine2", "spine3", "head", "left_shoulder", "right_elbow",
                  "left_wrist"):
        parent = NAMES[skeleton.PARENTS[I[child]]]
        d_out, d_rig = out[I[child]] - out[I[parent]], rig[I[child]] - rig[I[parent]]
        np.testing.assert_allclose(d_out / np.linalg.norm(d_out), d_rig / np.linalg.norm(d_rig), atol=1e-9)
    # the pelvis and chest triangles are the clip's (every distance among the piece's joints)
    for piece in (("pelvis", "left_hip", "right_hip", "spine1"), ("spine3", "neck", "left_collar", "right_collar")):
        for a in piece:
            for b in piece:
                assert length(out, a, b) == pytest.approx(length(body, a, b) * scale, abs=1e-9)
    # its hips above the pelvis joint no more: the clip's pelvis joint sits above its hip centre
    hips = out[[I["left_hip"], I["right_hip"]]].mean(axis=0)
    assert out[I["pelvis"], 1] > hips[1] > rig[I["pelvis"], 1]
    # on the rig's floor: hip centre over the rig's, ankles at their rest height on average, balls on the floor
    rig_hips = rig[[I["left_hip"], I["right_hip"]]].mean(axis=0)
    np.testing.assert_allclose(hips[[0, 2]], rig_hips[[0, 2]], atol=1e-9)
    ankles = [I[f"{s}_ankle"] for s in SIDES]
    assert out[ankles, 1].mean() == pytest.approx(rig[ankles, 1].mean(), abs=1e-9)
    for side in SIDES:
        assert out[I[f"{side}_foot"], 1] == pytest.approx(rig[I[f"{side}_foot"], 1], abs=1e-9)

"""Retargeting: 22-joint positions -> per-bone rotations for an arbitrary armature, given its rest pose.

numpy only (Blender imports this). Everything here works in one frame, the *motion frame*: metres, Y-up, +Z forward,
HumanML3D 22-joint SMPL order, quaternions (w, x, y, z), column vectors. The Blender side converts the target rig's
rest pose into this frame (blender_addon.rig does the Z-up conversion) and hands back the results unchanged, because
pose-local rotations do not depend on which global frame they were computed in.

Recipe (see docs/reference/blender-addon-platform.md §6.3-6.4):
1. `skeleton.joints_to_rotations` turns the joints into SMPL-rest-relative rotations; composing them along the
   kinematic tree gives each SMPL segment's world rotation W_j (rest -> posed).
2. The target rig's rest pose can differ (A-pose arms, other bone rolls, extra bones). Each joint has a *marker* on
   the rig, the bone whose rest head sits on it (usually the mapped bone itself). For each mapped segment we measure
   the rest-pose difference A_j, the rotation taking the SMPL rest frame of that segment to the rig's (marker to
   child marker; full two-vector frames for pelvis and chest, which have several children). The segment's world
   rotation on the rig is then T_j = W_j · A_j^-1: it points the rig's segment exactly where the SMPL one points,
   whatever its rest pose. Every bone that turns with the segment (the mapped bone and its *followers*) takes T_j.
3. Pose-local rotation (what Blender stores in `rotation_quaternion`): L_b = R_b^-1 · T_parent^-1 · T_b · R_b, with
   R_b the bone's rest orientation (Bone.matrix_local), T_parent the target parent's world rotation.
   Unmapped bones and mapped leaves follow their parent (identity local rotation).
4. Root motion: the rig's own skeleton (its markers) is turned segment by segment and placed so its hip centre
   follows the clip's, scaled by the ratio of the rig's leg length to the clip's. The hip centre, not the pelvis
   joint: every rig puts its pelvis bone elsewhere (above the hips on SMPL, between them on Mixamo, below on Rigify).
5. Feet on the floor: the rig's rest pose stands on its floor; the root height is corrected per frame so the ankles
   are where the clip's are (rest height + the clip's heel lift, scaled), led by the lower foot.
6. Mapped bones that hang from bones nothing moves (no mapped bone above them) get location keys too, so a rig whose
   deform bones are parented to its mechanism still holds together.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion import rotations as rot
from motion_core.motion.ik import two_bone_ik
from motion_core.motion import skeleton

_NAMES = skeleton.JOINT_NAMES
# SMPL joints whose bone orientation is a full frame (two vectors), not a swing: they have several children.
# joint -> (primary child, left joint, right joint) defining up = child - joint, across = left - right.
_FRAME_JOINTS = {_NAMES[j]: tuple(_NAMES[k] for k in children)
                 for j, children in skeleton.HUMANML3D.branch_frames.items()}
# The child a chain bone points at (bone j = joint j -> this child): the only child, or a branching joint's chain
# child. Leaves (head, wrists, feet) have none.
PRIMARY_CHILD = {_NAMES[parent]: _NAMES[skeleton.HUMANML3D.branch_frames.get(parent, (j,))[0]]
                 for j, parent in enumerate(skeleton.PARENTS) if parent >= 0}


# The model's body: HumanML3D's target skeleton, whose legs (hip -> knee -> ankle, mean of both sides) every clip is
# re-targeted to before it becomes features. Motion read back from a rig is scaled to these legs.
MODEL_LEG_LENGTH = float(np.mean([skeleton.T2M_BONE_LENGTHS[_NAMES.index(f"{side}_knee")]
                                  + skeleton.T2M_BONE_LENGTHS[_NAMES.index(f"{side}_ankle")]
                                  for side in ("left", "right")]))


@dataclass
class RigRest:
    """A target armature's rest pose in the motion frame (metres, Y-up).

    bone_names: B names, every parent (and followed bone) before its children (and followers).
    parents: (B,) int, index into bone_names, -1 for roots.
    heads: (B, 3) rest head positions.
    rotations: (B, 4) rest orientations (w, x, y, z), bone frame -> motion frame (bone Y axis = head -> tail).
    follows: (B,) int or None: a bone that a constraint makes this one copy whole (Rigify's ORG-shoulder.L copies
        the shoulder.L control, which is not its parent), -1 for none; such a bone moves with that one, not with its
        parent.
    """

    bone_names: List[str]
    parents: np.ndarray
    heads: np.ndarray
    rotations: np.ndarray
    follows: Optional[np.ndarray] = None

    def index(self, name: str) -> int:
        return self.bone_names.index(name)


@dataclass
class Retargeted:
    """Keys for one armature.

    bone_names: K keyed bones (the mapped ones and their followers), rig order.
    rotations: (T, K, 4) pose-local quaternions (w, x, y, z), hemisphere-continuous over time.
    location_bones: L bones keyed with a location, the root (root motion) first, then mapped bones that hang from
        bones nothing moves (Rigify's deform thighs and arms).
    locations: (T, L, 3) those bones' pose locations, in their rest frames, metres (divide by the object's scale).
    scale: target leg length / motion leg length, applied to the root path.
    """

    bone_names: List[str]
    rotations: np.ndarray
    location_bones: List[str]
    locations: np.ndarray
    scale: float

    @property
    def root_bone(self) -> str:
        return self.location_bones[0]

    @property
    def root_location(self) -> np.ndarray:
        """(T, 3) the root bone's pose location (see `locations`)."""
        return self.locations[:, 0]


def _frame(up, across):
    """Orthonormal frames from an up and an across vector. up, across: (..., 3) -> (..., 3, 3), columns x, y, z.

    y = up exactly, x = across made perpendicular to it, z = x × y: the convention of skeleton.joints_to_rotations,
    so the chain child (spine1, neck) is matched exactly and the across pair (hips, collars) as well as the clip's
    own triangle allows.
    """
    y = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    x = across - np.sum(across * y, axis=-1, keepdims=True) * y
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def smpl_world_rotations(joints):
    """World rotations of the 22 SMPL bones (SMPL rest -> posed) and the clip's root positions.

    joints: (T, 22, 3) motion frame. Returns (world (T, 22, 4) (w, x, y, z), root_pos (T, 3)).
    Bone j runs from joint j to its children; world[j] rotates it from the SMPL rest pose to frame t.
    """
    local, root_pos = skeleton.joints_to_rotations(np.asarray(joints, dtype=np.float64))
    return skeleton.global_rotations(local), root_pos


def smpl_rest_joints(joints):
    """A T-pose rest skeleton with the clip's own proportions: (22, 3) motion frame, pelvis at the origin.

    Built from `skeleton.rest_offsets`, so the rest geometry of the hips and collars matches the clip's own shape and
    an SMPL armature made from it follows the clip exactly. joints: (T, 22, 3).
    """
    offsets = skeleton.rest_offsets(np.asarray(joints, dtype=np.float64))
    return skeleton.forward_kinematics(rot.quat_identity((22,)), np.zeros(3), offsets)


def a_pose_rest_joints(joints, arm_drop_deg=40.0):
    """`smpl_rest_joints` with both arms lowered by `arm_drop_deg` about the forward axis at the shoulders: the A-pose
    rest of rigs such as Mixamo characters, used to build test and demo rigs. joints: (T, 22, 3) -> (22, 3)."""
    return lower_arms(smpl_rest_joints(joints), arm_drop_deg)


def lower_arms(rest, arm_drop_deg):
    """A rest skeleton (22, 3) with both arms turned down by `arm_drop_deg` about the forward axis at the shoulders."""
    rest = np.array(rest, dtype=np.float64)
    names = list(skeleton.JOINT_NAMES)
    for side, sign in (("left", -1.0), ("right", 1.0)):
        q = rot.quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.radians(arm_drop_deg) * sign)
        pivot = rest[names.index(f"{side}_shoulder")].copy()
        for part in ("elbow", "wrist"):
            i = names.index(f"{side}_{part}")
            rest[i] = pivot + rot.quat_rotate(q, rest[i] - pivot)
    return rest


def _smpl_rest_frames(joints, world):
    """Per SMPL joint, the rest orientation of its bone as a direction (chain bones) or a frame (pelvis, chest).

    Measured from the clip itself (posed vectors rotated back by world^-1), so any rest convention of
    joints_to_rotations works. Returns dict joint index -> (3,) unit direction or (3, 3) frame.
    """
    names = list(skeleton.JOINT_NAMES)
    inv = rot.quat_inv(world)
    out = {}
    for name, child in PRIMARY_CHILD.items():
        j = names.index(name)
        if name in _FRAME_JOINTS:
            up_name, left, right = _FRAME_JOINTS[name]
            up = rot.quat_rotate(inv[:, j], joints[:, names.index(up_name)] - joints[:, j]).mean(axis=0)
            across = rot.quat_rotate(inv[:, j], joints[:, names.index(left)] - joints[:, names.index(right)]).mean(0)
            out[j] = _frame(up, across)
        else:
            d = rot.quat_rotate(inv[:, j], joints[:, names.index(child)] - joints[:, j]).mean(axis=0)
            out[j] = d / max(np.linalg.norm(d), 1e-9)
    return out


def leg_length(points_by_joint: Dict[str, np.ndarray]) -> Optional[float]:
    """Mean hip->knee->ankle length over the two legs, or None when a leg joint is missing."""
    lengths = []
    for side in ("left", "right"):
        names = [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]
        if not all(n in points_by_joint for n in names):
            continue
        p = [points_by_joint[n] for n in names]
        lengths.append(np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1]))
    return float(np.mean(lengths)) if lengths else None


def leg_scale(joints, rig: RigRest, markers: Dict[str, str]) -> float:
    """The root path's scale for `rig`: its rest leg length (hip -> knee -> ankle) over the clip's (`skeleton`'s
    median bone lengths), 1.0 where either is unknown. joints: (T, 22, 3) motion frame; markers: joint -> the bone
    whose rest head marks the joint."""
    rig_leg = leg_length({j: rig.heads[rig.index(b)] for j, b in markers.items()})
    motion_leg = _median_leg_length(joints)
    return rig_leg / motion_leg if (rig_leg and motion_leg) else 1.0


def retarget(joints, rig: RigRest, bone_map: Dict[str, str], root_motion: bool = True, *,
             markers: Optional[Dict[str, str]] = None, followers: Optional[Dict[str, str]] = None,
             root_bone: Optional[str] = None, match_feet: bool = True, follow_pelvis: bool = False,
             scale: Optional[float] = None) -> Retargeted:
    """Rotations and locations that make `rig` follow the 22-joint clip.

    joints: (T, 22, 3) motion frame (metres, Y-up), HumanML3D order.
    rig: the target's rest pose in the same frame.
    bone_map: SMPL joint name (skeleton.JOINT_NAMES) -> the bone that turns with that joint's segment; "pelvis" is
        required.
    root_motion: False keeps the hips over their rest place (height still follows the clip).
    markers: joint -> the bone whose rest head marks the joint (default: bone_map). Rigs whose animated controls do not
        sit on the joints (Rigify's FK controls) give their deform bones here.
    followers: bone -> joint: more bones that turn with that joint's segment (Rigify's torso with the pelvis).
    root_bone: the bone that carries the root motion (default: the pelvis bone); it must turn with the pelvis.
    match_feet: fit the rig's feet to the floor (step 5); off for a rig with the clip's own proportions, which
        follows the clip exactly anyway.
    follow_pelvis: place the pelvis joint on the clip's (scaled) pelvis instead of the hip centre on its hip centre:
        for a rig made from the clip's own skeleton (`smpl_rest_joints`), exact even where the clip's bone lengths
        drift (a model's output).
    scale: the root path's scale (rig / motion), instead of the ratio of leg lengths (`leg_scale`): for joints read
        back from this rig (blender_addon.readback), so the frames read from it land where they were whatever the new
        frames' legs; for joints resampled from a clip (`resample_joints`), that clip's `leg_scale`.
    Returns Retargeted (see there). Rest poses the retargeting cannot use raise MotionError naming the bone.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise ValueError(f"joints must be (T, 22, 3), got {joints.shape}")
    if "pelvis" not in bone_map:
        raise ValueError("bone_map must map 'pelvis' (the root bone)")
    markers = dict(bone_map if markers is None else markers)
    followers = dict(followers or {})
    unknown = sorted((set(bone_map) | set(markers) | set(followers.values())) - set(_NAMES))
    if unknown:
        raise ValueError(f"bone_map has unknown joint names {unknown}")
    root_name = root_bone or bone_map["pelvis"]
    if root_name != bone_map["pelvis"] and followers.get(root_name) != "pelvis":
        raise ValueError(f"root bone {root_name!r} must be the pelvis bone or follow the pelvis")
    frames, n_bones = joints.shape[0], len(rig.bone_names)
    carried = {rig.index(b): j for j, b in bone_map.items()}  # rig bone -> the joint whose segment it turns with
    carried.update({rig.index(b): j for b, j in followers.items()})
    rest_at = {j: rig.heads[rig.index(b)] for j, b in markers.items()}  # joint -> rest position on this rig

    # 1-2. Each mapped segment's world rotation on this rig, T_j = W_j · A_j^-1 (T, 4); leaves follow their parent.
    world, _ = smpl_world_rotations(joints)  # (T, 22, 4)
    smpl_rest = _smpl_rest_frames(joints, world)
    segment = {}
    for j, name in enumerate(_NAMES):
        if name not in bone_map and name not in followers.values():
            continue
        if j not in smpl_rest:  # a leaf (head, wrist, foot): turns with its parent segment
            parent = skeleton.PARENTS[j]
            segment[name] = segment.get(_NAMES[parent], world[:, parent]) if parent >= 0 else world[:, j]
            continue
        target_rest = _rig_rest_frame(name, rig, bone_map, markers, rest_at)
        source_rest = smpl_rest[j]
        if target_rest.shape == (3, 3):
            diff = rot.matrix_to_quat(target_rest @ source_rest.T)  # A_j: SMPL rest frame -> rig rest frame
        else:
            source_dir = source_rest[:, 1] if source_rest.ndim == 2 else source_rest
            diff = rot.quat_between(source_dir, target_rest)
        segment[name] = rot.quat_mul(world[:, j], rot.quat_inv(diff))

    # 3. Where the rig's joints go: the rig's own rest skeleton (its markers) turned segment by segment, hung from the
    # pelvis; the pelvis is placed so the hip centre follows the clip's, scaled by leg length.
    if scale is None:
        scale = leg_scale(joints, rig, markers)
    offsets = _marker_offsets(rest_at, segment, frames)  # joint -> (T, 3) position relative to the pelvis marker
    pelvis = _place_pelvis(joints, scale, rest_at, {} if follow_pelvis else offsets, root_motion)

    # 4. Feet on the floor: the root height puts the lower foot where it belongs, then each grounded leg bends or
    # stretches (two-bone IK on hip and knee, the foot keeps its orientation) by what the root could not fix.
    legs = [f"{s}_{j}" for s in ("left", "right") for j in ("hip", "knee", "ankle")]
    if match_feet and all(n in offsets and n in segment for n in legs):
        asks, grounded = _feet_asks(joints, scale, rest_at, offsets, pelvis)  # (2, T) each
        correction, _ = _softmin_blend(asks, grounded)
        pelvis[:, 1] += correction
        for k, side in enumerate(("left", "right")):
            lift = (asks[k] - correction) * np.exp(-grounded[k] / FOOT_CONTACT_SIGMA)
            _bend_leg(side, lift, rest_at, offsets, segment, pelvis)
        offsets = _marker_offsets(rest_at, segment, frames)

    # 5. Every rig bone's world rotation (parents first): keyed bones take their segment's, the others follow their
    # parent (identity pose). Pose-local rotations L_b = R_b^-1 · T_parent^-1 · T_b · R_b.
    target_world = np.empty((frames, n_bones, 4))
    keyed_ancestor = np.zeros(n_bones, dtype=bool)  # a keyed bone above (moves this bone's parent)
    follows = rig.follows if rig.follows is not None else np.full(n_bones, -1)
    source = np.where(follows >= 0, follows, rig.parents).astype(int)  # what each bone moves with
    for b in range(n_bones):
        p = int(rig.parents[b] if b in carried else source[b])
        parent_world = target_world[:, p] if p >= 0 else rot.quat_identity((frames,))
        target_world[:, b] = segment[carried[b]] if b in carried else parent_world
        keyed_ancestor[b] = p >= 0 and (keyed_ancestor[p] or p in carried)
    keyed = sorted(carried)
    rest = rig.rotations
    local = np.empty((frames, len(keyed), 4))
    for k, b in enumerate(keyed):
        p = int(rig.parents[b])
        delta = target_world[:, b] if p < 0 else rot.quat_mul(rot.quat_inv(target_world[:, p]), target_world[:, b])
        local[:, k] = rot.quat_mul(rot.quat_inv(rest[b]), rot.quat_mul(delta, rest[b]))
    local = rot.quat_fix(rot.quat_normalize(local), axis=0)

    # 6. Locations: the root, and keyed bones with no keyed bone above them (they hang from bones nothing moves). A
    # location puts the bone's keyed children where they belong (Rigify's torso carries the spine controls' pivot,
    # which is not where the pelvis is); a bone without keyed children goes where its own segment puts it. In the
    # bone's rest frame (its parent does not move).
    floating = [b for b in keyed if not keyed_ancestor[b] and rig.bone_names[b] != root_name]
    location_bones = [rig.index(root_name)] + floating
    nearest_keyed = {}  # keyed bone -> its nearest keyed ancestor
    for b in keyed:
        p = int(rig.parents[b])
        while p >= 0 and p not in carried:
            p = int(source[p])
        nearest_keyed[b] = p

    def where(b):  # (T, 3) where bone b's head belongs: rigid with the segment it turns with
        name = carried[b]
        if name not in offsets:
            raise MotionError(f"'{rig.bone_names[b]}' hangs from a bone that does not move and joint {name} cannot "
                              "be placed (a joint above it has no bone): complete the bone map")
        return pelvis + offsets[name] + rot.quat_rotate(segment[name], rig.heads[b] - rest_at.get(name, rig.heads[b]))

    locations = np.empty((frames, len(location_bones), 3))
    for k, b in enumerate(location_bones):
        kids = [c for c in keyed if nearest_keyed[c] == b and carried[c] in offsets]
        if kids:
            turn = segment[carried[b]]
            head = np.mean([where(c) - rot.quat_rotate(turn, rig.heads[c] - rig.heads[b]) for c in kids], axis=0)
        else:
            head = where(b)
        locations[:, k] = rot.quat_rotate(rot.quat_inv(rest[b]), head - rig.heads[b])
    return Retargeted(
        bone_names=[rig.bone_names[b] for b in keyed],
        rotations=local.astype(np.float32),
        location_bones=[rig.bone_names[b] for b in location_bones],
        locations=locations.astype(np.float32),
        scale=float(scale),
    )


def _rig_rest_frame(name, rig, bone_map, markers, rest_at):
    """The rig's rest direction (3,) or frame (3, 3) of joint `name`'s segment, from the markers of the joint and its
    children (the carrying bone's own Y axis when the chain child has no marker). MotionError on a degenerate one."""
    bone = bone_map.get(name) or next(b for b, j in markers.items() if j == name)
    child = PRIMARY_CHILD[name]
    if name in rest_at and child in rest_at:
        d = rest_at[child] - rest_at[name]
        if np.linalg.norm(d) < 1e-5:
            raise MotionError(f"'{markers[name]}' and '{markers[child]}' start at the same point in the rest pose, so "
                              f"the direction of '{bone}' ({name}) is undefined: map {name} or {child} to another bone")
    else:
        d = rot.quat_rotate(rig.rotations[rig.index(bone)], np.array([0.0, 1.0, 0.0]))
    if name in _FRAME_JOINTS:
        _, left, right = _FRAME_JOINTS[name]
        if left in rest_at and right in rest_at:
            across = rest_at[left] - rest_at[right]
            if np.linalg.norm(np.cross(across, d)) < 1e-5 * max(np.linalg.norm(across), 1e-9):
                raise MotionError(f"'{markers[left]}' and '{markers[right]}' line up with '{bone}' ({name}) in the rest "
                                  f"pose, so its frame is undefined: check the bone map for {left} and {right}")
            return _frame(d, across)
    return d / np.linalg.norm(d)


def _marker_offsets(rest_at, segment, frames):
    """joint -> (T, 3) position relative to the pelvis marker: each marker hangs from its parent's by the rig's rest
    offset turned by the parent segment. Joints with an unmarked joint above them are left out."""
    offsets = {}
    if "pelvis" not in rest_at:
        return offsets
    offsets["pelvis"] = np.zeros((frames, 3))
    for j, name in enumerate(_NAMES):
        parent = skeleton.PARENTS[j]
        if parent < 0 or name not in rest_at or _NAMES[parent] not in offsets or _NAMES[parent] not in segment:
            continue
        p = _NAMES[parent]
        offsets[name] = offsets[p] + rot.quat_rotate(segment[p], rest_at[name] - rest_at[p])
    return offsets


def _place_pelvis(joints, scale, rest_at, offsets, root_motion):
    """(T, 3) pelvis-marker path: the rig's hip centre on the clip's hip centre scaled by leg length (the pelvis joint
    itself sits differently on every rig: above the hips on SMPL, between them on Mixamo, below them on Rigify)."""
    hips = [_NAMES.index(f"{s}_hip") for s in ("left", "right")]
    if all(f"{s}_hip" in offsets for s in ("left", "right")):
        target = joints[:, hips].mean(axis=1) * scale
        rig_centre = (offsets["left_hip"] + offsets["right_hip"]) / 2  # relative to the pelvis marker
        rest_centre = (rest_at["left_hip"] + rest_at["right_hip"]) / 2
    else:  # no hips to go by: the pelvis joint itself
        target, rig_centre = joints[:, 0] * scale, 0.0
        rest_centre = rest_at.get("pelvis", np.zeros(3))
    if not root_motion:
        target = target.copy()
        target[:, [0, 2]] = rest_centre[[0, 2]]
    return target - rig_centre


LEG_BEND_MAX_DEG = 1.8  # the most the floor pass turns a thigh or shin away from the clip's direction
FOOT_CONTACT_SIGMA = 0.02  # metres of heel lift over which a foot's say in the root height fades (e ≈ 0.37)


def _feet_asks(joints, scale, rest_at, offsets, pelvis):
    """How far each foot is from where it belongs: (asks (2, T) height to add at the foot, grounded (2, T) the foot's
    lift in the clip, metres), left then right.

    The rig's floor is its rest pose (feet flat: ankles and balls at their rest heights above the rig's origin); the
    clip's floor is, per point, its lowest height in the clip. Each foot point (ankle, ball) belongs at its rest height + the clip's lift of
    that point × scale. A foot speaks through its lower point (the heel while it is down, the ball on tiptoe).
    """
    # A rig whose rest ankles are far from its origin (an armature built around its pelvis) does not stand on its
    # floor: its feet then go where the clip's are, scaled.
    leg = leg_length(rest_at) or 1.0
    stands = all(-0.1 * leg < rest_at[f"{s}_ankle"][1] < 0.3 * leg for s in ("left", "right"))
    asks, grounded = [], []
    for side in ("left", "right"):
        point_asks, point_lifts = [], []
        ankle, ball = rest_at[f"{side}_ankle"], rest_at.get(f"{side}_foot")
        # The ball speaks only on a rig whose rest foot stands flat (pitched down to the floor), not on a T-pose
        # foot held level at ankle height (SMPL's rest).
        flat_foot = ball is not None and ankle[1] - ball[1] > 0.2 * np.linalg.norm(ball - ankle)
        for part in ("ankle", "foot") if flat_foot else ("ankle",):
            name = f"{side}_{part}"
            if name not in offsets:
                continue
            height = joints[:, _NAMES.index(name), 1]
            lift = height - height.min()  # (T,) the point's lift in the clip
            rig_height = pelvis[:, 1] + offsets[name][:, 1]
            floor = rest_at[name][1] if stands else height.min() * scale
            point_asks.append(floor + lift * scale - rig_height)
            point_lifts.append(lift)
        ask, lift = _softmin_blend(np.stack(point_asks), np.stack(point_lifts))
        asks.append(ask)
        grounded.append(lift)
    return np.stack(asks), np.stack(grounded)


def _bend_leg(side, lift, rest_at, offsets, segment, pelvis):
    """Move one ankle up by `lift` (T,) metres with two-bone IK: thigh and shin segments turn (in place, in `segment`),
    the knee stays in its plane, the foot keeps its world orientation. Reach is clamped to the leg's length, and a
    frame's lift is cut back where it would turn the thigh or shin by more than LEG_BEND_MAX_DEG (a nearly straight
    leg would have to bend a lot to shorten a little): limb directions stay the clip's within that angle."""
    hip, knee, ankle = (f"{side}_{j}" for j in ("hip", "knee", "ankle"))
    h, k, a = (pelvis + offsets[n] for n in (hip, knee, ankle))  # (T, 3) posed
    l1 = np.linalg.norm(rest_at[knee] - rest_at[hip])
    l2 = np.linalg.norm(rest_at[ankle] - rest_at[knee])
    bend = k - (h + a) / 2  # the knee bends to where it points now

    def solve(lift):
        goal = a + lift[:, None] * np.array([0.0, 1.0, 0.0])
        new_knee, goal = two_bone_ik(h, goal, bend, np.full((len(h), 1), l1), np.full((len(h), 1), l2))
        turn_thigh = rot.quat_between(k - h, new_knee - h)
        turn_shin = rot.quat_mul(rot.quat_between(rot.quat_rotate(turn_thigh, a - k), goal - new_knee), turn_thigh)
        return turn_thigh, turn_shin

    def turned_deg(turns):
        return 2 * np.degrees(np.arccos(np.clip(np.abs(np.stack([t[:, 0] for t in turns])), 0, 1))).max(axis=0)

    turns = solve(lift)
    over = turned_deg(turns) > LEG_BEND_MAX_DEG
    if over.any():  # bisect the share of the lift those frames can take
        low, high = np.zeros_like(lift), np.ones_like(lift)
        for _ in range(12):
            mid = np.where(over, (low + high) / 2, 1.0)
            ok = turned_deg(solve(lift * mid)) <= LEG_BEND_MAX_DEG
            low, high = np.where(ok, mid, low), np.where(ok, high, mid)
        turns = solve(lift * np.where(over, low, 1.0))
    turn_thigh, turn_shin = turns
    segment[hip] = rot.quat_mul(turn_thigh, segment[hip])
    segment[knee] = rot.quat_mul(turn_shin, segment[knee])


def _softmin_blend(values, keys):
    """values, keys: (N, T) -> (blend of values weighted towards the smallest key, smallest key), each (T,)."""
    low = keys.min(axis=0)
    weights = np.exp(-(keys - low) / FOOT_CONTACT_SIGMA)  # the lowest weighs 1
    return np.sum(values * weights, axis=0) / weights.sum(axis=0), low


def _median_leg_length(joints) -> Optional[float]:
    """The clip's hip->knee->ankle length (mean of both legs) from `skeleton.bone_lengths`, the lengths an SMPL rig
    made by `smpl_rest_joints` gets, so such a rig keeps the clip's root path unscaled. joints: (T, 22, 3)."""
    names = list(skeleton.JOINT_NAMES)
    lengths = skeleton.bone_lengths(joints)
    legs = [lengths[names.index(f"{side}_knee")] + lengths[names.index(f"{side}_ankle")] for side in ("left", "right")]
    return float(np.mean(legs))


def resample_times(count: int, source_fps: float, target_fps: float) -> np.ndarray:
    """(N,) the times of a clip's frames at another rate, in source frames: one per target frame from the first source
    frame's time until the last one's is reached (the last may fall past the end: it holds the final pose). count:
    the clip's frames; source_fps, target_fps: frames per second, > 0."""
    if not (source_fps > 0 and target_fps > 0):
        raise ValueError(f"frame rates must be positive, got {source_fps} and {target_fps}")
    duration = (count - 1) / source_fps
    return np.arange(int(np.ceil(duration * target_fps - 1e-6)) + 1) * (source_fps / target_fps)


def resample(retargeted: Retargeted, source_fps: float, target_fps: float) -> Retargeted:
    """The same keys at another frame rate (`resample_times`; slerp between neighbouring rotations, linear between
    locations). A 20 fps motion in a 24 fps (or 29.97 fps) scene then keys whole scene frames."""
    return sample(retargeted, resample_times(retargeted.rotations.shape[0], source_fps, target_fps))


def resample_joints(joints, source_fps: float, target_fps: float) -> np.ndarray:
    """(N, 22, 3) the clip at another frame rate (`resample_times`): each joint's position interpolated linearly
    between the two frames around. Retargeting these instead of slerping keys retargeted at the source rate fits the
    feet to the floor (step 5) at every target frame: a planted foot stays where the clip has it, where slerped
    rotations on the rig's rigid legs sink it (up to 0.5 cm between 20 fps frames of a walk). The direction of a
    bone turning fast differs from a slerp's by a fraction of a degree (0.2° on that walk at 24 fps); pass the
    source clip's `leg_scale` to `retarget`, as linear positions shorten the legs a little.
    joints: (T, 22, 3) motion frame."""
    joints = np.asarray(joints, dtype=np.float64)
    times = np.clip(resample_times(len(joints), source_fps, target_fps), 0, len(joints) - 1)
    before = np.minimum(np.floor(times).astype(int), max(len(joints) - 2, 0))
    after = np.minimum(before + 1, len(joints) - 1)
    f = (times - before)[:, None, None]  # (N, 1, 1)
    return joints[before] * (1 - f) + joints[after] * f


def sample(retargeted: Retargeted, positions) -> Retargeted:
    """The keys at fractional frame positions (N,) of `retargeted` (slerp between neighbouring rotations, linear
    between locations; positions outside 0 .. T-1 hold the first or last pose), e.g. the whole scene frames of a span
    read at 20 fps from a 24 fps scene."""
    count = retargeted.rotations.shape[0]
    position = np.clip(np.asarray(positions, dtype=np.float64), 0, count - 1)
    before = np.minimum(np.floor(position).astype(int), max(count - 2, 0))
    after = np.minimum(before + 1, count - 1)
    t = (position - before)[:, None]  # (N, 1)
    q = rot.quat_slerp(retargeted.rotations[before].astype(np.float64), retargeted.rotations[after].astype(np.float64),
                       t)
    loc = retargeted.locations[before] * (1 - t[..., None]) + retargeted.locations[after] * t[..., None]
    return Retargeted(bone_names=list(retargeted.bone_names),
                      rotations=rot.quat_fix(q, axis=0).astype(np.float32),
                      location_bones=list(retargeted.location_bones), locations=loc.astype(np.float32),
                      scale=retargeted.scale)

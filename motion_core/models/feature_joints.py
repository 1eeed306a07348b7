"""HumanML3D features -> joints in torch, differentiable: the VAE's joint loss and the generator's GPU readout.

The numpy original is `motion_core.motion.features.features_to_joints` (recover_from_ric, H1's module, which must
stay torch-free for Blender). This is the same arithmetic on tensors, so the loss can backpropagate and generation
can stay on the device inside the CUDA graph; tests/test_models.py checks the two agree.

Feature layout (263 = 4 + 21*3 + 21*6 + 22*3 + 4): [0] root angular velocity about Y, [1:3] root XZ velocity in the
root frame, [3] root height, [4:67] the 21 non-root joint positions relative to the root in the root-facing frame.
Output: metres, Y-up, +Z forward, 22-joint SMPL order.
"""

import torch


def _rotate_y(cos, sin, v):
    """Rotate v (..., 3) by the inverse of the Y-axis quaternion (cos, 0, sin, 0), i.e. qrot(qinv(q), v)."""
    # For q = (c, 0, s, 0) the inverse rotation is by angle -2a about Y: x' = x cos2a - z sin2a, z' = x sin2a + z cos2a.
    c2 = cos * cos - sin * sin
    s2 = 2.0 * sin * cos
    x, y, z = v.unbind(-1)
    return torch.stack([x * c2 - z * s2, y, x * s2 + z * c2], dim=-1)


def features_to_joints(features, joints_num=22):
    """features: (..., T, 263) de-normalised HumanML3D features -> joints (..., T, 22, 3)."""
    rot_vel = features[..., 0]
    # The root's heading angle integrates the angular velocity of the previous frames (frame 0 faces +Z).
    angle = torch.cumsum(torch.cat([torch.zeros_like(rot_vel[..., :1]), rot_vel[..., :-1]], dim=-1), dim=-1)
    cos, sin = torch.cos(angle), torch.sin(angle)  # (..., T)

    zeros = torch.zeros_like(features[..., :1, 0])
    vel_x = torch.cat([zeros, features[..., :-1, 1]], dim=-1)
    vel_z = torch.cat([zeros, features[..., :-1, 2]], dim=-1)
    step = _rotate_y(cos, sin, torch.stack([vel_x, torch.zeros_like(vel_x), vel_z], dim=-1))  # (..., T, 3)
    root = torch.cumsum(step, dim=-2)
    root = torch.stack([root[..., 0], features[..., 3], root[..., 2]], dim=-1)  # height is absolute

    local = features[..., 4:4 + (joints_num - 1) * 3].unflatten(-1, (joints_num - 1, 3))  # (..., T, 21, 3)
    world = _rotate_y(cos[..., None], sin[..., None], local)
    world = world + torch.stack([root[..., 0], torch.zeros_like(root[..., 0]), root[..., 2]], dim=-1)[..., None, :]
    return torch.cat([root[..., None, :], world], dim=-2)

"""numpy-only motion code. Nothing in this package may import torch (a test enforces it): Blender imports it.

Conventions: metres, Y-up, +Z forward, 20 fps, HumanML3D 22-joint SMPL order, quaternions (w, x, y, z).
"""

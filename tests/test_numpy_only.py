"""motion_core.motion must import without torch: Blender's Python imports it and has no torch.

Every module of the package is imported in a fresh interpreter in which importing torch (or bpy) raises."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import motion_core.motion

BLOCKED = ("torch", "bpy")

CHILD = r"""
import importlib, importlib.abc, sys

BLOCKED = {blocked!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked: motion_core.motion must stay numpy-only")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:
    sys.modules.pop(name, None)
for module in {modules!r}:
    importlib.import_module(module)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print("ok", len({modules!r}))
"""


def motion_modules():
    package_dir = Path(motion_core.motion.__file__).parent
    names = ["motion_core.motion"]
    names += [f"motion_core.motion.{info.name}" for info in pkgutil.iter_modules([str(package_dir)])]
    return names


def test_motion_package_lists_its_core_modules():
    names = motion_modules()
    for required in ("rotations", "skeleton", "features", "clip"):
        assert f"motion_core.motion.{required}" in names


def test_every_motion_module_imports_without_torch():
    modules = motion_modules()
    code = CHILD.format(blocked=BLOCKED, modules=modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"ok {len(modules)}"


def test_the_blocker_really_blocks():
    """The same harness must fail for a module that imports torch, or the test above proves nothing."""
    code = CHILD.format(blocked=BLOCKED, modules=["torch"])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "blocked" in result.stderr

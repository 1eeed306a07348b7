"""The private-backend installer: messages for the ways pip fails, the offline guard, no network needed."""

import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from blender_addon import deps  # noqa: E402


@pytest.mark.parametrize("output, expected", [
    ("WARNING: Retrying ... Failed to establish a new connection: [Errno -3] Temporary failure in name resolution",
     "could not reach the package index"),
    ("ERROR: Could not find a version that satisfies the requirement torch==9.9\n"
     "ERROR: No matching distribution found for torch==9.9", "no matching package"),
    ("OSError: [Errno 28] No space left on device", "disk is full"),
    ("/usr/bin/python: No module named pip", "has no pip"),
    ("something else\nERROR: boom", "pip failed (exit code 1): ERROR: boom"),
])
def test_pip_failures_become_one_line_advice(output, expected):
    message = deps.explain_pip_failure(output, 1)
    assert expected in message and "\n" not in message


def test_real_pip_failure_is_reported_with_progress(tmp_path):
    empty_index = tmp_path / "wheels"
    empty_index.mkdir()
    installer = deps.Installer(str(tmp_path / "backend"), ["torch==2.13.0"],
                               extra_args=["--no-index", "--find-links", str(empty_index)]).start()
    state, fraction, message = installer.wait(timeout=120)
    assert state == "FAILED", message
    assert "no matching package" in message
    assert not (tmp_path / "backend" / "torch").exists()


def test_requirements_are_pinned_and_skip_blenders_numpy():
    lines = deps.backend_requirements()
    assert any(line.startswith("torch==") for line in lines)
    assert not any(line.startswith("numpy") for line in lines)


def test_install_button_refuses_when_blender_is_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTION_MAMBA_USER_DIR", str(tmp_path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True)
    assert not bpy.app.online_access  # the bpy module's default, like a fresh Blender without consent
    with pytest.raises(RuntimeError, match="offline"):
        bpy.ops.motion_mamba.install_backend()
    state = bpy.context.window_manager.motion_mamba_install
    assert state.failed and "Allow Online Access" in state.message
    assert not (tmp_path / "backend" / "torch").exists()

"""The private-backend installer: messages for the ways pip fails, the offline guard, no network needed."""

import sys
import time
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
    ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...", "no matching package"),  # newer pip
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


def make_wheel(folder, name="mm_fake_dep", version="1.0"):
    """A minimal pure-Python wheel written by hand (no build tools, no network)."""
    import base64
    import hashlib
    import zipfile

    files = {f"{name}/__init__.py": b"VALUE = 42\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in files.items())
    record += f"{name}-{version}.dist-info/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for inner, data in files.items():
            archive.writestr(inner, data)
        archive.writestr(f"{name}-{version}.dist-info/RECORD", record)
    return path


def test_successful_install_reports_progress_and_fills_the_folder(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    installer = deps.Installer(str(tmp_path / "backend"), ["mm_fake_dep==1.0"],
                               extra_args=["--no-index", "--find-links", str(wheels)]).start()
    seen = set()
    while installer.poll()[0] == "RUNNING":
        seen.add(installer.poll()[2])
        time.sleep(0.01)
    state, fraction, message = installer.poll()
    assert state == "FINISHED" and fraction == 1.0 and str(tmp_path / "backend") in message
    assert (tmp_path / "backend" / "mm_fake_dep" / "__init__.py").is_file()
    assert any(m.startswith(("Resolving", "Installing", "Starting")) for m in seen)

"""Reliability and security (issue 15): what a hostile or careless user can do to the worker, the add-on's backend
client and the file readers. Each test is a reproduction that failed before its fix.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig

    folder = tmp_path_factory.mktemp("tiny_weights")
    MotionGenerator.random(ModelConfig.tiny(), seed=0).save_pretrained(folder)
    return folder


def backend_module():
    pytest.importorskip("bpy")  # blender_addon/__init__ imports bpy
    from blender_addon import backend

    return backend


# ------------------------------------------------------------------ 1. no code from the current folder in the worker

def _plant(folder: Path, marker: Path):
    """A numpy.py (and a sitecustomize.py) that would leave `marker` behind if the worker imported them."""
    for name in ("numpy.py", "sitecustomize.py", "usercustomize.py"):
        (folder / name).write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n")


@pytest.mark.parametrize("private", [False, True], ids=["external", "private"])
def test_worker_never_imports_modules_from_the_current_folder(tmp_path, tiny_weights, monkeypatch, private):
    backend = backend_module()
    planted = tmp_path / "downloaded_project"
    planted.mkdir()
    marker = tmp_path / "planted_code_ran.txt"
    _plant(planted, marker)
    deps = tmp_path / "deps"
    deps.mkdir()
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", ".")  # a relative entry resolves against the worker's own empty folder
    config = backend.BackendConfig(mode="worker", python=sys.executable, weights=str(tiny_weights), device="cpu",
                                   extra_paths=(str(deps),) if private else ())
    worker = backend.WorkerBackend(config)
    try:
        job = worker.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, steps=1))
        assert job.wait(timeout=120) == backend.FINISHED, job.error
        assert job.result.joints.shape == (1, 20, 22, 3)
    finally:
        worker.close()
    assert not marker.exists(), marker.read_text()


# ------------------------------------------------------------------ 3. a hung worker never holds the add-on

def _start_long_generation(backend, worker):
    job = worker.generate(backend.GenerateRequest(prompt="a person dances", seconds=9.8, seed=1, steps=1000))
    deadline = time.monotonic() + 120
    while job.poll() == backend.RUNNING and job.step < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.step >= 1, job.error
    return job


@pytest.mark.skipif(not hasattr(os, "killpg") or sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_a_stopped_worker_is_killed_by_the_watchdog_with_a_clear_message(tiny_weights, monkeypatch):
    import signal

    backend = backend_module()
    monkeypatch.setattr(backend, "STALL_TIMEOUT_S", 3.0)
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        os.kill(worker._process.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert job.wait(timeout=60) == backend.FAILED
        assert time.monotonic() - started < 30
        assert "stopped responding" in job.error and "unchanged" in job.error and "\n" not in job.error
        assert not worker.alive
    finally:
        worker.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_esc_on_a_stopped_worker_cancels_within_seconds(tiny_weights, monkeypatch):
    import signal

    backend = backend_module()
    monkeypatch.setattr(backend, "CANCEL_GRACE_S", 2.0)
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        os.kill(worker._process.pid, signal.SIGSTOP)
        job.cancel()
        started = time.monotonic()
        while job.poll() == backend.RUNNING and time.monotonic() - started < 30:
            time.sleep(0.05)
        assert job.state == backend.CANCELLED and job.result is None
        assert not worker.alive  # a worker that cannot even answer a cancel is not reused
    finally:
        worker.close()


def test_esc_answered_by_a_live_worker_ends_the_job_at_once(tiny_weights):
    """The worker answers a cancel on its stdin thread; the job ends with that answer, without waiting for the
    sampler (which may be busy in a long load or step)."""
    backend = backend_module()
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        job.cancel()
        assert job.wait(timeout=30) == backend.CANCELLED
        assert worker.alive
        again = worker.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, steps=1))
        assert again.wait(timeout=60) == backend.FINISHED, again.error
    finally:
        worker.close()


HUNG_WORKER = "#!/bin/sh\nexec sleep 600\n"  # starts, reads nothing, answers nothing


@pytest.fixture
def addon(tmp_path, monkeypatch):
    bpy = pytest.importorskip("bpy")
    import addon_utils

    monkeypatch.setenv("MOTION_MAMBA_USER_DIR", str(tmp_path / "user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True)
    yield bpy
    addon_utils.disable("blender_addon", default_set=True)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the hung worker")
def test_blocking_execute_returns_when_the_worker_hangs(addon, tmp_path, monkeypatch):
    bpy = addon
    from blender_addon import backend

    monkeypatch.setattr(backend, "STALL_TIMEOUT_S", 2.0)
    hung = tmp_path / "python"
    hung.write_text(HUNG_WORKER)
    hung.chmod(0o755)
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.backend, prefs.python_path, prefs.device = "EXTERNAL", str(hung), "cpu"
    settings = bpy.context.scene.motion_mamba
    settings.prompt, settings.seconds, settings.target = "a person walks", 2.0, "NEW_RIG"
    objects = len(bpy.data.objects)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped responding"):  # bpy.ops raises for a reported error
        bpy.ops.motion_mamba.generate()
    assert time.monotonic() - started < 30
    status = bpy.context.window_manager.motion_mamba_status
    assert "stopped responding" in status.last_error and not status.running
    assert len(bpy.data.objects) == objects


# ------------------------------------------------------------------ 4. the slider's own maximum is accepted

def test_the_float32_maximum_duration_is_accepted():
    pytest.importorskip("bpy")
    from types import SimpleNamespace

    from blender_addon import generation

    slider = float(np.float32(generation.MAX_SECONDS))  # what a FloatProperty set to 9.8 reads back
    assert slider > generation.MAX_SECONDS
    settings = SimpleNamespace(prompt="a person walks", seconds=slider, variations=1, randomize_seed=False, seed=3,
                               steps=2, guidance=7.5, foot_cleanup=True)
    request = generation.read_request(settings)
    assert request.seconds == generation.MAX_SECONDS
    settings.seconds = float(np.float32(generation.MIN_SECONDS - 0.01))
    with pytest.raises(generation.MotionError, match="Duration"):
        generation.read_request(settings)

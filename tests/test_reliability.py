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

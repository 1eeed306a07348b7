"""Shared test fixtures.

Data locations: the project's real CMU sample and the HumanML3D parity fixture live outside the repository, in
`../shared/data` beside the checkout (override with MOTION_CORE_SHARED_DATA). Tests that need them skip when absent;
`tests/data/` holds a small committed subset of CMU clips (free for all uses, see tests/data/README.md) so the core
mocap tests always run.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"


def shared_data_dir():
    configured = os.environ.get("MOTION_CORE_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped on machines without it")
    config.addinivalue_line("markers", "slow: longer end-to-end test (still part of the CI suite)")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture
def triton_interpreter(monkeypatch):
    """Triton's CPU interpreter for a test's kernels: skips where triton is not installed, or was imported already
    (triton reads TRITON_INTERPRET at import and at each @triton.jit, so it must not be loaded yet)."""
    import importlib.util
    import sys

    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")
    if "triton" in sys.modules:
        pytest.skip("triton was imported before TRITON_INTERPRET could be set (triton caches it)")
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session")
def cmu_dir():
    path = shared_data_dir() / "cmu"
    if not path.is_dir():
        pytest.skip(f"CMU sample not found at {path}")
    return path


@pytest.fixture(scope="session")
def humanml3d_sample_dir():
    path = shared_data_dir() / "humanml3d-sample"
    if not path.is_dir():
        pytest.skip(f"HumanML3D parity sample not found at {path}")
    return path


@pytest.fixture(scope="module")
def tiny_temporal_model(tmp_path_factory):
    """A random-weight generator folder of the tiny temporal-latent model (the add-on's timeline and span tests)."""
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig

    folder = tmp_path_factory.mktemp("tiny_temporal_model")
    MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0).save_pretrained(folder)
    return folder

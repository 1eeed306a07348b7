"""One device rule (motion_core.device.resolve_device) for generation, training and evaluation."""

import pytest
import torch

from motion_core import generator
from motion_core.device import resolve_device
from motion_core.errors import MotionError


def test_auto_picks_cuda_when_there_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") == resolve_device(None)
    assert resolve_device("auto", local_rank=3) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("auto", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("auto", local_rank=0) == torch.device("cuda:0")  # a training rank names its GPU


def test_bad_devices_are_one_line_user_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MotionError, match="--device cpu"):
        resolve_device("cuda")
    with pytest.raises(MotionError, match="--device cpu"):
        resolve_device("cuda:1", local_rank=0)
    with pytest.raises(MotionError, match="unknown device"):
        resolve_device("gpu0")
    with pytest.raises(MotionError, match="unsupported device"):
        resolve_device("meta")
    with pytest.raises(MotionError, match="must be"):
        resolve_device(0)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_the_generator_reuses_the_one_rule():
    assert generator.resolve_device is resolve_device

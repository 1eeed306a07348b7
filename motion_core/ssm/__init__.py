"""Selective scan (Mamba's S6 operator) with interchangeable backends, and the Mamba blocks built on it.

`selective_scan(...)` is the operator (backends.py picks ref / chunked / blocked / triton / cuda); `blocks.py` holds
MambaBlock, BidirectionalMamba and MultiBranchMamba. Importing this package needs torch only: triton and mamba-ssm's
compiled extension are imported when their backend first runs.
"""

from motion_core.ssm.backends import BACKENDS, choose_backend, scan_backend_info, selective_scan

__all__ = ["BACKENDS", "choose_backend", "scan_backend_info", "selective_scan"]

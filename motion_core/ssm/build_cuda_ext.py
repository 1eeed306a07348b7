"""Build mamba-ssm's `selective_scan_cuda` extension (the `cuda` scan backend) for this machine's GPU only.

    python -m motion_core.ssm.build_cuda_ext mamba_ssm-2.3.2.post1.tar.gz --out build/selective_scan
    PYTHONPATH=build/selective_scan python ...   # then `import selective_scan_cuda` works

mamba-ssm's own setup.py compiles 10 translation units for 9 architectures (tens of minutes) and ignores
TORCH_CUDA_ARCH_LIST; compiling the same sources with the same nvcc flags for one architecture takes about two
minutes on 16 cores. Only the bare extension is built: nothing of the mamba_ssm Python package is installed.
"""

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

SOURCES = [
    "selective_scan.cpp",
    "selective_scan_fwd_fp32.cu", "selective_scan_fwd_fp16.cu", "selective_scan_fwd_bf16.cu",
    "selective_scan_bwd_fp32_real.cu", "selective_scan_bwd_fp32_complex.cu",
    "selective_scan_bwd_fp16_real.cu", "selective_scan_bwd_fp16_complex.cu",
    "selective_scan_bwd_bf16_real.cu", "selective_scan_bwd_bf16_complex.cu",
]
# mamba-ssm 2.3.2.post1's nvcc flags, less --ptxas-options=-v (noise) and the architecture list (ours is one).
NVCC_FLAGS = [
    "-O3", "-std=c++17",
    "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
    "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
    "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "-lineinfo", "--threads", "4",
]


def build(sdist, out_dir, arch=None, verbose=False):
    """Compile selective_scan_cuda from a mamba-ssm sdist into out_dir; returns the path of the .so."""
    import torch
    from torch.utils.cpp_extension import load

    if arch is None:
        major, minor = torch.cuda.get_device_capability()
        arch = f"{major}{minor}"
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if "/csrc/selective_scan/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        csrc = next(Path(tmp).glob("*/csrc/selective_scan"))
        os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
        load(
            name="selective_scan_cuda",
            sources=[str(csrc / s) for s in SOURCES],
            extra_cflags=["-O3", "-std=c++17"],
            extra_cuda_cflags=NVCC_FLAGS + ["-gencode", f"arch=compute_{arch},code=sm_{arch}"],
            extra_include_paths=[str(csrc)],
            build_directory=str(out_dir),
            verbose=verbose,
        )
    built = next(out_dir.glob("selective_scan_cuda*.so"))
    # the canonical name, so that `import selective_scan_cuda` finds it on PYTHONPATH
    target = out_dir / "selective_scan_cuda.so"
    if built != target:
        shutil.copy2(built, target)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", help="path of mamba_ssm-2.3.2.post1.tar.gz")
    parser.add_argument("--out", default="build/selective_scan", help="output folder for the .so")
    parser.add_argument("--arch", default=None, help="compute capability digits, e.g. 90 (default: this GPU)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    path = build(args.sdist, args.out, args.arch, args.verbose)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

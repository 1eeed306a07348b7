"""The `cuda` backend: mamba-ssm's compiled `selective_scan_cuda` extension, imported lazily as the bare module.

We never `import mamba_ssm` (its package __init__ pulls triton, transformers and the extension itself); the `.so`
alone needs only the torch it was compiled against. Build it from the mamba-ssm sdist (csrc/selective_scan) with
torch.utils.cpp_extension, or `MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation --no-deps mamba-ssm`.
"""

import importlib

import torch

_module = None
_problem = None
_checked = False


def extension_problem():
    """None when `selective_scan_cuda` imports, else a one-line reason with what to do."""
    global _module, _problem, _checked
    if not _checked:
        _checked = True
        try:
            _module = importlib.import_module("selective_scan_cuda")
        except (ImportError, OSError) as error:
            _problem = (f"the 'cuda' scan backend needs mamba-ssm's compiled selective_scan_cuda module ({error}); "
                        "build it for this torch (MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation --no-deps "
                        "mamba-ssm) or pick the 'triton' backend")
    return _problem


def _extension():
    problem = extension_problem()
    if problem:
        raise RuntimeError(problem)
    return _module


def _last_dim_contiguous(x):
    return x if x is None or x.stride(-1) == 1 else x.contiguous()


class _SelectiveScanCuda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        ext = _extension()
        out, chunk_states, *rest = ext.fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        ctx.delta_softplus = delta_softplus
        ctx.has_z = z is not None
        # the kernel keeps (decay product, state) pairs per 2048-step chunk; the state of the last chunk is the end
        last_state = chunk_states[:, :, -1, 1::2]
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chunk_states, out if z is not None else None)
        ctx.mark_non_differentiable(last_state)
        return (rest[0] if z is not None else out), last_state

    @staticmethod
    def backward(ctx, dout, _dlast):
        u, delta, A, B, C, D, z, delta_bias, chunk_states, out = ctx.saved_tensors
        grads = _extension().bwd(u, delta, A, B, C, D, z, delta_bias, dout.contiguous(), chunk_states, out, None,
                                 ctx.delta_softplus, False)
        du, ddelta, dA, dB, dC, dD, ddelta_bias = grads[:7]
        dz = grads[7] if z is not None else None
        return (du, ddelta, dA, dB.to(B.dtype), dC.to(C.dtype), dD if D is not None else None, dz,
                ddelta_bias if delta_bias is not None else None, None)


def selective_scan_cuda_ext(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                            return_last_state=False):
    """mamba-ssm's kernel with our operator's arguments (B, C already (batch, groups, state, length))."""
    dtype = u.dtype
    u = _last_dim_contiguous(u)
    delta = _last_dim_contiguous(delta.to(dtype))
    z = _last_dim_contiguous(z.to(dtype)) if z is not None else None
    B = B.to(dtype).contiguous()  # the kernel needs dense (batch, groups, state, length)
    C = C.to(dtype).contiguous()
    A = A.float().contiguous()
    D = D.float().contiguous() if D is not None else None
    delta_bias = delta_bias.float().contiguous() if delta_bias is not None else None
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias))
    if needs_grad:
        out, last_state = _SelectiveScanCuda.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    else:  # inference: call the kernel directly, no autograd node (a few microseconds of host time per call)
        out, chunk_states, *rest = _extension().fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        out = rest[0] if z is not None else out
        last_state = chunk_states[:, :, -1, 1::2]
    return (out, last_state) if return_last_state else out

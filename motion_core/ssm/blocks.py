"""Mamba blocks: the plain block, a bidirectional one (BSM) and a multi-branch one (HTM), each one scan call.

All three share `GroupedSSM`: k independent SSM paths (own depthwise conv, x/dt projections, A_log and D) whose
channels are folded into one (batch, k * d_inner, length) scan with B/C passed as k groups, so a block costs one scan
launch whatever k is. Paths differ only in what they read: k copies of the same sequence (MultiBranchMamba), or the
sequence and its time reversal (BidirectionalMamba).

Every block maps x (batch, length, d_model) -> (batch, length, d_model); batch rows never interact, so batching the
conditional and unconditional halves of classifier-free guidance gives the same numbers as running them apart.

Two paths, same parameters and maths: `forward` (training, GPU, and whenever a gradient is needed) works in the
scan's (batch, channels, length) layout and calls `selective_scan`; on CPU without gradients (generation) blocks take
`forward_time_major`, which keeps tensors (paths, batch, length, channels) from in_proj to out_proj, runs the
depthwise conv as shifted multiply-adds and calls `scan_blocked.scan_inference` (one exp2 per decay, reused buffers)
directly (tests compare both paths).

Parameter shapes and initialisation follow mamba-ssm's `Mamba` (d_state 16, d_conv 4, expand 2, dt_rank
ceil(d_model / 16), dt in [1e-3, 0.1] log-uniform through softplus^-1 of dt_proj's bias, S4D-real A_log = log(1..N),
D = 1), with a leading path axis on the per-path tensors.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from motion_core.ssm import fused_block
from motion_core.ssm.backends import choose_backend, selective_scan
from motion_core.ssm.scan_blocked import LOG2E, scan_inference, scan_time_major

AGGREGATIONS = ("concat_linear", "sum", "mean")


class GroupedSSM(nn.Module):
    """k SSM paths over k inputs of d_inner channels, scanned in one grouped call.

    forward(x (batch, k or 1, d_inner, length)) -> y (batch, k, d_inner, length), before gating and output projection.
    """

    def __init__(self, d_inner, paths, d_state=16, d_conv=4, dt_rank=16, dt_min=0.001, dt_max=0.1,
                 dt_init="random", dt_scale=1.0, dt_init_floor=1e-4, conv_bias=True, scan_backend=None,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.d_inner, self.paths, self.d_state, self.d_conv, self.dt_rank = d_inner, paths, d_state, d_conv, dt_rank
        self.scan_backend = scan_backend
        channels = paths * d_inner

        # Depthwise causal conv, all paths as one grouped conv1d; default Conv1d init (fan_in = d_conv).
        bound = 1.0 / math.sqrt(d_conv)
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, d_conv, **factory).uniform_(-bound, bound))
        self.conv_bias = (nn.Parameter(torch.empty(channels, **factory).uniform_(-bound, bound))
                          if conv_bias else None)

        # x_proj per path: d_inner -> dt_rank + 2 * d_state (no bias), nn.Linear's default init.
        bound = 1.0 / math.sqrt(d_inner)
        self.x_proj_weight = nn.Parameter(
            torch.empty(paths, d_inner, dt_rank + 2 * d_state, **factory).uniform_(-bound, bound))

        # dt_proj per path: weight scaled so dt starts near its target range; bias = softplus^-1(dt).
        std = dt_rank ** -0.5 * dt_scale
        weight = torch.empty(paths, dt_rank, d_inner, **factory)
        if dt_init == "constant":
            nn.init.constant_(weight, std)
        elif dt_init == "random":
            nn.init.uniform_(weight, -std, std)
        else:
            raise ValueError(f"dt_init must be 'random' or 'constant', got {dt_init!r}")
        self.dt_proj_weight = nn.Parameter(weight)
        dt = torch.exp(torch.rand(channels, **factory) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        self.dt_bias._no_reinit = True

        # S4D-real: A = -exp(A_log) = -(1..N) per channel; kept in float32 and out of weight decay.
        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device).repeat(channels, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(channels, device=device))
        self.D._no_weight_decay = True

    def _causal_conv(self, x):
        """Depthwise causal conv as a grouped conv1d (the training path). x (batch, paths or 1, d_inner, length)."""
        batch, _, d_inner, length = x.shape
        x = x.expand(batch, self.paths, d_inner, length).reshape(batch, self.paths * d_inner, length)
        x = F.conv1d(x, self.conv_weight, self.conv_bias, padding=self.d_conv - 1, groups=x.shape[1])[..., :length]
        return x.view(batch, self.paths, d_inner, length)

    def forward_time_major(self, inputs):
        """CPU inference path, same maths as `forward` on path-major, time-major tensors (no transposed copies).

        inputs: (paths, u) pairs, each a slice of the paths and what they read, u (1 or that many paths, batch,
        length, d_inner); together they cover every path once. Paths reading the same sequence (HTM's branches, or
        every other one when they alternate directions) share one u, broadcast by the conv instead of copied per path.
        Returns y (paths, batch, length, d_inner), D term included. The depthwise causal conv is d_conv shifted
        multiply-adds (oneDNN's grouped conv1d costs ~0.4 ms per call at these shapes: 4608 groups of 4 steps or 16
        groups of 256), and the projections are per-path matmuls that land directly in the scan's layout (paths
        leading, so the weights are never broadcast-copied over the batch).
        """
        paths, d_inner, taps, state = self.paths, self.d_inner, self.d_conv, self.d_state
        first = inputs[0][1]
        _, batch, length, _ = first.shape
        A, A2, A_min, weight = self._inference_constants()
        x = first.new_empty(paths, batch, length, d_inner, dtype=torch.promote_types(first.dtype, weight.dtype))
        for read, u in inputs:
            # out[t] = bias + sum_j w[j] * u[t - (taps - 1) + j]; w[j]: (paths read, 1, 1, d_inner); u is zero before
            # t = 0, so each earlier tap only adds to the steps it reaches (no padded copy of u)
            out, w = x[read], weight[:, read]
            if self.conv_bias is not None:
                torch.addcmul(self.conv_bias.view(paths, 1, 1, d_inner)[read], w[-1], u, out=out)
            else:
                torch.mul(w[-1], u, out=out)
            for j in range(taps - 1):
                shift = taps - 1 - j
                if shift < length:
                    out[:, :, shift:].addcmul_(w[j], u[:, :, :length - shift])
        x = F.silu(x, inplace=True)  # (paths, batch, length, d_inner)

        x_dbl = torch.bmm(x.view(paths, batch * length, d_inner), self.x_proj_weight)  # (paths, batch*length, R+2N)
        dt_low, B, C = x_dbl.view(paths, batch, length, -1).split([self.dt_rank, state, state], dim=-1)
        # dt_proj with its bias added by the matmul itself (beta = 1), not by a second pass over the result
        delta = torch.baddbmm(self.dt_bias.to(x_dbl.dtype).view(paths, 1, d_inner),
                              dt_low.reshape(paths, batch * length, self.dt_rank), self.dt_proj_weight)
        delta = F.softplus(delta.view(paths, batch, length, d_inner))
        if self.inference_scan == "blocked":
            y, _ = scan_time_major(delta, x, A, B, C, A_min=A_min)
        else:
            y, _ = scan_inference(delta, x, A2, B, C, A2_min=A_min * LOG2E)
        return y.addcmul_(self.D.float().view(paths, 1, 1, d_inner), x)

    # The scan forward_time_major calls: "inference" (scan_inference) or "blocked" (scan_time_major, the one it
    # replaced; kept for the generation benchmark's before/after figures).
    inference_scan = "inference"

    def _inference_constants(self):
        """Per-call constants of the inference path, cached while the parameters they come from are unchanged:
        A = -exp(A_log) and A * log2(e) (scan_inference's exp2 form) as (paths, state, d_inner), A's minimum, and the
        conv taps as contiguous (taps, paths, 1, 1, d_inner) (a strided view of conv_weight makes every conv
        multiply-add take TensorIterator's slow non-contiguous path: measured 3x slower at HTM's shapes).

        The cache key (version counter, storage, device of A_log and conv_weight) changes on any in-place update,
        load_state_dict or .to(), so training and reloading never see a stale constant.
        """
        key = tuple((p._version, p.data_ptr(), p.device) for p in (self.A_log, self.conv_weight))
        cached = getattr(self, "_inference_cache", None)
        if cached is None or cached[0] != key:
            A = -torch.exp(self.A_log.detach().float()).view(self.paths, self.d_inner, self.d_state)
            A = A.transpose(1, 2).contiguous()
            weight = self.conv_weight.detach().view(self.paths, self.d_inner, self.d_conv).permute(2, 0, 1)
            weight = weight.unsqueeze(2).unsqueeze(2).contiguous()  # (taps, paths, 1, 1, d_inner)
            cached = self._inference_cache = (key, A, A * LOG2E, float(A.min()), weight)
        return cached[1:]

    def forward(self, x):
        """x (batch, paths or 1, d_inner, length): one input per path, or one shared by all paths."""
        x_paths = F.silu(self._causal_conv(x))
        batch, paths, d_inner, length = x_paths.shape
        channels = paths * d_inner
        x = x_paths.reshape(batch, channels, length)

        # (paths, R + 2N, d_inner) @ (batch, paths, d_inner, length): one batched matmul for all paths, landing in
        # the (.., length)-last layout the scan reads, so B, C and delta need no transposed copies.
        x_dbl = torch.matmul(self.x_proj_weight.transpose(-1, -2), x_paths)  # (batch, paths, R + 2N, length)
        dt_low, B, C = x_dbl.split([self.dt_rank, self.d_state, self.d_state], dim=2)
        delta = torch.matmul(self.dt_proj_weight.transpose(-1, -2), dt_low)  # (batch, paths, d_inner, length)
        A = -torch.exp(self.A_log.float())
        y = selective_scan(x, delta.reshape(batch, channels, length), A, B, C, D=self.D.float(),
                           delta_bias=self.dt_bias.float(), delta_softplus=True, backend=self.scan_backend)
        return y.view(batch, paths, d_inner, length)


class _PathsBlock(nn.Module):
    """Shared shell: in_proj -> k paths -> aggregate -> gate with silu(z) -> out_proj."""

    def __init__(self, d_model, paths, aggregation, d_state=16, d_conv=4, expand=2, dt_rank="auto",
                 bias=False, scan_backend=None, device=None, dtype=None, **ssm_options):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.paths, self.aggregation = d_model, paths, aggregation
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.ssm = GroupedSSM(self.d_inner, paths, d_state=d_state, d_conv=d_conv, dt_rank=self.dt_rank,
                              scan_backend=scan_backend, **factory, **ssm_options)
        out_width = self.d_inner * (paths if aggregation == "concat_linear" else 1)
        self.out_proj = nn.Linear(out_width, d_model, bias=bias, **factory)

    def path_inputs(self, x):
        """x (batch, d_inner, length) -> (batch, paths or 1, d_inner, length); 1 when all paths read the same."""
        raise NotImplementedError

    def path_outputs(self, y):
        """Undo any per-path reordering: y (batch, paths, d_inner, length), same shape back."""
        return y

    def path_inputs_time_major(self, x):
        """x (batch, length, d_inner) -> [(paths, u)]: slices of the paths and the sequence each reads, u (1, batch,
        length, d_inner) (see GroupedSSM.forward_time_major)."""
        raise NotImplementedError

    def path_outputs_time_major(self, y):
        """Undo any per-path reordering: y (paths, batch, length, d_inner), same shape back."""
        return y

    def sum_paths_time_major(self, y):
        """The paths' outputs summed, reorderings undone: y (paths, batch, length, d_inner) -> (batch, length, d_inner)."""
        return self.path_outputs_time_major(y).sum(0)

    # The CPU inference path (forward_time_major) is used when no gradient is needed and the scan resolves to the
    # blocked backend; tests switch it off to compare against the reference path.
    fast_inference = True

    # Scan order, read by the fused CUDA path (fused_block): when `alternate`, odd paths read the rows from
    # `keep_prefix` on backwards; every path reads forwards otherwise.
    alternate = False
    keep_prefix = 0

    def _use_time_major(self, x):
        if not self.fast_inference or x.device.type != "cpu" or torch.is_grad_enabled():
            return False
        return choose_backend(x, self.ssm.scan_backend, state=self.ssm.d_state) == "blocked"

    def forward_time_major(self, x):
        """Inference path of `forward` (same maths, time-major throughout): x (batch, length, d_model) -> same."""
        x_in, z = self.in_proj(x).chunk(2, dim=-1)  # 2 x (batch, length, d_inner)
        y = self.ssm.forward_time_major(self.path_inputs_time_major(x_in))  # (paths, batch, length, d_inner)
        gate = F.silu(z)  # (batch, length, d_inner)
        if self.aggregation == "concat_linear":
            y = self.path_outputs_time_major(y) * gate
            y = y.permute(1, 2, 0, 3).flatten(2)  # (batch, length, paths * d_inner)
        else:
            y = self.sum_paths_time_major(y)  # (batch, length, d_inner), a new tensor
            if self.aggregation == "mean":
                y.div_(self.paths)
            y.mul_(gate)
        return self.out_proj(y)

    def forward(self, x):
        """x (batch, length, d_model) -> (batch, length, d_model)."""
        if self._use_time_major(x):
            return self.forward_time_major(x)
        if fused_block.usable(self, x):
            return fused_block.block_forward(self, x)
        xz = self.in_proj(x).transpose(1, 2)  # (batch, 2 * d_inner, length)
        x_in, z = xz.chunk(2, dim=1)
        y = self.path_outputs(self.ssm(self.path_inputs(x_in)))  # (batch, paths, d_inner, length)
        gate = F.silu(z)
        if self.aggregation == "concat_linear":
            y = (y * gate.unsqueeze(1)).flatten(1, 2)  # (batch, paths * d_inner, length)
        else:
            y = y.sum(1) if self.aggregation == "sum" else y.mean(1)
            y = y * gate
        return self.out_proj(y.transpose(1, 2))


class MultiBranchMamba(_PathsBlock):
    """k parallel SSM branches over the same input (Motion Mamba's HTM level), aggregated.

    Args:
        d_model: token width.  branches: k, the number of isolated SSM branches.
        aggregation: "concat_linear" (concatenate branches, one linear back to d_model), "sum" or "mean".
        directions: "forward" (every branch scans forward, the paper) or "alternate" (branches 1, 3, ... scan the
            sequence reversed, except its first `keep_prefix` positions, which stay in front: condition tokens are
            then read first in both directions).
        d_state, d_conv, expand, dt_rank, bias: as in mamba-ssm's Mamba.  scan_backend: see selective_scan.
    forward(x (batch, length, d_model)) -> (batch, length, d_model).
    """

    def __init__(self, d_model, branches=3, aggregation="concat_linear", directions="forward", keep_prefix=0,
                 **options):
        super().__init__(d_model, branches, aggregation, **options)
        if directions not in ("forward", "alternate"):
            raise ValueError(f"directions must be 'forward' or 'alternate', got {directions!r}")
        self.branches = branches
        self.alternate = directions == "alternate" and branches > 1
        self.keep_prefix = keep_prefix

    def _reverse(self, x, axis):
        """x with positions keep_prefix.. reversed along `axis` (its own inverse)."""
        head, tail = x.split([self.keep_prefix, x.shape[axis] - self.keep_prefix], dim=axis)
        return torch.cat([head, tail.flip(axis)], dim=axis)

    def _interleave(self, x, path_axis, axis):
        """Expand x over paths (at path_axis) with every odd path reversed along `axis`."""
        forward = x.unsqueeze(path_axis)
        backward = self._reverse(x, axis).unsqueeze(path_axis)
        return torch.cat([forward if p % 2 == 0 else backward for p in range(self.paths)], dim=path_axis)

    def _restore(self, y, path_axis, axis):
        """Undo _interleave's reversals: y with paths at path_axis, `axis` counted in one path's tensor."""
        return torch.stack([p if i % 2 == 0 else self._reverse(p, axis) for i, p in enumerate(y.unbind(path_axis))],
                           dim=path_axis)

    def path_inputs(self, x):
        if self.alternate:
            return self._interleave(x, 1, -1)
        return x.unsqueeze(1)  # (batch, 1, d_inner, length): every branch reads the same input

    def path_outputs(self, y):
        return self._restore(y, 1, -1) if self.alternate else y

    def path_inputs_time_major(self, x):
        if self.alternate:  # even branches read x (batch, length, d_inner), odd ones its reversal
            return [(slice(0, None, 2), x.unsqueeze(0)), (slice(1, None, 2), self._reverse(x, 1).unsqueeze(0))]
        return [(slice(None), x.unsqueeze(0))]

    def path_outputs_time_major(self, y):
        return self._restore(y, 0, 1) if self.alternate else y  # each path (batch, length, d_inner)

    def sum_paths_time_major(self, y):
        if self.alternate:  # reverse the odd paths' sum once instead of each odd path
            return y[0::2].sum(0) + self._reverse(y[1::2].sum(0), 1)
        return y.sum(0)


class MambaBlock(MultiBranchMamba):
    """The plain Mamba block (one SSM path). forward(x (batch, length, d_model)) -> (batch, length, d_model)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", **options):
        super().__init__(d_model, branches=1, aggregation="sum", d_state=d_state, d_conv=d_conv, expand=expand,
                         dt_rank=dt_rank, **options)


class BidirectionalMamba(_PathsBlock):
    """Forward and time-reversed scans with separate SSM parameters (Motion Mamba's BSM; Vim's bimamba v2).

    in_proj, the gate and out_proj are shared; each direction has its own conv, x/dt projections, A_log and D.
    The reversed path's output is flipped back before the paths are combined ("mean" = Vim v2's (y_f + y_b) / 2).
    forward(x (batch, length, d_model)) -> (batch, length, d_model).
    """

    alternate = True  # path 1 reads the whole sequence backwards (keep_prefix 0)

    def __init__(self, d_model, aggregation="mean", **options):
        super().__init__(d_model, 2, aggregation, **options)

    def path_inputs(self, x):
        return torch.stack([x, x.flip(-1)], dim=1)

    def path_outputs(self, y):
        return torch.stack([y[:, 0], y[:, 1].flip(-1)], dim=1)

    def path_inputs_time_major(self, x):
        return [(slice(0, 1), x.unsqueeze(0)), (slice(1, 2), x.flip(1).unsqueeze(0))]

    def path_outputs_time_major(self, y):
        return torch.stack([y[0], y[1].flip(1)])

    def sum_paths_time_major(self, y):
        return y[0] + y[1].flip(1)

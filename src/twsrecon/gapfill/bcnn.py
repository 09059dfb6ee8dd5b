"""Bayesian CNN gap filler of Mo et al. (2022): a CBAM encoder–decoder whose weights are a set of
SVGD particles (Zhu & Zabaras 2018), all particles evaluated as one computation.

Image regression: predictors x (B, n_x, H, W) at lags t−2, t−1, t (already normalised, finite) map
to one image, the detrended TWSA at t. The N_s particles are folded into the channel axis,
particle-major (channel p·C + c is channel c of particle p): every convolution is grouped with
`groups = N_s`, every BatchNorm2d runs over N_s·C channels, elementwise ops are shared. Each particle
therefore keeps its own weights, BatchNorm statistics and affine parameters, and the N_s networks
cost one set of kernel launches instead of N_s (the public BCNN4GRACE code loops over particles).

Because every parameter and buffer (except BatchNorm's shared `num_batches_tracked` counter) has the
particle as the leading block of its first axis, particle i is a plain slice: `particle_state` and
`load_particle_state` move it to and from an N_s = 1 network.

Its training by SVGD: `trainer`.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.stateless import _reparametrize_module  # functional_call's context-manager form

MULTIPLE = 8  # three stride-2 levels


def pad_to_multiple(x: torch.Tensor, m: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad the last two axes of x (B, C, H, W) up to multiples of m, by replicating the edge cells.

    Replicate rather than zero padding: a border of constant zeros (the predictors' mean) would be a
    false edge that the convolutions see next to real cells. The padding is split evenly (the odd
    cell at the bottom/right) so that no edge of the grid sits deeper in the padding than needed.
    Returns the padded tensor and pads = (left, right, top, bottom) for `crop`.
    """
    h, w = x.shape[-2:]
    dh, dw = -h % m, -w % m
    pads = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    if dh == 0 and dw == 0:
        return x, pads
    return F.pad(x, pads, mode="replicate"), pads


def crop(y: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo `pad_to_multiple` on the last two axes of y (any leading axes)."""
    left, right, top, bottom = pads
    h, w = y.shape[-2:]
    return y[..., top:h - bottom, left:w - right]


def _conv(n: int, c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n * c_in, n * c_out, k, stride=stride, padding=k // 2, groups=n)


def _cat(a: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate feature maps per particle: a plain torch.cat would put all of a's particles first."""
    bsz, _, h, w = a.shape
    return torch.cat([a.view(bsz, n, -1, h, w), b.view(bsz, n, -1, h, w)], 2).view(bsz, -1, h, w)


class ConvBNMish(nn.Sequential):
    """Conv (grouped per particle), BatchNorm, Mish."""

    def __init__(self, n: int, c_in: int, c_out: int, k: int = 3, stride: int = 1):
        super().__init__(_conv(n, c_in, c_out, k, stride), nn.BatchNorm2d(n * c_out), nn.Mish())


class UpBNMish(nn.Sequential):
    """Transposed conv doubling H and W exactly (kernel 4, stride 2, padding 1), BatchNorm, Mish."""

    def __init__(self, n: int, c: int):
        super().__init__(nn.ConvTranspose2d(n * c, n * c, 4, stride=2, padding=1, groups=n),
                         nn.BatchNorm2d(n * c), nn.Mish())


class ChannelAttention(nn.Module):
    """CBAM channel gate: a shared MLP (1x1 convs) on global average and max pools, summed, sigmoid."""

    def __init__(self, n: int, c: int, reduction: int):
        super().__init__()
        hidden = max(1, c // reduction)
        self.mlp = nn.Sequential(_conv(n, c, hidden, 1), nn.Mish(), _conv(n, hidden, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # max pools with indices: their backward is a scatter, amax's a slow tie-splitting mask sum
        pooled = torch.cat([F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)], 0)
        avg, mx = self.mlp(pooled).chunk(2, 0)  # one MLP call for both pools
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM spatial gate: a 7x7 conv over each particle's channel-mean and channel-max maps, sigmoid."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n
        self.conv = _conv(n, 2, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bsz, _, h, w = x.shape
        v = x.view(bsz, self.n, -1, h, w)
        maps = torch.cat([v.mean(2, keepdim=True), v.max(2, keepdim=True).values], 2).view(bsz, 2 * self.n, h, w)
        gate = torch.sigmoid(self.conv(maps)).unsqueeze(2)
        return (v * gate).view(bsz, -1, h, w)


class CBAMBlock(nn.Module):
    """Residual block with CBAM (Woo et al. 2018): conv-BN-Mish, conv-BN, channel then spatial
    attention, add the input, Mish."""

    def __init__(self, n: int, c: int, reduction: int):
        super().__init__()
        self.conv1 = ConvBNMish(n, c, c)
        self.conv2 = nn.Sequential(_conv(n, c, c, 3), nn.BatchNorm2d(n * c))
        self.channel = ChannelAttention(n, c, reduction)
        self.spatial = SpatialAttention(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.mish(x + self.spatial(self.channel(self.conv2(self.conv1(x)))))


class ParticleCBAMNet(nn.Module):
    """N_s CBAM encoder–decoders in one module; forward maps x (B, n_in, H, W) to (B, N_s, H, W).

    The published architecture (Mo et al. 2022): a stride-2 stem conv (H×W → H/2×W/2) and a CBAM
    block, then twice a stride-2 conv and a CBAM block (→ H/8×W/8): three stride-2 convolutions.
    Decoder: twice a transposed conv, concatenation with the encoder level of the same size, a 1x1
    fusing conv and a CBAM block (→ H/2×W/2); a third transposed conv back to H×W and a 1x1 conv to
    one channel. No CBAM block runs at full resolution, which is where the stored activations of an
    earlier full-resolution stem went (~5x the memory). Any H×W: the input is padded to multiples of
    8 (`pad_to_multiple`) and the output cropped back.

    The stem is a plain (ungrouped) conv from the n_in inputs to N_s·n_f channels: the same weights
    and result as a grouped conv on the input repeated N_s times, without storing that copy.

    `log_beta` (N_s,) is each particle's log noise precision: part of the particle (SVGD moves it with
    the weights) though forward does not use it. With `noise_shape` (H, W) it is one per pixel, (N_s, H, W):
    a desert and a rainforest then get intervals of their own width. Initialised to `log_beta_init`
    (0: noise variance 1, the spread of standardised targets, an uninformed start).

    Memory options (results equal within float tolerance): `group_size` evaluates the particles in
    groups one after the other (`groups`, `forward_group`; `SVGDTrainer.step` runs forward and backward
    per group, so only one group's activations are stored at a time); `checkpoint` recomputes each
    CBAM block's activations in the backward pass instead of storing them (train-mode BatchNorm then
    updates its running statistics twice per step, harmless here because `refresh_batchnorm`
    recomputes them before any prediction).
    """

    def __init__(self, n_particles: int, n_in: int, n_features: int = 48, reduction: int = 8,
                 seed: int = 0, log_beta_init: float = 0.0, group_size: int | None = None,
                 checkpoint: bool = False, noise_shape: tuple[int, int] | None = None):
        super().__init__()
        if min(n_particles, n_in, n_features, reduction) < 1:
            raise ValueError("n_particles, n_in, n_features and reduction must be positive")
        if group_size is not None and group_size < 1:
            raise ValueError(f"group_size must be positive, got {group_size}")
        n, f = n_particles, n_features
        self.n_particles, self.n_in, self.n_features, self.reduction = n, n_in, f, reduction
        self.log_beta_init = log_beta_init
        self.noise_shape = tuple(noise_shape) if noise_shape else ()
        self.group_size = n if group_size is None else min(int(group_size), n)
        self.checkpoint = checkpoint
        self.stem = nn.Sequential(nn.Conv2d(n_in, n * f, 3, stride=2, padding=1), nn.BatchNorm2d(n * f), nn.Mish())
        self.enc = nn.ModuleList(CBAMBlock(n, f, reduction) for _ in range(3))
        self.down = nn.ModuleList(ConvBNMish(n, f, f, 3, stride=2) for _ in range(2))
        self.up = nn.ModuleList(UpBNMish(n, f) for _ in range(3))
        self.fuse = nn.ModuleList(ConvBNMish(n, 2 * f, f, 1) for _ in range(2))
        self.dec = nn.ModuleList(CBAMBlock(n, f, reduction) for _ in range(2))
        self.head = _conv(n, f, 1, 1)
        self.log_beta = nn.Parameter(torch.zeros(n, *self.noise_shape))
        self._templates: dict[int, ParticleCBAMNet] = {}  # a plain dict: not registered as submodules
        self.initialise(seed)

    @torch.no_grad()
    def initialise(self, seed: int) -> None:
        """PyTorch's default init (uniform ±1/√fan_in for weights and biases, BatchNorm 1 and 0),
        drawn on the CPU from `seed` whatever the device: the same seed gives the same weights, and
        every particle's slice is an independent draw."""
        gen = torch.Generator().manual_seed(int(seed))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                # torch's fan-in, weight.shape[1]·k·k, is already per particle with groups = N_s
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                for p in (m.weight, m.bias):
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
        self.log_beta.fill_(self.log_beta_init)

    def _block(self, block: nn.Module, h: torch.Tensor) -> torch.Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(block, h, use_reentrant=False)
        return block(h)

    def _forward_all(self, x: torch.Tensor) -> torch.Tensor:
        n = self.n_particles
        xp, pads = pad_to_multiple(x)
        h = self._block(self.enc[0], self.stem(xp))
        skips = []
        for down, block in zip(self.down, self.enc[1:]):
            skips.append(h)
            h = self._block(block, down(h))
        for up, fuse, block in zip(self.up, self.fuse, self.dec):
            h = self._block(block, fuse(_cat(up(h), skips.pop(), n)))
        return crop(self.head(self.up[-1](h)), pads)

    def groups(self) -> list[tuple[int, int]]:
        """The particle ranges [start, stop) evaluated one after the other."""
        g = self.group_size
        return [(s, min(s + g, self.n_particles)) for s in range(0, self.n_particles, g)]

    def _template(self, size: int) -> "ParticleCBAMNet":
        if size not in self._templates:
            self._templates[size] = ParticleCBAMNet(size, self.n_in, self.n_features, self.reduction,
                                                    noise_shape=self.noise_shape or None)
        t = self._templates[size]
        t.checkpoint = self.checkpoint
        t.train(self.training)
        for mine, theirs in zip(self.modules(), t.modules()):
            if isinstance(mine, nn.BatchNorm2d):
                theirs.momentum = mine.momentum  # update_bn sets None (plain averages)
        return t

    @contextmanager
    def group_view(self, start: int, stop: int):
        """The network of particles start…stop−1, its parameters and buffers bound to views of this
        one's (gradients and BatchNorm statistics land here) for as long as the context lasts, so that
        a checkpointed backward recomputes with the same weights. BatchNorm's shared batch counters get
        copies: `_tick` advances them once per forward."""
        if start == 0 and stop == self.n_particles:
            yield self
            return
        n = self.n_particles
        state = {name: (t.clone() if t.dim() == 0 else _particle_view(t, n)[start:stop].flatten(0, 1))
                 for name, t in [*self.named_parameters(), *self.named_buffers()]}
        template = self._template(stop - start)
        with _reparametrize_module(template, state):
            yield template

    def forward_group(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Particles start…stop−1 only, (B, stop − start, H, W)."""
        with self.group_view(start, stop) as net:
            return net._forward_all(x)

    @torch.no_grad()
    def _tick(self) -> None:
        """Advance BatchNorm's batch counters once, as one all-particles forward in train mode would."""
        if self.training and self.group_size < self.n_particles:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d) and m.num_batches_tracked is not None:
                    m.num_batches_tracked.add_(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.n_in:
            raise ValueError(f"expected input (B, {self.n_in}, H, W), got {tuple(x.shape)}")
        if self.group_size >= self.n_particles:
            return self._forward_all(x)
        out = torch.cat([self.forward_group(x, a, b) for a, b in self.groups()], 1)
        self._tick()
        return out


def _particle_view(t: torch.Tensor, n: int) -> torch.Tensor:
    """(n, rows per particle, ...) view of a particle-major tensor."""
    return t.view(n, t.shape[0] // n, *t.shape[1:])


def particle_state(net: ParticleCBAMNet, i: int) -> dict[str, torch.Tensor]:
    """Particle i's parameters and buffers, as the state_dict of an N_s = 1 `ParticleCBAMNet`."""
    n = net.n_particles
    return {name: (t.clone() if t.dim() == 0 else _particle_view(t, n)[i].clone())
            for name, t in net.state_dict().items()}


@torch.no_grad()
def load_particle_state(net: ParticleCBAMNet, i: int, state: dict[str, torch.Tensor]) -> None:
    """Write one particle's state (e.g. from an N_s = 1 network) into particle i of `net`.
    The shared `num_batches_tracked` counters are left alone."""
    n = net.n_particles
    own = net.state_dict()
    if set(own) != set(state):
        raise KeyError(f"state does not match the network: {sorted(set(own) ^ set(state))[:5]}")
    for name, t in own.items():
        if t.dim() > 0:
            _particle_view(t, n)[i].copy_(state[name])

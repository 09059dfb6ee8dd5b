"""The BCNN core: the SVGD update by hand, masking of unobserved cells, padding, particles folded into
channels equal to separate networks, learning on a toy problem, seeding."""

import math

import numpy as np
import pytest
import torch

from twsrecon.gapfill.bcnn import ParticleCBAMNet, crop, load_particle_state, pad_to_multiple, particle_state
from twsrecon.gapfill.svgd import (log_gamma_prior_log_beta, log_student_t_prior, median_bandwidth, rbf_kernel,
                                   squared_distances, svgd_direction)
from twsrecon.gapfill.trainer import Priors, SVGDTrainer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: on a shared 2-core machine a second thread only adds OpenMP barrier stalls
    (seconds per step instead of milliseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_net(n_particles=3, n_in=4, seed=0) -> ParticleCBAMNet:
    return ParticleCBAMNet(n_particles, n_in, n_features=8, reduction=4, seed=seed)


def test_svgd_direction_matches_hand_computed_three_particles():
    theta = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    grad = np.array([[1.0, -1.0], [0.5, 0.0], [-1.0, 2.0]])
    # squared distances d01 = 1, d02 = 4, d12 = 5: median 4, h = 4 / log 3
    h = 4 / math.log(3)
    # k01 = 3^(-1/4), k02 = 1/3, k12 = 3^(-5/4)
    k = np.exp(-((theta[:, None] - theta[None]) ** 2).sum(-1) / h)
    np.testing.assert_allclose(k[0, 1:], [3 ** -0.25, 1 / 3])
    np.testing.assert_allclose(k[1, 2], 3 ** -1.25)
    expected = np.zeros_like(theta)
    for i in range(3):
        for j in range(3):  # k(θ_j, θ_i) ∇log p(θ_j) + ∇_{θ_j} k(θ_j, θ_i), ∇_a exp(-|a-b|²/h) = -2(a-b)/h k
            expected[i] += k[j, i] * grad[j] - 2 / h * (theta[j] - theta[i]) * k[j, i]
    expected /= 3
    # e.g. φ_0,x = (1 + 0.7598·0.5 − 1/3 − (2/h)·0.7598) / 3
    np.testing.assert_allclose(expected, [[0.2097340329, -0.2331791432],
                                          [0.5210223350, -0.1771778341],
                                          [-0.2263849520, 0.7703752345]], atol=1e-10)
    t = torch.tensor(theta, dtype=torch.float64)
    kern = rbf_kernel(t)
    assert kern.bandwidth == pytest.approx(h, rel=1e-12)
    phi = svgd_direction(t, torch.tensor(grad, dtype=torch.float64))
    np.testing.assert_allclose(phi.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_svgd_guards_and_priors():
    g = torch.tensor([[0.3, -2.0]])
    assert torch.equal(svgd_direction(torch.tensor([[1.0, 5.0]]), g), g)  # one particle: plain gradient ascent
    same = torch.ones(4, 3)
    assert median_bandwidth(squared_distances(same)) == 1.0
    phi = svgd_direction(same, torch.ones(4, 3))
    assert torch.allclose(phi, torch.ones(4, 3))  # coinciding particles: no repulsion, finite
    dup = torch.tensor([[0.0], [0.0], [0.0], [0.0], [2.0]])  # pair distances: six 0s, four 4s, median 0
    assert median_bandwidth(squared_distances(dup)) == pytest.approx(4 / math.log(5))  # mean of the 4s
    w = torch.tensor([0.0, math.sqrt(2 * 0.05)])
    assert torch.allclose(log_student_t_prior(w, 1.0, 0.05), torch.tensor([0.0, -1.5 * math.log(2)]))
    lb = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
    assert torch.allclose(log_gamma_prior_log_beta(lb, 2.0, 0.5), 2 * lb - 0.5 * torch.exp(lb))


def masked_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    b, h, w = 3, 13, 11
    x = torch.randn(b, 4, h, w, generator=gen)
    y = torch.randn(b, h, w, generator=gen)
    land = torch.ones(h, w, dtype=torch.bool)
    land[:, :4] = False  # ocean strip
    land[10:, 7:] = False
    mask = land.expand(b, h, w).clone()
    mask[1] = False  # a missing month
    return x, y, mask


def grads_and_terms(y, x, mask):
    net = small_net(seed=1)
    trainer = SVGDTrainer(net, n_train=30)
    terms = trainer.log_posterior(x, y, mask)
    terms["log_posterior"].sum().backward()
    return {k: v.detach() for k, v in terms.items()}, {n: p.grad.clone() for n, p in net.named_parameters()}


def test_masked_cells_change_neither_loss_nor_gradients():
    x, y, mask = masked_problem()
    terms, grads = grads_and_terms(y, x, mask)
    y_other = torch.where(mask, y, torch.tensor(1e6))
    y_other[~mask & (torch.arange(mask.numel()).view(mask.shape) % 2 == 0)] = float("nan")
    assert torch.isnan(y_other).any() and torch.isnan(y_other[1]).any()
    terms2, grads2 = grads_and_terms(y_other, x, mask)
    for k in terms:
        assert torch.equal(terms[k], terms2[k]), k
    for n in grads:
        assert torch.isfinite(grads2[n]).all(), n
        assert torch.equal(grads[n], grads2[n]), n
    # the log-likelihood is the Gaussian over observed cells, scaled by n_train / batch size
    pred, log_beta = terms["prediction"].numpy(), np.zeros(3)
    r = np.moveaxis((pred - y.numpy()[:, None]), 1, 0)[:, mask.numpy()]
    expected = 30 / 3 * (0.5 * mask.sum().item() * (log_beta - math.log(2 * math.pi)) - 0.5 * (r ** 2).sum(1))
    np.testing.assert_allclose(terms["log_likelihood"].numpy(), expected, rtol=1e-5)
    # an observed cell does count
    y_obs = y.clone()
    y_obs[0, 5, 5] += 1.0
    assert not torch.equal(grads_and_terms(y_obs, x, mask)[0]["log_likelihood"], terms["log_likelihood"])


def test_svgd_step_ignores_masked_targets():
    x, y, mask = masked_problem()
    y_nan = torch.where(mask, y, torch.tensor(float("nan")))
    nets = [small_net(seed=2), small_net(seed=2)]
    diags = [SVGDTrainer(net, n_train=30).step(x, t, mask) for net, t in zip(nets, (y, y_nan))]
    assert diags[0] == diags[1] and all(math.isfinite(v) for v in diags[1].values())
    for (n, a), b in zip(nets[0].state_dict().items(), nets[1].state_dict().values()):
        assert torch.equal(a, b), n


@pytest.mark.parametrize("hw", [(13, 27), (16, 24), (1, 1), (7, 9)])
def test_pad_crop_round_trip_and_output_size(hw):
    x = torch.randn(2, 3, *hw)
    xp, pads = pad_to_multiple(x)
    assert xp.shape[-2] % 8 == 0 and xp.shape[-1] % 8 == 0 and xp.shape[-2] >= hw[0] and xp.shape[-1] >= hw[1]
    assert torch.equal(crop(xp, pads), x)
    assert torch.equal(xp[..., pads[2], pads[0]:pads[0] + hw[1]], x[..., 0, :])  # replicated, not zeros, above
    if hw == (13, 27):
        assert xp.shape[-2:] == (16, 32)
        net = small_net(n_in=3)
        assert net(x).shape == (2, 3, 13, 27)


def test_vectorised_particles_equal_loop_of_single_networks():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 4, 13, 27, generator=gen)
    net = small_net(seed=3)
    net.train()
    net(torch.randn(4, 4, 13, 27, generator=gen) * 2 + 1)  # non-trivial running statistics
    singles = []
    for i in range(3):
        single = ParticleCBAMNet(1, 4, n_features=8, reduction=4, seed=99)
        load_particle_state(single, 0, particle_state(net, i))
        singles.append(single.train())
    out = net(x)
    out.square().sum().backward()
    for i, single in enumerate(singles):
        o = single(x)
        assert torch.allclose(out[:, i:i + 1], o, atol=1e-5), i
        o.square().sum().backward()
        for (name, p), ps in zip(net.named_parameters(), single.parameters()):
            if name == "log_beta":  # not used by forward
                continue
            g = p.grad.view(3, -1, *p.shape[1:])[i]
            assert torch.allclose(g, ps.grad, atol=1e-4, rtol=1e-4), (i, name)
        for (name, b), bs in zip(net.named_buffers(), single.buffers()):  # running stats updated alike
            if b.dim():
                assert torch.allclose(b.view(3, -1)[i], bs, atol=1e-6), (i, name)
    net.eval()
    with torch.no_grad():
        out = net(x)
        for i, single in enumerate(singles):
            assert torch.allclose(out[:, i:i + 1], single.eval()(x), atol=1e-5), i
    other = small_net(seed=4)  # a particle written back lands where it belongs
    load_particle_state(other, 2, particle_state(net, 0))
    for name, t in particle_state(other, 2).items():
        if t.dim():  # not the shared num_batches_tracked counters
            assert torch.equal(t, particle_state(net, 0)[name]), name
    untouched = particle_state(small_net(seed=4), 1)["stem.0.weight"]
    assert torch.equal(particle_state(other, 1)["stem.0.weight"], untouched)


def toy_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    b, h, w = 6, 12, 12
    x = torch.randn(b, 3, h, w, generator=gen)
    y = 0.8 * x[:, 0] - 0.5 * x[:, 2] + 0.3
    land = torch.ones(h, w, dtype=torch.bool)
    land[:3, :5] = False
    mask = land.expand(b, h, w).clone()
    mask[4] = False
    return x, torch.where(mask, y, torch.tensor(float("nan"))), mask


def masked_mse(mean, y, mask):
    return torch.where(mask, mean - torch.where(mask, y, 0.0), 0.0).square().sum().item() / mask.sum().item()


def test_svgd_steps_learn_a_toy_problem_and_variance_has_noise_term():
    torch.manual_seed(0)
    x, y, mask = toy_problem()
    net = ParticleCBAMNet(4, 3, n_features=8, reduction=4, seed=0)
    trainer = SVGDTrainer(net, n_train=6, lr=0.01, priors=Priors())
    trainer.refresh_batchnorm([x])
    before = masked_mse(trainer.predict(x)[0], y, mask)
    diags = [trainer.step(x, y, mask) for _ in range(15)]
    trainer.refresh_batchnorm([x])
    mean, var = trainer.predict(x)
    after = masked_mse(mean, y, mask)
    assert after < 0.1 * before, (before, after)
    assert diags[-1]["mse"] < 0.1 * diags[0]["mse"]
    assert (var > 0).all()
    noise = torch.exp(-net.log_beta.detach()).mean()
    with torch.no_grad():
        spread = net.eval()(x).var(1, correction=0)
    assert spread.max() > 0
    assert torch.allclose(var, spread + noise, rtol=1e-6, atol=1e-7)
    assert (var >= noise).all()


def test_same_seed_same_weights_and_first_step():
    a, b, c = small_net(seed=11), small_net(seed=11), small_net(seed=12)
    for (n, ta), tb, tc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(ta, tb), n
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    w = a.stem[0].weight.view(3, -1)
    assert not torch.equal(w[0], w[1])  # particles drawn independently
    x, y, mask = masked_problem()
    da, db = SVGDTrainer(a, n_train=9).step(x, y, mask), SVGDTrainer(b, n_train=9).step(x, y, mask)
    assert da == db
    for (n, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(ta, tb), n


@pytest.mark.parametrize("checkpoint", [False, True])
def test_particles_in_groups_equal_all_at_once(checkpoint):
    """Same seed: SVGD steps with the particles run in groups of 2 (and 1 left over) give the weights,
    BatchNorm statistics, diagnostics and predictions of the all-particles computation."""
    x, y, mask = masked_problem()
    whole = ParticleCBAMNet(5, 4, n_features=8, reduction=4, seed=7)
    grouped = ParticleCBAMNet(5, 4, n_features=8, reduction=4, seed=7, group_size=2, checkpoint=checkpoint)
    assert grouped.groups() == [(0, 2), (2, 4), (4, 5)]
    trainers = [SVGDTrainer(net, n_train=9) for net in (whole, grouped)]
    for _ in range(3):
        da, db = (t.step(x, y, mask) for t in trainers)
        for k in da:
            assert da[k] == pytest.approx(db[k], rel=1e-5), k
    for t in trainers:
        t.refresh_batchnorm([x, x * 0.5])
    for (name, a), b in zip(whole.state_dict().items(), grouped.state_dict().values()):
        if not checkpoint or "running" not in name:  # checkpointing re-runs train-mode BatchNorm
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name
    (ma, va), (mb, vb) = (t.predict(x) for t in trainers)
    assert torch.allclose(ma, mb, rtol=1e-4, atol=1e-5) and torch.allclose(va, vb, rtol=1e-4, atol=1e-5)
    assert not any(n.startswith("_templates") for n, _ in grouped.named_parameters())


def test_noise_precision_per_pixel_and_latitude_weighted_likelihood():
    """With one β per pixel and cos(latitude) weights the log-likelihood is Σ over observed (b, h, w) of
    w_h [½ log β_ih − ½ log 2π − ½ β_ih r²] (n_train / B scaled); the predictive noise is the pixel's own."""
    from twsrecon.gapfill.experiment import latitude_weights

    x, y, mask = masked_problem()
    h, w = mask.shape[1:]
    net = ParticleCBAMNet(3, 4, n_features=8, reduction=4, seed=1, noise_shape=(h, w))
    assert net.log_beta.shape == (3, h, w)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        net.log_beta.copy_(torch.randn(3, h, w, generator=gen))
    lat_w = latitude_weights(np.linspace(60, 0, h), w)
    assert lat_w.mean() == pytest.approx(1.0) and lat_w[0, 0] < lat_w[-1, 0]
    trainer = SVGDTrainer(net, n_train=30, pixel_weights=torch.tensor(lat_w, dtype=torch.float32))
    terms = trainer.log_posterior(x, y, mask)
    pred, lb, m = terms["prediction"].detach().numpy(), net.log_beta.detach().numpy(), mask.numpy()
    r2 = (pred - y.numpy()[:, None]) ** 2  # (B, n, H, W)
    per_pixel = 0.5 * (lb[None] - math.log(2 * math.pi)) - 0.5 * np.exp(lb)[None] * r2
    expected = 30 / 3 * (np.where(m[:, None], per_pixel, 0.0) * lat_w).sum((0, 2, 3))
    np.testing.assert_allclose(terms["log_likelihood"].detach().numpy(), expected, rtol=1e-4)
    # the Gamma prior counts every pixel's β
    expected_prior = (2.0 * lb - 1e-6 * np.exp(lb)).reshape(3, -1).sum(1)
    np.testing.assert_allclose(terms["log_prior_beta"].detach().numpy(), expected_prior, rtol=1e-5)
    trainer.refresh_batchnorm([x])
    _, var = trainer.predict(x)
    with torch.no_grad():
        spread = net.eval()(x).var(1, correction=0)
    np.testing.assert_allclose(var.numpy(), (spread + torch.exp(-net.log_beta.detach()).mean(0)).numpy(), rtol=1e-5)
    # particle groups see their own slice of the per-pixel β
    grouped = ParticleCBAMNet(3, 4, n_features=8, reduction=4, seed=1, noise_shape=(h, w), group_size=2)
    grouped.load_state_dict(net.state_dict())
    g_trainer = SVGDTrainer(grouped, n_train=30, pixel_weights=torch.tensor(lat_w, dtype=torch.float32))
    g_terms = g_trainer.log_posterior(x, y, mask)
    np.testing.assert_allclose(g_terms["log_likelihood"].detach().numpy(), expected, rtol=1e-4)
    g_trainer.step(x, y, mask)  # runs group by group with the per-pixel β

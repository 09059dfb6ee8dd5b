"""The batched trainer: independent models, same result as alone, real LSTM vs BiLSTM."""

import numpy as np
import pytest
import torch

from twsrecon.reconstruction.models import BatchedRegressor, select_models
from twsrecon.reconstruction.training import TrainSettings, predict, sample_order, train


def toy_cells(n_cells=3, n=60, window=4, n_feat=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_cells, n + window, n_feat))
    y = np.stack([np.convolve(x[c, :, 0], np.ones(window) / window, "valid")[:-1] * (c + 1) for c in range(n_cells)])
    xw = np.stack([np.stack([x[c, t:t + window] for t in range(n)]) for c in range(n_cells)])
    return torch.tensor(xw, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def split_masks(n_models, n, seed=0):
    rng = np.random.default_rng(seed)
    train = rng.random((n_models, n)) < 0.6
    val = ~train & (rng.random((n_models, n)) < 0.5)
    return train, val


@pytest.mark.parametrize("bidirectional", [False, True])
def test_batched_training_equals_training_each_model_alone(bidirectional):
    torch.manual_seed(0)
    x, y = toy_cells()
    cell_of_model = np.array([0, 1, 2, 2])  # two fits of cell 2
    seeds = np.array([11, 12, 13, 14])
    train_mask, val_mask = split_masks(4, x.shape[1])
    train_mask[0, 30:] = False  # different sample counts per model
    lr = np.array([0.01, 0.02, 0.01, 0.005])
    settings = TrainSettings(epochs=25, patience=3, batch_size=8)
    batched = BatchedRegressor(4, 3, 5, (4,), bidirectional)
    batched.initialise(seeds)
    init = {k: v.detach().clone() for k, v in batched.named_parameters()}
    res = train(batched, x, y, cell_of_model, train_mask, val_mask, lr, seeds, settings)
    assert len(set(res.epochs_run)) > 1  # models stopped at different epochs
    for m in range(4):
        alone = BatchedRegressor(1, 3, 5, (4,), bidirectional)
        alone.load_selected(select_models(init, [m]))
        r1 = train(alone, x, y, cell_of_model[m:m + 1], train_mask[m:m + 1], val_mask[m:m + 1], lr[m:m + 1],
                   seeds[m:m + 1], settings)
        assert r1.best_epoch[0] == res.best_epoch[m] and r1.epochs_run[0] == res.epochs_run[m]
        for name, p in alone.named_parameters():
            np.testing.assert_allclose(p.detach().numpy(), batched.select([m])[name].numpy(), rtol=1e-4, atol=1e-5)


def test_training_learns_and_restores_best_epoch():
    x, y = toy_cells(n_cells=1, n=120)
    train_mask, val_mask = split_masks(1, 120, seed=1)
    model = BatchedRegressor(1, 3, 8, (8,), False)
    model.initialise([1])
    before = np.mean((predict(model, x, [0])[0] - y[0].numpy()) ** 2)
    res = train(model, x, y, [0], train_mask, val_mask, 0.01, [1], TrainSettings(epochs=60, patience=60, batch_size=16))
    pred = predict(model, x, [0])[0]
    val_mse = np.mean((pred[val_mask[0]] - y[0].numpy()[val_mask[0]]) ** 2)
    assert val_mse == pytest.approx(res.best_val_loss[0], rel=1e-4)  # the weights are the best epoch's
    assert val_mse < 0.5 * before


def test_lstm_and_bilstm_differ_in_structure_and_output():
    x, _ = toy_cells(n_cells=1)
    uni = BatchedRegressor(1, 3, 6, (5,), bidirectional=False)
    bi = BatchedRegressor(1, 3, 6, (5,), bidirectional=True)
    uni.initialise([3])
    bi.initialise([3])
    assert bi.w_ih.shape[0] == 2 and uni.w_ih.shape[0] == 1
    assert bi.dense_w[0].shape[-1] == 12 and uni.dense_w[0].shape[-1] == 6
    # Same forward weights: the backward direction still changes the output.
    with torch.no_grad():
        bi.w_ih[0] = uni.w_ih[0]
        bi.w_hh[0] = uni.w_hh[0]
        bi.b[0] = uni.b[0]
    assert not np.allclose(predict(uni, x, [0]), predict(bi, x, [0]))
    # The backward LSTM adds a second set of recurrent weights.
    assert sum(p.numel() for p in bi.parameters()) > sum(p.numel() for p in uni.parameters())


def test_fresh_initialisation_per_fit_and_order_per_seed():
    m = BatchedRegressor(2, 3, 4, (), False)
    m.initialise([1, 2])
    assert not torch.allclose(m.w_ih[0, 0], m.w_ih[0, 1])
    usable = np.ones((2, 10), bool)
    a = sample_order(np.array([5, 5]), 0, usable)
    assert (a[0] == a[1]).all() and not (a[0] == sample_order(np.array([5]), 1, usable[:1])[0]).all()


def test_faithful_switches_keep_the_last_epoch_and_the_time_order():
    """restore_best=False ends with the last epoch's weights (Keras without restore_best_weights);
    shuffle=False trains in time order, so the model's seed no longer changes its minibatches."""
    x, y = toy_cells(n_cells=1, n=120)
    train_mask, val_mask = split_masks(1, 120, seed=1)

    def fit(seed_order, **switches):
        model = BatchedRegressor(1, 3, 8, (8,), False)
        model.initialise([1])  # the same initial weights every time
        res = train(model, x, y, [0], train_mask, val_mask, 0.05, [seed_order],
                    TrainSettings(epochs=30, patience=4, batch_size=16, **switches))
        pred = predict(model, x, [0])[0]
        return res, np.mean((pred[val_mask[0]] - y[0].numpy()[val_mask[0]]) ** 2), pred

    best, best_mse, _ = fit(1)
    last, last_mse, _ = fit(1, restore_best=False)
    assert last.epochs_run[0] == best.epochs_run[0] and best.best_epoch[0] < last.epochs_run[0] - 1
    assert last.best_epoch[0] == last.epochs_run[0] - 1
    assert last_mse == pytest.approx(last.best_val_loss[0], rel=1e-4)  # the loss of the weights it kept
    assert best_mse < last_mse  # it stopped because later epochs were worse
    _, _, shuffled_a = fit(1)
    _, _, shuffled_b = fit(2)
    assert not np.allclose(shuffled_a, shuffled_b)  # reshuffled per seed
    _, _, ordered_a = fit(1, shuffle=False)
    _, _, ordered_b = fit(2, shuffle=False)
    np.testing.assert_allclose(ordered_a, ordered_b, rtol=1e-6)  # time order: the seed plays no part
    assert not np.allclose(ordered_a, shuffled_a)


def test_compaction_does_not_change_results():
    """Models that stopped early leave the batch (compaction): same weights, epochs and losses as keeping
    them, with the best epoch's weights restored or the last epoch's kept."""
    x, y = toy_cells(n_cells=3, n=60)
    cell_of_model = np.array([0, 1, 2, 2, 1, 0])
    seeds = np.arange(6) + 21
    train_mask, val_mask = split_masks(6, x.shape[1], seed=3)
    lr = np.array([0.03, 0.01, 0.02, 0.005, 0.05, 0.01])
    for restore_best in (True, False):
        results, params = [], []
        for compact in (False, True):
            model = BatchedRegressor(6, 3, 5, (4,), False)
            model.initialise(seeds)
            settings = TrainSettings(epochs=30, patience=2, batch_size=8, compact=compact, restore_best=restore_best)
            seen = []
            results.append(train(model, x, y, cell_of_model, train_mask, val_mask, lr, seeds, settings,
                                 on_epoch=lambda e, v: seen.append(v.copy())))
            params.append({k: v.detach().clone() for k, v in model.named_parameters()})
            results[-1].seen = np.array(seen)
        a, b = results
        assert len(set(a.epochs_run)) > 2  # models stop at different epochs: the batch shrinks
        np.testing.assert_array_equal(a.epochs_run, b.epochs_run)
        np.testing.assert_array_equal(a.best_epoch, b.best_epoch)
        np.testing.assert_allclose(a.best_val_loss, b.best_val_loss, rtol=1e-5)
        np.testing.assert_allclose(a.seen, b.seen, rtol=1e-5)
        for name in params[0]:
            torch.testing.assert_close(params[0][name], params[1][name], rtol=1e-5, atol=1e-6)


def test_time_order_lists_usable_samples_first():
    usable = np.array([[True, False, True, True]])
    assert sample_order(np.array([3]), 5, usable, shuffle=False)[0, :3].tolist() == [0, 2, 3]


def test_training_job_logs_progress(caplog):
    x, y = toy_cells(n_cells=2, n=40)
    train_mask, val_mask = split_masks(2, 40)
    model = BatchedRegressor(2, 3, 4, (), False)
    model.initialise([1, 2])
    with caplog.at_level("INFO", logger="twsrecon.reconstruction.training"):
        train(model, x, y, [0, 1], train_mask, val_mask, 0.01, [1, 2], TrainSettings(epochs=5, patience=5),
              progress="chunk 0")
    lines = [r.getMessage() for r in caplog.records if r.name == "twsrecon.reconstruction.training"]
    assert lines[0].startswith("chunk 0: epoch 1/5, models running 2, done 0, median best validation loss")
    assert "elapsed 0:00:0" in lines[-1] and lines[-1].startswith("chunk 0: epoch 5/5")
    assert len(lines) == 2  # not one per epoch: the first, then at most one a minute, and the last

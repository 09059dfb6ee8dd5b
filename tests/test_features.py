import numpy as np
import pytest

from twsrecon.features import TEST, TRAIN, VAL, RobustScaler, chunked_split, reference, windows


def test_windows_exclude_or_include_the_target_month():
    x = np.arange(10, dtype=float)[:, None] * np.array([1.0, 10.0])  # (time, features)
    w = windows(x, 3, include_current=False)
    assert w.shape == (10, 3, 2)
    np.testing.assert_array_equal(w[5, :, 0], [2, 3, 4])  # t-3..t-1
    assert np.isnan(w[2]).any() and np.isfinite(w[3]).all()
    w = windows(x, 3, include_current=True)
    np.testing.assert_array_equal(w[5, :, 1], [30, 40, 50])  # t-2..t
    assert np.isnan(w[1]).any() and np.isfinite(w[2]).all()


def test_chunked_split_proportions_chunks_and_seed():
    available = np.ones(240, bool)
    available[[50, 51, 120]] = False
    flags = chunked_split(available, window=6, seed=42)
    assert set(np.unique(flags[available])) == {TRAIN, VAL, TEST}
    assert (flags[~available] == 0).all()
    share = np.bincount(flags[available], minlength=4)[1:] / available.sum()
    np.testing.assert_allclose(share, [0.6, 0.2, 0.2], atol=0.05)
    # chunks: every run of one flag inside a run of available months is at least window+1 long
    idx = np.flatnonzero(available)
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        f = flags[run]
        lengths = np.diff(np.flatnonzero(np.r_[True, f[1:] != f[:-1], True]))
        assert lengths.min() >= 7
    np.testing.assert_array_equal(flags, chunked_split(available, 6, 42))  # same seed, same split
    assert not np.array_equal(flags, chunked_split(available, 6, 43))


def test_robust_scaler_round_trip_and_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, (4, 200, 2))
    sc = RobustScaler.fit(x, axis=1)
    assert sc.center.shape == (4, 1, 2)
    z = sc.transform(x)
    np.testing.assert_allclose(np.median(z, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(sc.inverse(z), x)
    const = RobustScaler.fit(np.ones((10, 1)), axis=0)
    assert const.scale.ravel()[0] == 1.0
    twsa = np.array([[np.nan, 2.0, 3.0], [5.0, np.nan, 1.0]])
    np.testing.assert_array_equal(reference(twsa), [2.0, 5.0])


@pytest.mark.parametrize("window", [3, 24])
def test_split_of_short_runs(window):
    available = np.zeros(100, bool)
    available[10:14] = True
    flags = chunked_split(available, window, 1)
    assert len(np.unique(flags[available])) == 1  # one short run: one chunk


def test_prepare_scaling_and_rereferencing_round_trip():
    from twsrecon.reconstruction import prepare

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 120, 4)) * [1, 10, 100, 1000]
    twsa = rng.normal(size=(3, 120)).cumsum(1) + 50
    twsa[:, :30] = np.nan
    prep = prepare(x, twsa, window=6, seed=42)
    np.testing.assert_allclose(prep.offset, twsa[:, 30])
    back = prep.y_scaler.inverse(prep.y.astype(float)) + prep.offset[:, None]
    np.testing.assert_allclose(back, twsa, rtol=1e-5, equal_nan=True)
    train = prep.flags == TRAIN
    # Scalers are fit on the training part only: its windows have median 0 per feature.
    med = np.nanmedian(np.where(train[..., None, None], prep.x, np.nan).reshape(3, -1, 4), axis=1)
    np.testing.assert_allclose(med, 0, atol=1e-5)
    again = prepare(x, twsa, window=6, seed=7, flags=prep.flags)  # stored flags are reused, not redrawn
    np.testing.assert_array_equal(again.flags, prep.flags)

"""Many series in one forecaster: panel layouts (2-D arrays, wide and long data frames),
one network per series that fits exactly as the series would alone, pooled backtests,
long-format results, updates and persistence."""

import time

import numpy as np
import pytest

from tagi_lstm.forecast import Forecaster, HybridForecaster
from tagi_lstm.forecast.panel import as_panel

N, T = 3, 96


def _panel():
    """``(T, N)`` monthly series, the second starting 18 months late (NaN-padded)."""
    rng = np.random.default_rng(4)
    t = np.arange(T)
    y = np.stack([5 * k + np.sin(2 * np.pi * t / 12 + k) + rng.normal(0, 0.1, T)
                  for k in range(N)], axis=1)
    y[:18, 1] = np.nan
    dates = np.arange("2000-01", "2008-01", dtype="datetime64[M]").astype("datetime64[s]")
    return y, dates


def _small(kind=Forecaster, **extra):
    if kind is Forecaster:
        return Forecaster(lookback=12, hidden_size=4, seed=3, **extra)
    return HybridForecaster(lookback=12, hidden_size=3, season=12, seed=3, **extra)


@pytest.fixture(scope="module")
def fitted():
    y, dates = _panel()
    return _small().fit(y, dates=dates, epochs=3, progress=False), y, dates


@pytest.mark.parametrize("kind, extra", [(Forecaster, {}), (HybridForecaster, {}),
                                         (Forecaster, {"transform": "sqrt"})])
def test_each_series_fits_exactly_as_it_would_alone(kind, extra):
    y, dates = _panel()
    y = y + 2.0  # the square root needs non-negative values

    def make():
        return _small(kind, **extra)

    panel = make().fit(y, dates=dates, epochs=3, progress=False)
    fc = panel.forecast(6)
    assert fc.mean.shape == fc.std.shape == (6, N)
    for j in range(N):
        first = 18 if j == 1 else 0
        alone = make().fit(y[first:, j], dates=dates[first:], epochs=3, progress=False)
        one = alone.forecast(6)
        np.testing.assert_array_equal(fc[j].mean, one.mean)
        np.testing.assert_array_equal(fc[j].std, one.std)
        np.testing.assert_array_equal(fc[j].index, one.index)
        np.testing.assert_array_equal(fc[j].interval(0.9), one.interval(0.9))
    # the pooled backtest keeps each series' distribution (a transformed one's intervals
    # are not the Gaussian of its moments)
    bt = panel.backtest(y, 6, dates=dates, start=60, stride=6)
    rows = [panel.panel_[j].backtest(y[18 if j == 1 else 0:, j], 6,
                                     dates=dates[18 if j == 1 else 0:], start=60, stride=6)
            for j in range(N)]
    assert (bt.distribution is None) == ("transform" not in extra)
    np.testing.assert_array_equal(bt.interval(0.9),
                                  np.concatenate([r.interval(0.9) for r in rows], axis=1))


def test_wide_and_long_frames_are_the_same_panel(fitted):
    pd = pytest.importorskip("pandas")
    model, y, dates = fitted
    names = ["a", "b", "c"]
    wide = pd.DataFrame(y, index=pd.DatetimeIndex(dates), columns=names)
    long = wide.reset_index(names="ds").melt(id_vars="ds", var_name="unique_id",
                                             value_name="y").dropna()
    long = long.sample(frac=1.0, random_state=0)  # any row order
    for frame in (wide, long):
        series = as_panel(frame, where="test")
        assert [s.id for s in series] == names
        for j, s in enumerate(series):
            first = 18 if j == 1 else 0
            np.testing.assert_array_equal(s.y, y[first:, j])
            np.testing.assert_array_equal(s.dates.astype("datetime64[s]"), dates[first:])
    by_frame = _small().fit(long, epochs=3, progress=False).forecast(4)
    np.testing.assert_array_equal(by_frame["b"].mean, model.forecast(4)[1].mean)


def test_long_results_and_pooled_backtests(fitted):
    pd = pytest.importorskip("pandas")
    model, y, dates = fitted
    table = model.forecast(4).to_pandas()
    assert list(table.columns[:4]) == ["unique_id", "ds", "mean", "std"]
    assert len(table) == 4 * N and table["unique_id"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert (table["ds"].iloc[:4] == pd.date_range("2008-01-01", periods=4, freq="MS")).all()
    bt = model.backtest(y, 6, dates=dates, start=60, stride=6)
    rows = []
    for j in range(N):
        first = 18 if j == 1 else 0
        rows.append(model.panel_[j].backtest(y[first:, j], 6, dates=dates[first:], start=60,
                                             stride=6))
    np.testing.assert_array_equal(bt.mean, np.concatenate([r.mean for r in rows]))
    np.testing.assert_array_equal(bt.series, np.repeat(np.arange(N),
                                                       [len(r.origins) for r in rows]))
    pooled = bt.scores()["crps"]
    assert pooled.shape == (6,) and np.isfinite(pooled).all()


def test_panel_forecasts_plot_as_small_multiples(fitted):
    """PanelForecast.plot draws each chosen series' forecast in its own axes after the
    last ``tail`` observed steps of its history (read in any panel form), one legend for
    all, the axes left over hidden; unknown series are named."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    model, y, dates = fitted
    fc = model.forecast(6)
    axes = fc.plot(y, dates=dates, ncols=2, tail=10)
    assert axes.shape == (2, 2)
    flat = axes.ravel()
    assert [ax.get_title() for ax in flat[:3]] == [str(i) for i in fc.ids]
    assert not flat[3].get_visible()
    for j in range(N):  # history first, the forecast's mean last
        history, mean = flat[j].lines[0], flat[j].lines[-1]
        np.testing.assert_array_equal(history.get_ydata(), y[-10:, j])
        np.testing.assert_array_equal(history.get_xdata(), dates[-10:])
        np.testing.assert_array_equal(mean.get_ydata(), fc.mean[:, j])
    assert flat[0].get_legend() is not None and flat[1].get_legend() is None
    alone = fc.plot(ids=[fc.ids[2]])  # no history: the forecast only, in one axes
    assert alone.shape == (1, 1) and len(alone[0, 0].lines) == 1
    with pytest.raises(ValueError, match="no series to draw"):
        fc.plot(ids=[])
    with pytest.raises(ValueError, match="ncols"):
        fc.plot(ncols=0)
    with pytest.raises(KeyError, match="no series"):
        fc.plot(ids=["nope"])
    with pytest.raises(ValueError, match="history has no series"):
        fc.plot({"x": y[:, 0]}, ids=[fc.ids[0]])


def test_update_and_save_follow_each_series(fitted, tmp_path):
    model, y, dates = fitted
    model.save(tmp_path / "panel.npz")
    back = Forecaster.load(tmp_path / "panel.npz")
    assert list(back.panel_) == [0, 1, 2]
    np.testing.assert_array_equal(back.forecast(5).mean, model.forecast(5).mean)
    new = y[-2:] + 0.3
    new_dates = np.array(["2008-01-01", "2008-02-01"], dtype="datetime64[s]")
    seen = back.update(new, dates_new=new_dates)
    assert seen.mean.shape == (2, N)
    alone = Forecaster.load(tmp_path / "panel.npz").panel_[2]
    alone.update(new[:, 2], dates_new=new_dates)
    np.testing.assert_array_equal(back.forecast(3)[2].mean, alone.forecast(3).mean)


def test_panel_errors_name_what_is_wrong(fitted):
    pd = pytest.importorskip("pandas")
    model, y, dates = fitted
    with pytest.raises(ValueError, match="covariates"):
        _small().fit(y, covariates=np.ones((T, 1)), progress=False)
    with pytest.raises(ValueError, match="no observed value"):
        _small().fit(np.full((10, 2), np.nan), progress=False)
    long = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2000-01-01"] * 2, "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="two rows"):
        _small().fit(long, progress=False)
    with pytest.raises(ValueError, match="not in the panel"):
        model.forecast(3, y=np.ones((30, 5)))
    with pytest.raises(ValueError, match="own dates"):
        _small().fit(pd.DataFrame(y), dates=dates, progress=False)
    with pytest.raises(KeyError, match="no series"):
        model.forecast(2)["zzz"]
    ragged = model.predict(y, dates=dates)
    with pytest.raises(ValueError, match="steps"):
        _ = ragged.mean


def test_a_dask_cluster_fits_the_same_panel(capsys, monkeypatch):
    """Two worker processes fit the series; the forecasts equal the in-process fit's, and
    the progress bar redraws when series finish, not at every poll of the workers."""
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed "
                                      "(pip install 'tagi_lstm[distributed]')")
    y, dates = _panel()
    here = _small().fit(y, dates=dates, epochs=3, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        monkeypatch.setattr("tagi_lstm.forecast.base.PROGRESS_POLL", 0.01)  # many polls
        capsys.readouterr()
        start = time.perf_counter()
        there = _small().fit(y, dates=dates, epochs=3, progress=True, client=client)
        seconds = time.perf_counter() - start
    bar = capsys.readouterr().err
    # one draw when the bar opens, at most one per series finished, one when it closes
    # (and tqdm's monitor may redraw a bar idle for 10 s)
    assert bar.count("\r") <= y.shape[1] + 2 + seconds // 10, (bar.count("\r"), seconds)
    assert f"{y.shape[1]}/{y.shape[1]}" in bar
    a, b = here.forecast(6), there.forecast(6)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    with pytest.raises(ValueError, match="one series"):
        _small().fit(y[:, 0], client=object(), progress=False)


@pytest.mark.parametrize("kind", [Forecaster, HybridForecaster])
def test_a_block_of_series_reports_each_one_it_finishes(kind):
    """What a Dask worker runs: its block's series fitted together, each one put on the
    progress queue as it finishes (so the client's bar moves per series)."""
    from tagi_lstm.forecast.base import _fit_block
    from tagi_lstm.forecast.panel import as_panel

    class Queue:
        def __init__(self):
            self.items = []

        def put(self, n):
            self.items.append(n)

    y, dates = _panel()
    fit = {"validation": 0.2, "epochs": 2, "patience": 5, "refit": "retrain"}
    if kind is Forecaster:
        fit.update(shuffle=True, calibrate=False)
    queue = Queue()
    fitted = _fit_block(kind, _small(kind)._config(), as_panel(y, dates, where="test"), fit,
                        queue)
    assert queue.items == [1] * N and len(fitted) == N


def test_validation_may_be_a_number_of_steps():
    y, dates = _panel()
    by_steps = _small().fit(y[:, 0], validation=12, epochs=3, progress=False)
    by_fraction = _small().fit(y[:, 0], validation=12 / T, epochs=3, progress=False)
    np.testing.assert_array_equal(by_steps.forecast(3).mean, by_fraction.forecast(3).mean)
    with pytest.raises(ValueError, match="nothing to train on"):
        _small().fit(y[:, 0], validation=T, progress=False)


def test_global_mode_trains_one_network_for_every_series(tmp_path):
    y, dates = _panel()
    model = Forecaster(lookback=12, hidden_size=4, seed=3, mode="global").fit(
        y, dates=dates, epochs=3, progress=False)
    shells = list(model.panel_.values())
    assert all(s.members_ is shells[0].members_ for s in shells)
    # each series keeps its own scale: the series sit 5 apart, their forecasts too
    fc = model.forecast(6)
    assert fc.mean.shape == (6, N)
    np.testing.assert_allclose(np.diff(fc.mean.mean(axis=0)), 5, atol=1.0)
    # the shared network is what each series forecasts with: the same as a local
    # forecaster of that series given the shared members
    one = _small()
    one._scale, one.members_ = shells[2]._scale, shells[2].members_
    one._num_covariates, one._diff = 0, shells[2]._diff
    np.testing.assert_array_equal(one.forecast(6, y=y[:, 2]).mean, fc[2].mean)
    # saved and loaded, the series share one ensemble again
    model.save(tmp_path / "g.npz")
    back = Forecaster.load(tmp_path / "g.npz")
    loaded = list(back.panel_.values())
    assert back.mode == "global" and all(s.members_ is loaded[0].members_ for s in loaded)
    np.testing.assert_array_equal(back.forecast(6).mean, fc.mean)
    # an update of one series moves the others' forecasts (one network)
    before = back.forecast(3)[0].mean
    back.update({2: y[-3:, 2] + 1.0},
                dates_new={2: np.array(["2008-01-01", "2008-02-01", "2008-03-01"],
                                       dtype="datetime64[s]")})
    assert not np.array_equal(back.forecast(3)[0].mean, before)
    with pytest.raises(ValueError, match="mode"):
        Forecaster(mode="pooled")


def test_what_takes_one_series_says_so_for_a_panel(fitted):
    from tagi_lstm.forecast import Combination

    model, y, _ = fitted
    with pytest.raises(ValueError, match="one series"):
        Forecaster.auto(y, mode="local", progress=False)
    single = _small().fit(y[:, 0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="all to the same panel of series"):
        Combination([model, single])
    other = _small().fit(y[:, :2], epochs=1, progress=False)
    with pytest.raises(ValueError, match="the same ids"):
        Combination([model, other])


def test_forecasters_of_one_panel_combine_series_by_series(tmp_path):
    from tagi_lstm.forecast import Combination

    y, dates = _panel()
    y = y + 10.0  # the square root needs non-negative values
    model = _small().fit(y, dates=dates, epochs=2, progress=False)  # local networks
    other = Forecaster(lookback=6, hidden_size=4, seed=1, mode="global",
                       transform="sqrt").fit(y, dates=dates, epochs=2, progress=False)
    combo = Combination([model, other], first_step=[1], later_steps=[0, 1])
    assert list(combo.panel_) == [0, 1, 2]
    fc = combo.forecast(4)
    for j in range(N):
        alone = Combination([model.panel_[j], other.panel_[j]], first_step=[1],
                            later_steps=[0, 1]).forecast(4)
        np.testing.assert_array_equal(fc[j].mean, alone.mean)
        np.testing.assert_array_equal(fc[j].std, alone.std)
        np.testing.assert_array_equal(fc[j].interval(0.9), alone.interval(0.9))
    assert fc.mean.shape == (4, N)
    bt = combo.backtest(y, 6, dates=dates, start=60, stride=6)
    rows = [Combination([model.panel_[j], other.panel_[j]], first_step=[1],
                        later_steps=[0, 1]).backtest(
        y[18 if j == 1 else 0:, j], 6, dates=dates[18 if j == 1 else 0:], start=60, stride=6)
        for j in range(N)]
    np.testing.assert_array_equal(bt.mean, np.concatenate([r.mean for r in rows]))
    np.testing.assert_array_equal(bt.interval(0.9),
                                  np.concatenate([r.interval(0.9) for r in rows], axis=1))
    combo.save(tmp_path / "combo.npz")
    back = Combination.load(tmp_path / "combo.npz")
    assert (back.first_step, back.later_steps, list(back.panel_)) == ([1], [0, 1], [0, 1, 2])
    np.testing.assert_array_equal(back.forecast(4).mean, fc.mean)
    new = y[-2:] + 0.3
    new_dates = np.array(["2008-01-01", "2008-02-01"], dtype="datetime64[s]")
    seen = back.update(new, dates_new=new_dates)
    assert seen.mean.shape == (2, N)
    parts = [Forecaster.load(tmp_path / "combo.npz").models[k] for k in (0, 1)]
    for k, part in enumerate(parts):  # each forecaster learned from the new steps
        part.update(new, dates_new=new_dates)
        np.testing.assert_array_equal(back.models[k].forecast(3).mean, part.forecast(3).mean)


def test_auto_chooses_a_global_panels_settings_on_the_series_ends():
    from tagi_lstm import metric

    y, dates = _panel()
    model = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=2, epochs=3,
                            hidden_size=4, progress=False)
    assert model.mode == "global" and len(model.panel_) == N
    tried = [row["settings"] for row in model.auto_]
    grid = [{"lookback": 12, "seasonal_difference": False},
            {"lookback": 12, "seasonal_difference": True},
            {"lookback": 24, "seasonal_difference": False},
            {"lookback": 24, "seasonal_difference": True}]
    # then the grid's best with a second LSTM layer (the panel has negative values: no sqrt)
    best_grid = min(model.auto_[:4], key=lambda row: row["crps"])["settings"]
    assert tried == grid + [{**best_grid, "num_layers": 2}]
    best = min(model.auto_, key=lambda row: row["crps"])
    assert model.auto_settings_ == best["settings"]
    assert model.lookback == best["settings"]["lookback"]
    assert model.num_layers == best["settings"].get("num_layers", 1)
    # a candidate's score by hand: fitted without the last 6 steps, scaled CRPS of them
    inner = {j: (y[18:-6, j] if j == 1 else y[:-6, j]) for j in range(N)}
    inner_dates = {j: (dates[18:-6] if j == 1 else dates[:-6]) for j in range(N)}
    again = Forecaster(lookback=12, seasonal_difference=True, season=12, hidden_size=4,
                       mode="global", seed=0).fit(inner, dates=inner_dates, epochs=3,
                                                  progress=False).forecast(6)
    scale = np.array([np.mean(np.abs(np.diff(inner[j]))) for j in range(N)])
    held = y[-6:]
    expected = metric.crps(again.mean / scale, held / scale, again.std / scale)
    assert model.auto_[1]["crps"] == pytest.approx(expected, rel=1e-12)
    deeper = Forecaster(**best_grid, num_layers=2, season=12, hidden_size=4, mode="global",
                        seed=0).fit(inner, dates=inner_dates, epochs=3,
                                    progress=False).forecast(6)
    expected = metric.crps(deeper.mean / scale, held / scale, deeper.std / scale)
    assert model.auto_[4]["crps"] == pytest.approx(expected, rel=1e-12)
    assert model.forecast(6).mean.shape == (6, N)
    # the depth given: no deeper candidate
    given = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=1, epochs=1,
                            hidden_size=4, progress=False, num_layers=1)
    assert [row["settings"] for row in given.auto_] == grid


def test_auto_tries_the_square_root_on_the_best_of_a_non_negative_panels_grid():
    y, dates = _panel()
    y = y + 2.0  # no negative values
    model = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=1, epochs=2,
                            hidden_size=4, progress=False)
    grid, root, deeper = model.auto_[:4], model.auto_[4], model.auto_[5]
    assert [r["settings"].get("transform") for r in model.auto_[:5]] == [None] * 4 + ["sqrt"]
    best = min(grid, key=lambda r: r["crps"])
    assert root["settings"] == {**best["settings"], "transform": "sqrt"}
    # the depth is tried on the best so far, with or without the square root
    best = min(model.auto_[:5], key=lambda r: r["crps"])
    assert deeper["settings"] == {**best["settings"], "num_layers": 2}
    chosen = min(model.auto_, key=lambda r: r["crps"])["settings"]
    assert model.auto_settings_ == chosen and model.transform == chosen.get("transform")
    # the same with a transform given: no square root is tried
    given = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=1, epochs=1,
                            hidden_size=4, progress=False, transform="log")
    assert [r["settings"].get("num_layers") for r in given.auto_] == [None] * 4 + [2]
    assert given.transform == "log"


@pytest.mark.parametrize("start", [56, 60])
def test_auto_leaves_a_series_too_short_for_a_candidate_out_of_its_comparison(start):
    from tagi_lstm import metric

    y, dates = _panel()
    y[:start, 1] = np.nan  # 40 or 36 steps; 34 or 30 once the last 6 are held out
    model = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=1, epochs=2,
                            hidden_size=4, progress=False, num_layers=1)  # the grid alone
    rows = {(r["settings"]["lookback"], r["settings"]["seasonal_difference"]): r
            for r in model.auto_}
    assert len(rows) == 4 and not any("left_out" in rows[12, sd] for sd in (False, True))
    last = rows[24, True]  # a window of 24 + 12 (differencing) + 1 = 37 steps
    assert last["left_out"] == 1
    if start == 60:  # not even the whole series holds a window: no candidate
        assert last["crps"] == np.inf and "too short" in last["error"]
        common = [0, 1, 2]
    else:  # fitted without series 1; every candidate compared on series 0 and 2
        assert np.isfinite(last["crps"])
        common = [0, 2]
    # scores by hand, on the series every fitted candidate forecast
    inner = {j: y[start:-6, j] if j == 1 else y[:-6, j] for j in range(N)}
    inner_dates = {j: dates[start:-6] if j == 1 else dates[:-6] for j in range(N)}
    scale = np.array([np.mean(np.abs(np.diff(inner[j]))) for j in common])
    held = y[-6:, common]
    for (lookback, sd), row in rows.items():
        if not np.isfinite(row["crps"]):
            continue
        keep = [j for j in range(N) if len(inner[j]) > lookback + 12 * sd]
        fc = Forecaster(lookback=lookback, seasonal_difference=sd, season=12, hidden_size=4,
                        mode="global", seed=0).fit(
            {j: inner[j] for j in keep}, dates={j: inner_dates[j] for j in keep}, epochs=2,
            progress=False).forecast(6)
        cols = [keep.index(j) for j in common]
        expected = metric.crps(fc.mean[:, cols] / scale, held / scale, fc.std[:, cols] / scale)
        assert row["crps"] == pytest.approx(expected, rel=1e-12)


def test_a_hybrid_panel_backtests_updates_and_saves(tmp_path):
    y, dates = _panel()
    model = _small(HybridForecaster).fit(y, dates=dates, epochs=2, progress=False)
    bt = model.backtest(y, 4, dates=dates, start=60, stride=8)
    alone = model.panel_[2].backtest(y[:, 2], 4, dates=dates, start=60, stride=8)
    np.testing.assert_array_equal(bt.mean[bt.series == 2], alone.mean)
    pred = model.predict(y, dates=dates)
    np.testing.assert_array_equal(pred[0].mean, model.panel_[0].predict(y[:, 0]).mean)
    model.save(tmp_path / "h.npz")
    back = HybridForecaster.load(tmp_path / "h.npz")
    new_dates = np.array(["2008-01-01"], dtype="datetime64[s]")
    a = model.update(y[-1:] + 0.2, dates_new=new_dates)
    b = back.update(y[-1:] + 0.2, dates_new=new_dates)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(model.forecast(3).mean, back.forecast(3).mean)


def test_a_damaged_panel_file_is_named(fitted, tmp_path):
    import json

    from tagi_lstm.forecast.combination import load_any

    model, _, _ = fitted
    model.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as data:
        arrays = {k: data[k] for k in data.files}
    for header in ({"kind": "Combination", "config": {}, "ids": []}, {"kind": "Forecaster"},
                   ["not", "a", "header"]):
        arrays["__panel__"] = np.array(json.dumps(header))
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(ValueError, match="is not a saved forecaster"):
            load_any(tmp_path / "bad.npz", "test")


def _two_kinds(n=6, steps=150):
    """Half the series follow ``z_t = 0.9 z_{t-1} + e_t``, half ``z_t = -0.9 z_{t-1} + e_t``:
    from one step of history only the kind tells the next value's sign."""
    rng = np.random.default_rng(7)
    y = np.zeros((steps, n))
    phi = np.where(np.arange(n) % 2 == 0, 0.9, -0.9)
    for t in range(1, steps):
        y[t] = phi * y[t - 1] + rng.normal(0, 1, n)
    return y, (phi > 0).astype(float)


def test_static_covariates_tell_a_global_models_series_apart(tmp_path):
    y, kind = _two_kinds()
    train, test = y[:120], y[120:]
    make = lambda: Forecaster(lookback=1, hidden_size=8, mode="global", seed=0)  # noqa: E731
    plain = make().fit(train, epochs=20, progress=False)
    static = {j: [kind[j]] for j in range(y.shape[1])}
    told = make().fit(train, epochs=20, progress=False, static=static)
    assert told.panel_[0].static_.shape == (1,)
    assert told.panel_[0].members_[0].net.layers[0].input_size == 2  # the series, its kind
    # one-step forecasts of the test part: only the kind tells the sign of the next value
    errors = {}
    for name, model in (("plain", plain), ("told", told)):
        pred = model.predict(y)
        errors[name] = np.sqrt(np.mean((pred.mean[-len(test):] - test) ** 2))
    assert errors["told"] < 0.75 * errors["plain"], errors
    # the covariates follow each series into a file, and the same array works as a dict
    told.save(tmp_path / "told.npz")
    again = Forecaster.load(tmp_path / "told.npz")
    np.testing.assert_array_equal(again.forecast(3).mean, told.forecast(3).mean)
    by_array = make().fit(train, epochs=2, progress=False, static=kind)
    by_dict = make().fit(train, epochs=2, progress=False, static=static)
    np.testing.assert_array_equal(by_array.forecast(3).mean, by_dict.forecast(3).mean)


def test_static_covariate_errors_name_what_is_wrong():
    y, kind = _two_kinds(n=4, steps=40)
    with pytest.raises(ValueError, match="mode='global'"):
        Forecaster(lookback=2).fit(y, static=kind, progress=False)
    with pytest.raises(ValueError, match="one series"):
        Forecaster(lookback=2, mode="global").fit(y[:, 0], static=kind[:1], progress=False)
    with pytest.raises(ValueError, match=r"\(4, k\); got shape \(3, 1\)"):
        Forecaster(lookback=2, mode="global").fit(y, static=kind[:3], progress=False)
    with pytest.raises(ValueError, match=r"no entry for series \[3\]"):
        Forecaster(lookback=2, mode="global").fit(y, static={0: 1, 1: 1, 2: 0},
                                                  progress=False)
    with pytest.raises(ValueError, match="finite"):
        Forecaster(lookback=2, mode="global").fit(y, static=[1, np.nan, 0, 1],
                                                  progress=False)
    with pytest.raises(ValueError, match="one series"):
        Forecaster.auto(y[:, 0], static=kind[:1], progress=False)


def test_auto_gives_a_panels_static_covariates_to_every_candidate(monkeypatch):
    y, kind = _two_kinds(n=4, steps=60)
    given = []
    fit = Forecaster.fit

    def spy(self, *args, **kwargs):
        given.append(kwargs.get("static") is not None)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Forecaster, "fit", spy)
    model = Forecaster.auto(y, horizon=4, ensemble=1, epochs=2, hidden_size=4,
                            progress=False, static=kind)
    assert model.mode == "global" and all(np.isfinite(r["crps"]) for r in model.auto_)
    assert len(given) == len(model.auto_) + 1 and all(given)  # the candidates, the final fit
    told = [model.panel_[j].static_[0] for j in range(4)]
    assert told[0] == told[2] > told[1] == told[3]  # standardised over the panel


def test_the_panel_search_combines_candidates_whose_mixture_forecasts_the_ends_better():
    """Two candidates erring by half a unit on either side of every held-out step, a
    third and a fourth far off: the equal mixture of the first two is centred, so the
    forward selection takes both, and no more (the others are not within reach)."""
    from types import SimpleNamespace

    from tagi_lstm import metric
    from tagi_lstm.forecast import mixture_moments
    from tagi_lstm.forecast.auto import panel_search

    y, dates = _panel()
    series = as_panel(y, dates, where="test")
    held = np.stack([s.y[-6:] for s in series], axis=1)
    offsets = {(12, False): -0.5, (12, True): 0.52, (24, False): 3.0, (24, True): -3.0}

    class Fake:
        min_history = 0

        def __init__(self, lookback, seasonal_difference):
            self.offset = offsets[lookback, seasonal_difference]

        def fit(self, panel, **_):
            return self

        def forecast(self, horizon):
            return SimpleNamespace(mean=held + self.offset, std=np.full(held.shape, 0.3))

    search = {"horizon": 6, "season": 12, "epochs": 1, "patience": 1, "validation": 0.2,
              "progress": False}
    chosen, report = panel_search(Fake, series, combine=3, **search)
    assert chosen == [{"lookback": 12, "seasonal_difference": False},
                      {"lookback": 12, "seasonal_difference": True}]
    assert report[-1]["stage"] == "panel combination"
    scale = np.array([np.nanmean(np.abs(np.diff(s.y[:-6]))) for s in series])
    mean, var = mixture_moments(np.stack([(held + o) / scale for o in (-0.5, 0.52)]),
                                np.full((2, *held.shape), 0.3) ** 2 / scale ** 2)
    assert report[-1]["crps"] == pytest.approx(metric.crps(mean, held / scale, np.sqrt(var)),
                                               rel=1e-12)
    assert report[-1]["crps"] < min(r["crps"] for r in report[:-1])
    alone, report = panel_search(Fake, series, combine=1, **search)
    assert alone == chosen[:1] and all(r["stage"] == "panel" for r in report)


def test_auto_returns_the_combination_of_the_panel_candidates_chosen(monkeypatch):
    from tagi_lstm.forecast import Combination, auto

    picks = [{"lookback": 12, "seasonal_difference": False},
             {"lookback": 6, "seasonal_difference": False, "transform": "sqrt"}]
    monkeypatch.setattr(auto, "panel_search", lambda *a, **k: (picks, [{"stage": "x"}]))
    y, dates = _panel()
    y = y + 10.0
    model = Forecaster.auto(y, dates=dates, season=12, horizon=6, ensemble=2, epochs=2,
                            hidden_size=4, progress=False)
    assert isinstance(model, Combination) and model.auto_settings_ == picks
    for part, settings in zip(model.models, picks):
        assert part.mode == "global" and part.ensemble == 2 and part.hidden_size == 4
        assert (part.lookback, part.transform) == (settings["lookback"],
                                                    settings.get("transform"))
    by_hand = Forecaster(lookback=12, season=12, hidden_size=4, mode="global", ensemble=2,
                         seed=0).fit(y, dates=dates, epochs=2, progress=False)
    np.testing.assert_array_equal(model.models[0].forecast(3).mean, by_hand.forecast(3).mean)
    assert model.forecast(3).mean.shape == (3, N)

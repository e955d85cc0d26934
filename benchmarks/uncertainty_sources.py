"""Where the Forecaster's forecast uncertainty comes from, measured on real series.

For each chosen series of :mod:`forecast_peers` (same data, same train/test split, same
forecast origins and stride) ONE forecaster, with the settings of :data:`SETTINGS`, is
fitted on the training part (early stopping on its own last 20 %, no refit, no
calibration, seed 0). Then, from every test origin and without refitting:

1. Horizon study. Recursive forecasts of ``H`` steps by each propagation method
   (``diagonal``: TAGI's forward pass carries the fed-back variances; ``linearized``: the
   full covariance of the fed-back forecasts, delta method; ``samples``: Monte Carlo sample
   paths, :data:`NUM_SAMPLES` per origin). Per horizon step ``h``: the realised error
   variance (mean squared error over the origins), the mean predicted variance, their ratio
   (1 = calibrated on average, > 1 = intervals too narrow), a robust version (median
   squared standardised error / 0.455, its median for a calibrated Gaussian), 50 % and
   90 % coverage and the mean 90 % width; and the ratio of the linearized to the
   sample-path standard deviation. The diagonal and linearized methods are also scored
   from origins in the validation tail of the training part (forecasts that end before
   the test part): there the one-step variance is about right, so what goes wrong with the
   horizon is the propagation's doing.
2. Sources. ``Forecaster.variance_sources`` at the same origins, averaged over them, per
   step, in the standardised units of the modelled series (the differences for ``co2``):
   weight uncertainty (``parameters``), observation noise (``noise``), uncertainty of the
   forecasts read back as inputs with their full covariance (``fed_back``), and what two
   diagonal propagations keep of that last part: ``fed_back_diagonal`` (the covariances
   between the fed-back forecasts dropped: ``J diag(Sigma) J^T``) and ``fed_back_tagi``
   (TAGI's forward pass given ``diag(Sigma)`` as input variances, which also treats the
   paths one input takes through the network as independent); the last two also as the
   median over the origins of each origin's ratio to ``fed_back`` (robust to the few
   origins whose recursion runs away).
3. One step. ``Forecaster.predict`` over the whole series: the ratio realised RMSE / RMS
   predicted standard deviation (``sqrt(mean err^2 / mean var)``, 1 = calibrated) and the
   90 % coverage on the training part proper, its held-out validation tail and the test
   part, with the mean parameter and noise variances of each part.
4. Remedies. The same backtest (linearized) with the library's remedies: per-horizon
   calibration on the validation tail (``fit(calibrate=H)``), online learning from the
   test steps before each origin (``backtest(online=True)``), both, and an ensemble of
   :data:`ENSEMBLE` members (``--no-remedies`` skips them).
5. Epochs (one series, :data:`EPOCH_SERIES`). For each number of epochs in
   :data:`EPOCHS` a forecaster is trained on the training part proper (the first 80 % of
   the training part, the part early stopping trains on) for exactly that many epochs
   (``validation=0``: no early stopping, the last epoch is kept), seeds
   :data:`EPOCH_SEEDS`; reported: the mean one-step parameter and noise variances
   (original units squared) and the one-step 90 % coverage on the training part proper,
   the validation tail and the test part (mean over the seeds).

Outputs (``--output``, default ``docs/_static/uncertainty``): ``summary.md`` (tables),
``summary.json`` (every per-step figure), ``<series>.png`` (coverage, width, variance by
source and what the diagonal propagations keep, against the horizon) and
``epochs_<series>.png``. Progress goes to stderr.

Usage::

    PYTHONPATH=. python benchmarks/uncertainty_sources.py [--series elnino,sunspots,co2,taylor]
        [--output docs/_static/uncertainty] [--samples-scale 1.0] [--no-remedies]
        [--no-epochs]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import ndtri

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from forecast_peers import SERIES, environment, load_series

from tagi_lstm.forecast import Forecaster

# ------------------------------------------------------------------------ settings
#: The forecaster of every series (lookback: two seasons, at least 8, at most 96 steps,
#: as in forecast_peers).
SETTINGS = {"hidden_size": 16, "noise": "heteroscedastic", "difference": False, "calendar": (),
                "linear": False, "ensemble": 1, "seed": 0}
#: Per-series changes to :data:`SETTINGS` (co2 has a trend: model first differences, and
#: give the network the day of the year).
SERIES_SETTINGS = {"co2": {"difference": True, "calendar": ("dayofyear",)}}
#: How every forecaster is fitted.
FIT = {"validation": 0.2, "epochs": 50, "patience": 5, "refit": False, "calibrate": False}
#: Sample paths per origin for method "samples" (the long series get fewer: their paths
#: cost lookback 96 windows per step).
NUM_SAMPLES = {"default": 1000, "co2": 200, "taylor": 200}
METHODS = ("diagonal", "linearized", "samples")
#: Members of the ensemble remedy.
ENSEMBLE = 5
EPOCH_SERIES = "elnino"
EPOCHS = (1, 2, 5, 10, 20, 40)
EPOCH_SEEDS = (0, 1, 2)
DEFAULT_SERIES = ("elnino", "sunspots", "co2", "taylor")
SOURCES = ("parameters", "noise", "fed_back", "fed_back_diagonal", "fed_back_tagi")
Z90 = float(ndtri(0.95))
#: Median of a chi-square variable with one degree of freedom: the median squared
#: standardised error of a calibrated Gaussian forecast.
CHI2_MEDIAN = float(ndtri(0.75) ** 2)


def lookback_for(season: int) -> int:
    return max(8, min(2 * season, 96))


def settings_for(name: str) -> dict:
    season = SERIES[name].season
    return {"lookback": lookback_for(season), **SETTINGS, **SERIES_SETTINGS.get(name, {}),
            "season": season}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ studies
def fit(name, series) -> tuple:
    """The forecaster of ``name`` fitted on the training part, and its fit settings."""
    settings = settings_for(name)
    model = Forecaster(**settings)
    n = series.n_train
    model.fit(series.y[:n], dates=series.dates[:n], progress=False, **FIT)
    return model, settings


def split_of(n_train: int) -> int:
    """Steps of the training part proper (``fit`` holds out the rest for early stopping)."""
    return n_train - round(FIT["validation"] * n_train)


def one_step(model, series) -> dict:
    """One-step forecasts of every step; figures per part (train proper, validation, test)."""
    fc = model.predict(series.y, dates=series.dates)
    pos = np.arange(len(series.y))[-len(fc.mean):]
    obs = series.y[pos]
    n_fit = split_of(series.n_train)
    parts = {"train": pos < n_fit, "validation": (pos >= n_fit) & (pos < series.n_train),
             "test": pos >= series.n_train}
    out = {}
    for part, keep in parts.items():
        keep = keep & ~np.isnan(obs)
        err2 = (obs[keep] - fc.mean[keep]) ** 2
        var = fc.std[keep] ** 2
        out[part] = {"n": int(keep.sum()), "rmse": float(np.sqrt(err2.mean())),
                     "rms_sd": float(np.sqrt(var.mean())),
                     "ratio": float(np.sqrt(err2.mean() / var.mean())),
                     "coverage_90": float(np.mean(np.sqrt(err2) <= Z90 * fc.std[keep])),
                     "parameters": float(fc.components["parameters"][keep].mean()),
                     "noise": float(fc.components["noise"][keep].mean())}
    return out


def validation_origins(model, series) -> np.ndarray:
    """Origins in the held-out validation tail of the training part (forecasts that end
    before the test part), at most 50, evenly strided as forecast_peers places them."""
    H = series.spec.horizon
    low = max(split_of(series.n_train), model.lookback + model._diff.lost)
    high = series.n_train - H
    if high < low:
        return np.zeros(0, dtype=int)
    stride = max(1, int(np.ceil((high - low + 1) / 50)))
    return np.arange(low, high + 1, stride)


def error_and_predicted_variance(bt):
    """Per horizon step, over the origins with an observation: the mean squared error and
    the mean predicted variance of a backtest (their ratio is 1 for a right variance)."""
    seen = ~np.isnan(bt.observed)
    mse = np.nanmean(np.where(seen, (bt.observed - bt.mean) ** 2, np.nan), axis=0)
    return mse, np.nanmean(np.where(seen, bt.std ** 2, np.nan), axis=0)


def horizon_study(model, series, num_samples: int, origins=None,
                  methods=METHODS, quiet=False) -> dict:
    """Backtests from the test origins (or ``origins``) by each method, scored per step."""
    H = series.spec.horizon
    origins = series.origins if origins is None else origins
    out, stds = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        bt = model.backtest(series.y, H, dates=series.dates, origins=origins,
                            method=method, num_samples=num_samples)
        seconds = time.perf_counter() - t0
        sc = bt.scores(levels=(0.5, 0.9))
        mse, pred = error_and_predicted_variance(bt)
        seen = ~np.isnan(bt.observed)
        z2 = np.where(seen, (bt.observed - bt.mean) ** 2 / bt.std ** 2, np.nan)
        rec = {"mse": mse, "predicted_var": pred, "ratio": mse / pred,
               "robust_ratio": np.nanmedian(z2, axis=0) / CHI2_MEDIAN,
               "coverage_50": sc["coverage_50"], "coverage_90": sc["coverage_90"],
               "width_90": sc["width_90"], "crps": sc["crps"], "seconds": seconds}
        if method == "linearized":
            rec["components"] = {k: np.nanmean(np.where(seen, v, np.nan), axis=0)
                                 for k, v in bt.components.items()}
        out[method] = rec
        stds[method] = bt.std
        if not quiet:
            log(f"    {method:10s} {seconds:6.1f} s  coverage_90 h=1 {sc['coverage_90'][0]:.2f}"
            f"  h={H} {sc['coverage_90'][-1]:.2f}  variance ratio h=1 {rec['ratio'][0]:.2f}"
            f"  h={H} {rec['ratio'][-1]:.2f}")
    if "samples" in stds:
        out["sd_linearized_over_samples"] = np.mean(stds["linearized"] / stds["samples"],
                                                    axis=0)
    return out


def sources_study(model, series) -> dict:
    """``variance_sources`` per step: means over the origins (standardised units), and the
    medians over the origins of what each diagonal propagation keeps of ``fed_back`` and of
    the fed-back share (robust to the few origins whose recursion runs away)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vs = model.variance_sources(series.y, series.spec.horizon, series.origins,
                                    dates=series.dates)
    vs = {k: np.asarray(vs[k], dtype=np.float64) for k in SOURCES}
    bad = ~np.isfinite(vs["fed_back_tagi"])
    out = {k: np.nanmean(np.where(np.isfinite(v), v, np.nan), axis=0) for k, v in vs.items()}
    fb = np.where(vs["fed_back"] > 0, vs["fed_back"], np.nan)
    total = vs["parameters"] + vs["noise"] + vs["fed_back"]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # step 1 has no fed-back part
        out["median_keep_diagonal"] = np.nanmedian(vs["fed_back_diagonal"] / fb, axis=0)
        # a non-finite TAGI pass (overflow) kept "everything and more": count it as +inf
        out["median_keep_tagi"] = np.nanmedian(np.where(bad, np.inf, vs["fed_back_tagi"]) / fb,
                                               axis=0)
        out["median_share_fed"] = np.median(vs["fed_back"] / total, axis=0)
    out["median_keep_diagonal"][0] = out["median_keep_tagi"][0] = np.nan
    out["nonfinite_tagi"] = int(bad.sum())
    out["warnings"] = sorted({str(w.message) for w in caught})
    return out


def remedies_study(name, series, model, base) -> dict:
    """The library's remedies, each scored like the linearized backtest ``base``:
    per-horizon calibration on the validation tail (``fit(calibrate=H)``: the same network,
    its variance scaled per step), online learning from the test steps before each origin
    (``backtest(online=True)``), both, and an ensemble of :data:`ENSEMBLE` members."""
    H = series.spec.horizon
    n = series.n_train
    settings = settings_for(name)
    variants = {"linearized": (None, base)}
    t0 = time.perf_counter()
    calibrated = Forecaster(**settings)
    calibrated.fit(series.y[:n], dates=series.dates[:n], progress=False,
                   **{**FIT, "calibrate": H})
    variants["calibrated"] = (calibrated, False)
    variants["online"] = (model, True)
    variants["calibrated + online"] = (calibrated, True)
    ensemble = Forecaster(**{**settings, "ensemble": ENSEMBLE})
    ensemble.fit(series.y[:n], dates=series.dates[:n], progress=False, **FIT)
    variants[f"ensemble of {ENSEMBLE}"] = (ensemble, False)
    out = {}
    for label, (fc, online) in variants.items():
        if fc is None:
            rec = {k: base[k] for k in ("ratio", "coverage_90", "width_90", "crps")}
        else:
            bt = fc.backtest(series.y, H, dates=series.dates, origins=series.origins,
                             method="linearized", online=online)
            sc = bt.scores(levels=(0.9,))
            mse, pred = error_and_predicted_variance(bt)
            rec = {"ratio": mse / pred, "coverage_90": sc["coverage_90"],
                   "width_90": sc["width_90"], "crps": sc["crps"]}
            if label.startswith("ensemble"):
                comp = bt.components
                rec["ensemble_share"] = np.nanmean(comp["ensemble"], axis=0) / pred
        out[label] = rec
    out["calibration_factors"] = calibrated.calibration_
    out["seconds"] = time.perf_counter() - t0
    log(f"    remedies ({out['seconds']:.1f} s), coverage_90 h=1 / mean / h={H}: " + "; ".join(
        f"{k} {v['coverage_90'][0]:.2f} / {np.nanmean(v['coverage_90']):.2f} / "
        f"{v['coverage_90'][-1]:.2f}" for k, v in out.items() if isinstance(v, dict)))
    return out


def epochs_study(name: str, progress=True) -> list:
    """One-step figures after exactly ``E`` epochs on the training part proper."""
    series = load_series(name)
    n_fit = split_of(series.n_train)
    rows = []
    for epochs in EPOCHS:
        per_seed = []
        for seed in EPOCH_SEEDS:
            model = Forecaster(**{**settings_for(name), "seed": seed})
            model.fit(series.y[:n_fit], dates=series.dates[:n_fit], validation=0,
                      epochs=epochs, patience=epochs, refit=False, calibrate=False,
                      progress=False)
            per_seed.append(one_step(model, series))
        row = {"epochs": epochs}
        for part in ("train", "validation", "test"):
            for key in ("parameters", "noise", "coverage_90", "ratio"):
                vals = [s[part][key] for s in per_seed]
                row[f"{part}_{key}"] = float(np.mean(vals))
                row[f"{part}_{key}_range"] = [float(min(vals)), float(max(vals))]
        rows.append(row)
        if progress:
            log(f"    E={epochs:3d}: parameters {row['train_parameters']:.4f} (train) "
                f"noise {row['train_noise']:.4f} coverage_90 train/val/test "
                f"{row['train_coverage_90']:.2f}/{row['validation_coverage_90']:.2f}/"
                f"{row['test_coverage_90']:.2f}")
    return rows


# ------------------------------------------------------------------------ figures
def plot_series(name: str, rec: dict, path: Path) -> None:
    """Coverage, width, variance by source and what the diagonal propagations keep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    hz, src = rec["horizon"], rec["sources"]
    H = len(hz["linearized"]["mse"])
    h = np.arange(1, H + 1)
    marker = "." if H <= 12 else None
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.8))
    axes = axes.ravel()
    colors = {"diagonal": "C3", "linearized": "C0", "samples": "C2"}
    for method in METHODS:
        axes[0].plot(h, hz[method]["coverage_90"], color=colors[method], label=method,
                     marker=marker)
        axes[1].plot(h, hz[method]["width_90"], color=colors[method], label=method,
                     marker=marker)
    axes[0].axhline(0.9, color="0.5", lw=0.8, ls=":")
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title("90 % coverage", fontsize=9)
    axes[1].plot(h, 2 * Z90 * np.sqrt(hz["linearized"]["mse"]), color="k", lw=0.8, ls="--",
                 label="2·1.645·RMSE")
    axes[1].set_title("mean 90 % width (original units)", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    ax = axes[2]
    ax.stackplot(h, src["parameters"], src["noise"], src["fed_back"],
                 labels=["parameters", "noise", "fed back"],
                 colors=["#9ecae1", "#c7e9c0", "#fdd0a2"])
    if not rec["settings"]["difference"]:
        ax.plot(h, hz["linearized"]["mse"] / rec["scale"] ** 2, "k.", ms=3,
                label="realised MSE")
    ax.set_title("variance by source, mean (std. " + ("differences)" if
                 rec["settings"]["difference"] else "units)"), fontsize=9)
    ax.legend(fontsize=6, loc="upper left")
    ax = axes[3]
    ax.plot(h[1:], src["median_keep_diagonal"][1:], color="C1", marker=marker,
            label="J diag(Σ) Jᵀ (no window cov.)")
    ax.plot(h[1:], np.minimum(src["median_keep_tagi"][1:], 1e3), color="C3", marker=marker,
            label="TAGI forward pass")
    ax.axhline(1, color="0.5", lw=0.8, ls=":")
    ax.set_yscale("log")
    kept = np.concatenate([src["median_keep_diagonal"][1:],
                           np.minimum(src["median_keep_tagi"][1:], 1e3), [1.0]])
    kept = kept[np.isfinite(kept) & (kept > 0)]
    low, high = kept.min() / 1.3, kept.max() * 1.3
    ax.set_ylim(low, high)
    ticks = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 100, 1000]
    ax.set_yticks([t for t in ticks if low <= t <= high])
    ax.set_yticks([], minor=True)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_title("kept of the fed-back variance (median over origins)", fontsize=9)
    ax.legend(fontsize=6)
    for a in axes:
        a.set_xlabel("horizon step h", fontsize=8)
        a.tick_params(labelsize=7)
    fig.suptitle(f"{name}: {len(rec['origins'])} test origins", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_epochs(name: str, rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = [r["epochs"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.9))
    axes[0].plot(e, [r["train_parameters"] for r in rows], "o-", label="parameters (train)")
    axes[0].plot(e, [r["test_parameters"] for r in rows], "o--", label="parameters (test)")
    axes[0].plot(e, [r["train_noise"] for r in rows], "s-", label="noise (train)")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_title("mean one-step variance (original units²)", fontsize=9)
    for part, style in (("train", "o-"), ("validation", "s-"), ("test", "^-")):
        axes[1].plot(e, [r[f"{part}_coverage_90"] for r in rows], style, label=part)
    axes[1].axhline(0.9, color="0.5", lw=0.8, ls=":")
    axes[1].set_xscale("log")
    axes[1].set_title("one-step 90 % coverage", fontsize=9)
    for a in axes:
        a.set_xlabel("epochs", fontsize=8)
        a.legend(fontsize=7)
        a.tick_params(labelsize=7)
    fig.suptitle(f"{name}: epochs without early stopping (mean over seeds "
                 f"{', '.join(map(str, EPOCH_SEEDS))})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ------------------------------------------------------------------------ report
def shown_steps(H: int) -> list:
    """The horizon steps the markdown tables show (1-based)."""
    return sorted({1, 2, 3, max(1, round(H / 4)), max(1, round(H / 2)),
                   max(1, round(3 * H / 4)), H} & set(range(1, H + 1)))


def f(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def _methods(hz, key, i, digits=2) -> str:
    """``diagonal / linearized / samples`` figures of ``key`` at step index ``i``."""
    return " / ".join(f(hz[m][key][i], digits) for m in METHODS if m in hz)


def series_markdown(name: str, rec: dict) -> list:
    hz, src, H = rec["horizon"], rec["sources"], rec["H"]
    steps = shown_steps(H)
    st = rec["settings"]
    lines = [f"## {name}", "",
             (f"{SERIES[name].about}. n = {rec['n']}, training part {rec['n_train']} "
             f"(early stopping on its last {rec['n_train'] - rec['n_fit']}), "
             f"{len(rec['origins'])} test origins (stride {rec['stride']}), H = {H}; "
             f"lookback {st['lookback']}, difference={st['difference']}, calendar="
             f"{tuple(st['calendar'])}; kept epoch {rec['best_epoch']}; s = "
             f"{rec['scale']:.4g} (standardisation std of the modelled series); "
             f"{rec['num_samples']} sample paths per origin; fit {rec['fit_seconds']:.1f} s."),
             "", "### Realised and predicted variance, by method (test origins)", "",
             ("Cells: diagonal / linearized / samples. MSE: realised mean squared error of the "
             "linearized means; ratio: realised MSE / mean predicted variance (1: calibrated "
             "on average, > 1: too narrow); robust: median squared standardised error / "
             "0.455 (its value for a calibrated Gaussian); cov: 90 % coverage; width: mean "
             "90 % width; sd lin / samples: mean over origins."), "",
             "| h | MSE | ratio | robust | cov 90 % | width 90 % | sd lin / samples |",
             "| ---: | ---: | --- | --- | --- | --- | ---: |"]
    for h in steps:
        i = h - 1
        lines.append(f"| {h} | {f(hz['linearized']['mse'][i])} | {_methods(hz, 'ratio', i)} | "
                     f"{_methods(hz, 'robust_ratio', i)} | {_methods(hz, 'coverage_90', i)} | "
                     f"{_methods(hz, 'width_90', i, 3)} | "
                     f"{f(hz['sd_linearized_over_samples'][i], 3)} |")
    vh = rec.get("validation_horizon")
    if vh:
        lines += ["", (f"Validation origins ({len(rec['validation_origins'])} origins in the "
                  "held-out tail of the training part, forecasts ending before the test "
                  "part; cells: diagonal / linearized):"), "",
                  "| h | MSE | ratio | robust | cov 90 % |", "| ---: | ---: | --- | --- | --- |"]
        for h in steps:
            i = h - 1
            lines.append(f"| {h} | {f(vh['linearized']['mse'][i])} | "
                         f"{_methods(vh, 'ratio', i)} | {_methods(vh, 'robust_ratio', i)} | "
                         f"{_methods(vh, 'coverage_90', i)} |")
    unit = "standardised differences²" if st["difference"] else "standardised units²"
    lines += ["", f"### Variance by source (test origins, {unit})", "",
              ("parameters ... fed_back_tagi: means over the origins; shares: of the mean "
              "parameters + noise + fed_back; median share fed: median over the origins of "
              "each origin's fed-back share; diag/full and tagi/full: median over the "
              "origins of what J diag(Σ) Jᵀ and TAGI's forward pass keep of fed_back."), "",
              ("| h | parameters | noise | fed_back | fed_back_diagonal | fed_back_tagi | "
              "share par / noise / fed | median share fed | diag/full | tagi/full |"),
              "| ---: |" + " ---: |" * 5 + " --- | ---: | ---: | ---: |"]
    for h in steps:
        i = h - 1
        tot = src["parameters"][i] + src["noise"][i] + src["fed_back"][i]
        lines.append("| " + " | ".join(
            [str(h)] + [f(src[k][i]) for k in SOURCES]
            + [" / ".join(f(src[k][i] / tot, 2) for k in ("parameters", "noise", "fed_back")),
               f(src["median_share_fed"][i], 2), f(src["median_keep_diagonal"][i], 2),
               f(src["median_keep_tagi"][i], 2)]) + " |")
    if src["nonfinite_tagi"]:
        lines += ["", (f"TAGI's forward pass overflowed (non-finite variance) for "
                  f"{src['nonfinite_tagi']} origin-steps ({'; '.join(src['warnings'])}); "
                  f"they are left out of the mean fed_back_tagi and count as keeping "
                  f"everything in the medians.")]
    if st["difference"]:
        comp = hz["linearized"]["components"]
        lines += ["", "In levels (original units², components of the linearized backtest, "
                  "mean over the origins; parameters and noise are lifted as independent "
                  "across steps, fed_back is the rest of the level variance, so it is negative "
                  "when the forecast differences are negatively correlated): "
                  + "; ".join(f"h={h}: parameters {f(comp['parameters'][h - 1])}, noise "
                              f"{f(comp['noise'][h - 1])}, fed_back "
                              f"{f(comp['fed_back'][h - 1])}" for h in (1, 2, H)) + "."]
    lines += ["", "### One-step forecasts by part", "",
              ("All one-step forecasts of each part (`Forecaster.predict`); ratio = RMSE / RMS "
              "predicted sd; parameters, noise: mean one-step variances (original units²)."), "",
              "| part | n | RMSE | RMS sd | ratio | 90 % coverage | parameters | noise |",
              "| --- |" + " ---: |" * 7]
    for part, r in rec["one_step"].items():
        lines.append(f"| {part} | {r['n']} | {f(r['rmse'])} | {f(r['rms_sd'])} | "
                     f"{f(r['ratio'], 3)} | {f(r['coverage_90'], 2)} | {f(r['parameters'])} | "
                     f"{f(r['noise'])} |")
    return lines + ["", f"![{name}]({name}.png)", ""]


def overview_markdown(report: dict) -> list:
    lines = ["## Overview", "",
             ("Test origins; cells diagonal / linearized / samples. cov: 90 % coverage (at "
             "h = 1 the three methods coincide up to sampling); ratio: realised MSE / mean "
             "predicted variance; robust: median squared standardised error / 0.455 (both 1 "
             "when calibrated, > 1 when too narrow). One-step: RMSE / RMS sd of all one-step "
             "forecasts of the training part proper / validation tail / test part."), "",
             ("| series | H | cov h=1 | cov h=H | ratio h=1 | ratio h=H | robust h=1 | robust "
             "h=H | one-step train / val / test |"),
             "| --- | ---: | ---: | --- | ---: | --- | ---: | --- | --- |"]
    for name, rec in report["series"].items():
        hz, H = rec["horizon"], rec["H"]
        os_ = rec["one_step"]
        lines.append(
            f"| {name} | {H} | {f(hz['linearized']['coverage_90'][0], 2)} | "
            f"{_methods(hz, 'coverage_90', H - 1)} | {f(hz['linearized']['ratio'][0], 2)} | "
            f"{_methods(hz, 'ratio', H - 1)} | {f(hz['linearized']['robust_ratio'][0], 2)} | "
            f"{_methods(hz, 'robust_ratio', H - 1)} | "
            + " / ".join(f(os_[p]["ratio"], 3) for p in ("train", "validation", "test"))
            + " |")
    lines += ["", ("Sources (linearized, test origins): shares of the mean variance at h = H "
              "(parameters / noise / fed back; standardised units of the modelled series); "
              "what the diagonal propagations keep of the fed-back variance, median over the "
              "origins, at h = 2 and h = H (diag: J diag(Σ) Jᵀ, the covariances between the "
              "fed-back forecasts dropped; tagi: TAGI's forward pass, which also drops the "
              "correlation between the paths one input takes through the network); sd of the "
              "linearized forecast / sd of the sample paths, mean over origins, at h = 2 and "
              "h = H."), "",
              ("| series | shares h=H | diag/full h=2, h=H | tagi/full h=2, h=H | "
              "sd lin / samples h=2, h=H |"), "| --- | --- | --- | --- | --- |"]
    for name, rec in report["series"].items():
        hz, src, H = rec["horizon"], rec["sources"], rec["H"]
        i = H - 1
        tot = src["parameters"][i] + src["noise"][i] + src["fed_back"][i]
        j = min(1, i)
        lines.append(
            f"| {name} | "
            + " / ".join(f(src[k][i] / tot, 2) for k in ("parameters", "noise", "fed_back"))
            + f" | {f(src['median_keep_diagonal'][j], 2)}, "
            f"{f(src['median_keep_diagonal'][i], 2)} | {f(src['median_keep_tagi'][j], 2)}, "
            f"{f(src['median_keep_tagi'][i], 2)} | "
            f"{f(hz['sd_linearized_over_samples'][j], 3)}, "
            f"{f(hz['sd_linearized_over_samples'][i], 3)} |")
    return lines + [""]


def remedies_markdown(report: dict) -> list:
    lines = ["## Remedies (linearized propagation, test origins)", "",
             ("calibrated: `fit(calibrate=H)`, the same network with per-step variance factors "
             "k_h fitted on a backtest of the validation tail; online: `backtest(online=True)`, "
             "learning each test step before the origins that follow it; ensemble: "
             f"`ensemble={ENSEMBLE}` (seeds 0..{ENSEMBLE - 1}). cov: 90 % coverage at h = 1, "
             "mean over h, at h = H; ratio: realised MSE / mean predicted variance at h = 1 "
             "and h = H; CRPS: mean over h (original units); disagreement: the members' "
             "spread as a share of the ensemble's variance at h = 1 and h = H."), "",
             ("| series | variant | cov h=1 / mean / h=H | ratio h=1 / h=H | mean width 90 % | "
             "CRPS | disagreement |"), "| --- | --- | --- | --- | ---: | ---: | --- |"]
    for name, rec in report["series"].items():
        rem = rec.get("remedies")
        if not rem:
            continue
        k = rem["calibration_factors"]
        for label, v in rem.items():
            if not isinstance(v, dict):
                continue
            cov = v["coverage_90"]
            if label == "calibrated" and k is not None:
                label += f" (k_1 = {f(float(k[0]), 3)}, k_H = {f(float(k[-1]), 3)})"
            spread = (f"{f(v['ensemble_share'][0], 2)} / {f(v['ensemble_share'][-1], 2)}"
                      if "ensemble_share" in v else "—")
            lines.append(f"| {name} | {label} | {f(cov[0], 2)} / "
                         f"{f(float(np.nanmean(cov)), 2)} / {f(cov[-1], 2)} | "
                         f"{f(v['ratio'][0], 2)} / {f(v['ratio'][-1], 2)} | "
                         f"{f(float(np.nanmean(v['width_90'])))} | "
                         f"{f(float(np.nanmean(v['crps'])))} | {spread} |")
    return lines + [""]


def epochs_markdown(name: str, rows: list) -> list:
    lines = [f"## Epochs ({name})", "",
             (f"Trained on the training part proper for exactly E epochs (no early stopping, "
             f"last epoch kept), mean over seeds {', '.join(map(str, EPOCH_SEEDS))}; one-step "
             "variances in original units²; coverage of the one-step 90 % intervals; "
             "ratio = RMSE / RMS sd."), "",
             ("| E | parameters train | parameters test | noise train | noise test | "
             "coverage train | coverage val | coverage test | ratio train | ratio val | "
             "ratio test |"), "| ---: |" + " ---: |" * 10]
    for r in rows:
        lines.append(f"| {r['epochs']} | {f(r['train_parameters'])} | "
                     f"{f(r['test_parameters'])} | {f(r['train_noise'])} | "
                     f"{f(r['test_noise'])} | {f(r['train_coverage_90'], 2)} | "
                     f"{f(r['validation_coverage_90'], 2)} | {f(r['test_coverage_90'], 2)} | "
                     f"{f(r['train_ratio'], 3)} | {f(r['validation_ratio'], 3)} | "
                     f"{f(r['test_ratio'], 3)} |")
    return lines + ["", f"![epochs](epochs_{name}.png)", ""]


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


# ------------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", default=",".join(DEFAULT_SERIES),
                   help=f"comma-separated, from {','.join(SERIES)}")
    p.add_argument("--output", default=str(ROOT / "docs" / "_static" / "uncertainty"),
                   help="folder for summary.md, summary.json and the figures")
    p.add_argument("--samples-scale", type=float, default=1.0,
                   help="multiply the sample paths per origin (e.g. 0.2 for a quick run)")
    p.add_argument("--no-epochs", action="store_true", help="skip the epochs experiment")
    p.add_argument("--no-remedies", action="store_true",
                   help="skip calibration, online learning and the ensemble")
    args = p.parse_args(argv)
    args.series = [s for s in args.series.split(",") if s]
    unknown = [s for s in args.series if s not in SERIES]
    if unknown:
        p.error(f"unknown series {unknown}; known: {', '.join(SERIES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=FutureWarning)
    t_start = time.perf_counter()
    cmd = "PYTHONPATH=. python benchmarks/uncertainty_sources.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    report = {"command": cmd.strip(), "environment": environment(), "settings": SETTINGS,
              "series_settings": SERIES_SETTINGS, "fit": FIT, "series": {}}
    for name in args.series:
        series = load_series(name)
        H = series.spec.horizon
        num_samples = max(10, round(NUM_SAMPLES.get(name, NUM_SAMPLES["default"])
                                    * args.samples_scale))
        log(f"{name}: n={len(series.y)} train={series.n_train} origins={len(series.origins)} "
            f"stride={series.stride} H={H}")
        t0 = time.perf_counter()
        model, settings = fit(name, series)
        fit_seconds = time.perf_counter() - t0
        log(f"  fitted in {fit_seconds:.1f} s (kept epoch {model.best_epoch_})")
        rec = {"n": len(series.y), "n_train": series.n_train,
               "n_fit": split_of(series.n_train), "H": H, "origins": series.origins,
               "stride": series.stride, "settings": settings, "best_epoch": model.best_epoch_,
               "scale": float(model._scale[0][1]), "num_samples": num_samples,
               "fit_seconds": fit_seconds}
        rec["one_step"] = one_step(model, series)
        log("  one step, RMSE / RMS sd: " + ", ".join(
            f"{p} {r['ratio']:.2f}" for p, r in rec["one_step"].items()))
        rec["horizon"] = horizon_study(model, series, num_samples)
        val = validation_origins(model, series)
        rec["validation_origins"] = val
        if val.size:
            rec["validation_horizon"] = horizon_study(model, series, num_samples, val,
                                                      ("diagonal", "linearized"), quiet=True)
            v = rec["validation_horizon"]
            log(f"    validation ({val.size} origins): variance ratio h=1 / h={H}: diagonal "
                f"{v['diagonal']['ratio'][0]:.2f} / {v['diagonal']['ratio'][-1]:.2f}, "
                f"linearized {v['linearized']['ratio'][0]:.2f} / "
                f"{v['linearized']['ratio'][-1]:.2f}")
        rec["sources"] = sources_study(model, series)
        if not args.no_remedies:
            rec["remedies"] = remedies_study(name, series, model, rec["horizon"]["linearized"])
        rec["seconds"] = time.perf_counter() - t0
        plot_series(name, rec, out / f"{name}.png")
        report["series"][name] = rec
        log(f"  {name} done in {rec['seconds']:.1f} s")
    if not args.no_epochs:
        log(f"epochs experiment on {EPOCH_SERIES}")
        t0 = time.perf_counter()
        report["epochs"] = {"series": EPOCH_SERIES, "seeds": EPOCH_SEEDS,
                            "rows": epochs_study(EPOCH_SERIES)}
        report["epochs"]["seconds"] = time.perf_counter() - t0
        plot_epochs(EPOCH_SERIES, report["epochs"]["rows"], out / f"epochs_{EPOCH_SERIES}.png")
    report["wall_seconds"] = time.perf_counter() - t_start
    env = report["environment"]
    lines = ["# Where forecast uncertainty comes from: measurements", "",
             f"`{report['command']}` — {env['date_utc']}, commit {env['git_commit']}"
             + (" (tagi_lstm modified in the work tree)" if env["tagi_lstm_modified"] else "")
             + f", {env['cpu_count']} CPU cores, {report['wall_seconds']:.0f} s.", "",
             ("Protocol: the docstring of `benchmarks/uncertainty_sources.py`. Settings: "
             f"`{SETTINGS}`, per series `{SERIES_SETTINGS}`, lookback = max(8, min(2 m, 96)); "
             f"fit `{FIT}`."), ""]
    lines += overview_markdown(report)
    for name, rec in report["series"].items():
        lines += series_markdown(name, rec)
    if any("remedies" in rec for rec in report["series"].values()):
        lines += remedies_markdown(report)
    if "epochs" in report:
        lines += epochs_markdown(EPOCH_SERIES, report["epochs"]["rows"])
    (out / "summary.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(_plain(report), indent=1))
    log(f"wrote {out / 'summary.md'} (+ summary.json, figures) in "
        f"{report['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

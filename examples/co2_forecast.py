"""Forecast the weekly Mauna Loa CO2 record with honest intervals.

The series (statsmodels' ``co2`` data set, 1958-2001, 59 missing weeks) has
a rising trend and a yearly cycle. A :class:`tagi_lstm.forecast.Forecaster`
learns it from the first 80 % of the record (its last fifth held out for
early stopping on the validation log-likelihood) and is judged on the last
20 %, which lies above every training value:

- one-step-ahead forecasts of every test week, with the network fixed and
  with online updating as each week arrives, next to the seasonal-naive
  baseline (the value 52 weeks earlier);
- recursive multi-step forecasts (up to 52 weeks) from origins spread over
  the test period (:meth:`~tagi_lstm.forecast.Forecaster.backtest`): coverage
  and width of the 90 % interval by horizon, and the sources of the variance
  (weight uncertainty, forecasts fed back as inputs, observation noise).

It writes a figure (one-step bands, a two-year recursive forecast, a
reliability diagram) and a metrics table in Markdown.

    python examples/co2_forecast.py [--plot co2.png] [--metrics co2_metrics.md]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tagi_lstm.datasets import load_co2
from tagi_lstm.forecast import Forecaster, seasonal_naive

SEASON = 52  # weeks
HORIZONS = (1, 4, 13, 26, 52)


def run(epochs: int = 30, seed: int = 0, lookback: int = 52, hidden_size: int = 16,
        progress: bool = True) -> dict:
    """Fit, forecast and score; returns every number and array the report shows."""
    data = load_co2()
    y, dates = data["co2"], data["dates"]
    n_fit = len(y) - round(0.2 * len(y))
    model = Forecaster(lookback, hidden_size, num_layers=1, noise="heteroscedastic",
                       difference=True, calendar=("dayofyear",), batch_size=16, seed=seed)
    start = time.perf_counter()
    # the early-stopped network is kept (refit=False): retraining it for the same number
    # of epochs on all the data gave worse yearly forecasts on this record
    model.fit(y[:n_fit], dates=dates[:n_fit], validation=0.2, epochs=epochs, patience=5,
              refit=False, progress=progress)
    fit_seconds = time.perf_counter() - start

    observed = y[n_fit:]
    one_step = model.predict(y, dates=dates)[-len(observed):]
    naive = seasonal_naive(y, SEASON, n_fit)

    backtest = model.backtest(y, max(HORIZONS), dates=dates, start=n_fit, stride=8)
    table = backtest.scores(steps=list(HORIZONS))
    by_horizon = {h: {"width90": table["width_90"][k], "coverage90": table["coverage_90"][k],
                      "rmse": table["rmse"][k], "crps": table["crps"][k]}
                  for k, h in enumerate(HORIZONS)}
    sources = {name: part.mean(axis=0)[np.array(HORIZONS) - 1]
               for name, part in backtest.components.items()}
    long_path = model.forecast(2 * SEASON, y[:n_fit], dates=dates[:n_fit])

    online = model.update(observed, dates_new=dates[n_fit:])
    return {
        "dates": dates, "y": y, "n_fit": n_fit, "fit_seconds": fit_seconds,
        "epochs_run": len(model.history_), "best_epoch": model.best_epoch_,
        "one_step": one_step, "online": online, "naive": naive, "long_path": long_path,
        "backtest": backtest, "sources": sources,
        "scores": {"TAGI-LSTM, one step": one_step.scores(observed),
                   "TAGI-LSTM, one step, online updates": online.scores(observed),
                   "seasonal naive, one step": naive.scores(observed)},
        "by_horizon": by_horizon, "origins": len(backtest.origins),
    }


def metrics_table(res: dict) -> str:
    """The report as Markdown."""
    lines = ["| model (test period) | RMSE | MAE | log-lik. | CRPS | 50% cov. | 90% cov. |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in res["scores"].items():
        lines.append(f"| {name} | {s['rmse']:.3f} | {s['mae']:.3f} | "
                     f"{s['log_likelihood']:.3f} | {s['crps']:.3f} | {s['coverage_50']:.3f} | "
                     f"{s['coverage_90']:.3f} |")
    intro = (f"Recursive forecasts from {res['origins']} origins in the test period "
             "(`Forecaster.backtest`), and where their variance comes from (ppm², mean over "
             "origins; with differencing each step's noise adds up in the level, and the "
             "negative weight the network gives its own forecasts read back, the fed-back "
             "part, takes most of it away again):")
    header = ("| horizon (weeks) | mean 90% width (ppm) | 90% coverage | RMSE (ppm) | CRPS | "
              "weights | fed back | noise |")
    lines += ["", intro, "", header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, (h, s) in enumerate(res["by_horizon"].items()):
        src = res["sources"]
        lines.append(f"| {h} | {s['width90']:.3f} | {s['coverage90']:.3f} | {s['rmse']:.3f} | "
                     f"{s['crps']:.3f} | {src['parameters'][k]:.3f} | {src['fed_back'][k]:.3f} "
                     f"| {src['noise'][k]:.3f} |")
    return "\n".join(lines)


def acceptance(res: dict) -> dict:
    """The checks the example promises, each ``True`` or ``False``."""
    ours, naive = res["scores"]["TAGI-LSTM, one step"], res["scores"]["seasonal naive, one step"]
    widths = [res["by_horizon"][h]["width90"] for h in HORIZONS]
    return {"90% one-step coverage in [0.85, 0.95]": 0.85 <= ours["coverage_90"] <= 0.95,
            "beats seasonal naive on RMSE": ours["rmse"] < naive["rmse"],
            "beats seasonal naive on CRPS": ours["crps"] < naive["crps"],
            "multi-step intervals widen with the horizon": bool(np.all(np.diff(widths) > 0))}


def plot(res: dict, path: str) -> None:
    import matplotlib.pyplot as plt

    from tagi_lstm.plotting import plot_forecast, plot_reliability

    dates, y, n_fit = res["dates"], res["y"], res["n_fit"]
    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(2, 3)
    ax = fig.add_subplot(grid[0, :])
    recent = slice(n_fit - 5 * SEASON, n_fit)
    plot_forecast(res["one_step"], history=y[recent], history_index=dates[recent],
                  truth=y[n_fit:], boundary=dates[n_fit], label="one-step",
                  title="Mauna Loa CO2 (ppm): one-step-ahead forecasts of the test period",
                  ax=ax)
    ax = fig.add_subplot(grid[1, :2])
    path_ = res["long_path"]
    horizon = len(path_)
    plot_forecast(path_, history=y[n_fit - 2 * SEASON:n_fit],
                  history_index=dates[n_fit - 2 * SEASON:n_fit], truth=y[n_fit:n_fit + horizon],
                  boundary=dates[n_fit], label="recursive", color="C0",
                  title=f"recursive {horizon}-week forecast from the train/test boundary", ax=ax)
    ax = fig.add_subplot(grid[1, 2])
    plot_reliability(res["one_step"].mean, y[n_fit:], res["one_step"].std, ax=ax,
                     label="one-step, test")
    ax.set_title("reliability")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="most training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")
    parser.add_argument("--plot", metavar="PNG", help="write the figure here")
    parser.add_argument("--metrics", metavar="MD", default="co2_metrics.md",
                        help="write the metrics table here (default: %(default)s)")
    args = parser.parse_args(argv)

    res = run(epochs=args.epochs, seed=args.seed)
    table = metrics_table(res)
    print(f"\ntrained {res['epochs_run']} epochs in {res['fit_seconds']:.1f} s "
          f"(kept epoch {res['best_epoch']})\n")
    print(table)
    checks = acceptance(res)
    print("\n" + "\n".join(f"[{'ok' if ok else 'FAILED'}] {name}" for name, ok in checks.items()))
    with open(args.metrics, "w") as fh:
        fh.write(table + "\n")
    print(f"metrics written to {args.metrics}")
    if args.plot:
        plot(res, args.plot)
    return res


if __name__ == "__main__":
    main()

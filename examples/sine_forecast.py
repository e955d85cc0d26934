"""One-step-ahead forecasts of pytagi's sine series with a Bayesian LSTM.

pytagi's published configuration (``shared/data/README.md``): windows of 5
steps, ``LSTM(1, 8, 5) -> LSTM(8, 8, 5) -> Linear(40, 1)``, batches of 5, 50
epochs, observation noise std starting at 1 and decayed each epoch by
``exponential_scheduler`` (floor 0.3), data standardised with the training
mean and std. The training function is written once against the pytagi
interface and runs on ``tagi_lstm`` or, with ``--compare-pytagi``, on pytagi
itself: only the module differs.

    python examples/sine_forecast.py [--epochs 50] [--seed 0] [--plot sine.png] \\
        [--compare-pytagi] [--metrics sine_metrics.md]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tagi_lstm
from tagi_lstm import metric
from tagi_lstm.data import batches, rolling_windows
from tagi_lstm.datasets import load_sine
from tagi_lstm.peers import import_pytagi


def train_and_test(lib, epochs: int = 50, batch_size: int = 5, seq_len: int = 5,
                   sigma_v: float = 1.0, seed: int = 0, shuffle: bool = True,
                   progress: bool = False) -> dict:
    """Train on the sine training part and forecast its test part one step ahead.

    Args:
        lib: ``tagi_lstm`` or ``pytagi`` (anything with pytagi's interface).
        shuffle: visit the training windows in a new random order each epoch
            (the same order for either library). TAGI updates like a filter,
            so in chronological order (pytagi's example) the network favours
            the end of the training series.

    Returns:
        dict with the test metrics in original units (``mse``, ``rmse``,
        ``log_likelihood``, ``crps``, ``coverage90``), ``train_seconds``,
        the arrays ``mean``, ``std``, ``observed``, ``dates`` and the network.
    """
    nn = lib.nn
    lib.manual_seed(seed)
    data = load_sine()
    mean, std = tagi_lstm.Normalizer.compute_mean_std(data["train"])
    train = tagi_lstm.Normalizer.standardize(data["train"], mean, std)
    test = tagi_lstm.Normalizer.standardize(data["test"], mean, std)
    x_train, y_train = rolling_windows(train, seq_len)
    x_test, y_test = rolling_windows(test, seq_len)

    net = nn.Sequential(nn.LSTM(1, 8, seq_len), nn.LSTM(8, 8, seq_len),
                        nn.Linear(8 * seq_len, 1))
    net.set_threads(1)  # a network this small is fastest on one thread (pytagi's advice too)
    updater = nn.OutputUpdater(net.device)
    order_rng = np.random.default_rng(seed)
    epoch_iter = range(epochs)
    if progress:
        from tqdm import tqdm

        epoch_iter = tqdm(epoch_iter, desc=f"training ({lib.__name__})", unit="epoch")
    start = time.perf_counter()
    for epoch in epoch_iter:
        sigma_v = lib.exponential_scheduler(curr_v=sigma_v, min_v=0.3, decaying_factor=0.99,
                                            curr_iter=epoch)
        var_y = np.full(batch_size, sigma_v ** 2, dtype=np.float32)
        for x, y in batches(x_train, y_train, batch_size, shuffle=shuffle, drop_last=True,
                            rng=order_rng):
            net(x.reshape(-1).astype(np.float32))
            updater.update(output_states=net.output_z_buffer,
                           mu_obs=y.reshape(-1).astype(np.float32), var_obs=var_y,
                           delta_states=net.input_delta_z_buffer)
            net.backward()
            net.step()
    train_seconds = time.perf_counter() - start

    mu_pred, var_pred, observed = [], [], []
    for x, y in batches(x_test, y_test, batch_size, drop_last=True):
        m, v = net(x.reshape(-1).astype(np.float32))
        mu_pred.append(m)
        var_pred.append(v + sigma_v ** 2)
        observed.append(y.reshape(-1))
    mu_pred = tagi_lstm.Normalizer.unstandardize(np.concatenate(mu_pred), mean, std)
    std_pred = tagi_lstm.Normalizer.unstandardize_std(np.sqrt(np.concatenate(var_pred)), std)
    observed = tagi_lstm.Normalizer.unstandardize(np.concatenate(observed), mean, std)
    return {
        "mse": metric.mse(mu_pred, observed),
        "rmse": metric.rmse(mu_pred, observed),
        "log_likelihood": metric.log_likelihood(mu_pred, observed, std_pred),
        "crps": metric.crps(mu_pred, observed, std_pred),
        "coverage90": metric.interval_coverage(mu_pred, observed, std_pred, 0.9),
        "train_seconds": train_seconds,
        "mean": mu_pred,
        "std": std_pred,
        "observed": observed,
        "dates": data["test_dates"][seq_len:seq_len + len(observed)],
        "train_dates": data["train_dates"],
        "train_values": data["train"],
        "net": net,
    }


def _import_pytagi():
    try:
        return import_pytagi()
    except ImportError as exc:
        print(f"{exc}; skipping pytagi")
        return None


def _plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = results["tagi_lstm"]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(res["train_dates"][-120:], res["train_values"][-120:], color="0.5", lw=1,
            label="training data")
    ax.plot(res["dates"], res["observed"], "k", lw=1, label="observed")
    ax.plot(res["dates"], res["mean"], "C3", lw=1.5, label="tagi_lstm mean")
    ax.fill_between(res["dates"], res["mean"] - 1.645 * res["std"],
                    res["mean"] + 1.645 * res["std"], color="C3", alpha=0.25,
                    label="90% interval")
    if "pytagi" in results:
        ax.plot(results["pytagi"]["dates"], results["pytagi"]["mean"], "C0--", lw=1,
                label="pytagi mean")
    ax.axvline(res["dates"][0], color="0.3", ls=":", lw=1)
    ax.set_title("One-step-ahead forecasts of the sine series (test period)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot written to {path}")


def metrics_table(results: dict) -> str:
    """Test metrics of each library, side by side, as Markdown."""
    rows = [("test MSE", "mse", "{:.4f}"), ("test RMSE", "rmse", "{:.4f}"),
            ("log-likelihood", "log_likelihood", "{:.3f}"), ("CRPS", "crps", "{:.4f}"),
            ("90% coverage", "coverage90", "{:.3f}"),
            ("training (s)", "train_seconds", "{:.2f}")]
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |",
             "| --- | " + " | ".join("---" for _ in names) + " |"]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(results[n][key]) for n in names)
                     + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-shuffle", action="store_true",
                        help="train in chronological order, as pytagi's example does")
    parser.add_argument("--compare-pytagi", action="store_true",
                        help="also run pytagi on the same data and seed, if installed")
    parser.add_argument("--plot", metavar="PNG", help="write a plot of the forecasts here")
    parser.add_argument("--metrics", metavar="MD", default="sine_metrics.md",
                        help="write the metrics table here (default: %(default)s)")
    args = parser.parse_args(argv)

    shuffle = not args.no_shuffle
    results = {"tagi_lstm": train_and_test(tagi_lstm, args.epochs, seed=args.seed,
                                           shuffle=shuffle, progress=True)}
    if args.compare_pytagi:
        pytagi = _import_pytagi()
        if pytagi is not None:
            results["pytagi"] = train_and_test(pytagi, args.epochs, seed=args.seed,
                                               shuffle=shuffle, progress=True)
    table = metrics_table(results)
    print("\n" + table)
    with open(args.metrics, "w") as fh:
        fh.write(table + "\n")
    print(f"metrics written to {args.metrics}")
    if args.plot:
        _plot(results, args.plot)
    return results


if __name__ == "__main__":
    main()

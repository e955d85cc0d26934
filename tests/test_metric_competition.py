"""Scores over many series (ND, quantile loss, sMAPE, MASE) against hand computations,
and against the TAGI-LSTM paper's own scores of its predictions when the benchmark files
are present (they exist only in the development tree's ../shared)."""

from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from tagi_lstm import metric

PAPER = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper_benchmarks"


def test_nd_and_smape_by_hand():
    y = np.array([[2.0, -4.0], [np.nan, 1.0]])
    m = np.array([[1.0, -4.0], [5.0, 3.0]])
    # observed: (2, 1), (-4, -4), (1, 3): |err| 1, 0, 2 over |y| 2, 4, 1
    assert metric.nd(m, y) == pytest.approx(3 / 7)
    assert metric.smape(m, y) == pytest.approx(200 * np.mean([1 / 3, 0 / 8, 2 / 4]))
    assert metric.smape([0.0], [0.0]) == 0.0
    with pytest.raises(ValueError, match="sum to 0"):
        metric.nd([1.0], [0.0])


def test_quantile_loss_by_hand():
    y = np.array([3.0, -1.0, 0.5])
    m = np.array([1.0, 0.0, 0.5])
    s = np.array([1.0, 2.0, 0.5])
    q = m + ndtri(0.9) * s
    loss = [0.9 * (y[k] - q[k]) if y[k] > q[k] else 0.1 * (q[k] - y[k]) for k in range(3)]
    assert metric.quantile_loss(m, y, s, 0.9) == pytest.approx(2 * sum(loss) / 4.5)
    # at the median it is the ND: the quantile is the mean
    assert metric.quantile_loss(m, y, s, 0.5) == pytest.approx(metric.nd(m, y))
    with pytest.raises(ValueError, match="level"):
        metric.quantile_loss(m, y, s, 1.0)


def test_mase_by_hand():
    insample = np.array([[np.nan, 1.0], [1.0, 3.0], [4.0, 2.0], [2.0, 6.0], [6.0, 4.0]])
    # season 2: series 0 differences |2-1|, |6-4| -> 1.5; series 1 |2-1|, |6-3|, |4-2| -> 2
    y = np.array([[5.0, 1.0], [7.0, 2.0]])
    m = np.array([[4.0, 2.0], [7.0, 5.0]])
    expected = np.mean([np.mean([1.0, 0.0]) / 1.5, np.mean([1.0, 3.0]) / 2.0])
    assert metric.mase(m, y, insample, season=2) == pytest.approx(expected)
    assert metric.mase(m[:, 1], y[:, 1], insample[:, 1], 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one column per series"):
        metric.mase(m, y, insample[:, :1], 2)
    with pytest.raises(ValueError, match="seasonal difference"):
        metric.mase([1.0], [2.0], [3.0, 3.0, 3.0], 1)


@pytest.mark.skipif(not PAPER.is_dir(), reason="../shared/data/paper_benchmarks is absent "
                    "(it exists only in the development tree)")
@pytest.mark.parametrize("name, test, season, expected", [
    ("m4_hourly", 48, 24, (0.0424, 0.0212, 0.925)),
    ("tourism_monthly", 24, 12, (0.1024, 0.0529, 1.619)),
    ("tourism_quarterly", 8, 4, (0.0726, 0.0415, 1.583)),
])
def test_the_papers_predictions_score_as_published(name, test, season, expected):
    values = np.loadtxt(PAPER / f"{name}_values.csv.gz", delimiter=",")
    mean = np.loadtxt(PAPER / f"{name}_paper_mean.csv.gz", delimiter=",")
    std = np.sqrt(np.loadtxt(PAPER / f"{name}_paper_var.csv.gz", delimiter=","))
    truth, train = values[-test:], values[:-test]
    got = (metric.nd(mean, truth), metric.quantile_loss(mean, truth, std, 0.9),
           metric.mase(mean, truth, train, season))
    np.testing.assert_allclose(got, expected, rtol=0.006)

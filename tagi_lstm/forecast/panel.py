"""Many series in one forecaster: panel input and results.

A panel arrives in one of three layouts, each read into a list of
:class:`SeriesData` (every series with its own length and dates):

- a 2-D array ``(time, n_series)``, shorter series NaN-padded at the top (the
  padding is dropped; every series ends at the last row), with optional
  ``(time,)`` dates shared by all columns;
- a wide pandas ``DataFrame``: one column per series, the index as dates when
  it holds timestamps, leading NaN as padding;
- a long pandas ``DataFrame`` with an id, a time and a target column
  (``unique_id``, ``ds``, ``y`` by default: the StatsForecast / NeuralForecast
  convention), one row per series and step, in any order;
- a ``dict`` ``{id: 1-D series}``, with ``dates`` a ``dict`` of the same keys
  (or None).

Results come back per series (:class:`PanelForecast`), as ``(steps,
n_series)`` arrays where the series share a length, and as a long data frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .result import Backtest, Forecast, Mixture

#: Column names of a long data frame (StatsForecast / NeuralForecast's).
LONG_COLUMNS = ("unique_id", "ds", "y")


@dataclass
class SeriesData:
    """One series of a panel: its id, values ``(n,)`` (NaN: missing) and dates."""

    id: object
    y: np.ndarray
    dates: np.ndarray | None


def is_panel(y) -> bool:
    """True for a 2-D array, a pandas ``DataFrame`` or a dict of series (a panel),
    False for one series."""
    if isinstance(y, dict) or _is_frame(y):
        return True
    return getattr(y, "ndim", None) == 2 or (
        isinstance(y, (list, tuple)) and np.ndim(y) == 2)


def as_panel(y, dates=None, *, columns=LONG_COLUMNS, where: str) -> list:
    """The series of a panel (see the module docstring), each a :class:`SeriesData`.

    Args:
        y: a 2-D array, a wide or a long ``DataFrame``, a dict of series.
        dates: ``(time,)`` timestamps of a 2-D array's rows, a dict of each
            series' timestamps for a dict (a data frame brings its own).
        columns: ``(id, time, target)`` column names of a long data frame; a
            frame holding all three is read as long, any other as wide.
        where: the caller, named in errors.
    """
    if isinstance(y, dict):
        return _mapping(y, dates, where)
    if _is_frame(y):
        if dates is not None:
            raise ValueError(f"{where}: a DataFrame brings its own dates (its index, or "
                             f"the {columns[1]!r} column); do not pass dates=")
        if set(columns) <= set(y.columns):
            return _long(y, columns, where)
        return _wide(y, where)
    values = np.asarray(y)
    if values.ndim != 2:
        raise ValueError(f"{where}: a panel must be 2-D (time, n_series); got shape "
                         f"{values.shape}")
    return _columns(values, list(range(values.shape[1])), dates, where)


def static_matrix(static, series: list, *, where: str) -> np.ndarray:
    """Static covariates of a panel's series, ``(n_series, k)`` in the panel's order.

    Args:
        static: a 2-D array ``(n_series, k)`` (or 1-D, ``k = 1``) in the order
            of the panel's series; a ``dict`` ``{id: k values}``; or a pandas
            ``DataFrame`` with a row per series, indexed by the ids or with a
            ``unique_id`` column, every other column a covariate.
        series: the panel's :class:`SeriesData`.
        where: the caller, named in errors.
    """
    ids = [s.id for s in series]
    if _is_frame(static):
        frame = static.set_index(LONG_COLUMNS[0]) if LONG_COLUMNS[0] in static.columns \
            else static
        missing = [i for i in ids if i not in frame.index]
        if missing:
            raise ValueError(f"{where}: static has no row for series {missing[:10]}")
        static = frame.loc[ids].to_numpy(dtype=np.float64)
    elif isinstance(static, dict):
        missing = [i for i in ids if i not in static]
        if missing:
            raise ValueError(f"{where}: static has no entry for series {missing[:10]}")
        static = [np.atleast_1d(np.asarray(static[i], dtype=np.float64)) for i in ids]
        if len({v.shape for v in static}) != 1 or static[0].ndim != 1:
            raise ValueError(f"{where}: each series' static covariates must be the same "
                             f"number of values; got shapes {sorted({v.shape for v in static})}")
    values = np.asarray(static, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(ids) or values.shape[1] == 0:
        raise ValueError(f"{where}: static must hold a row of covariates per series, "
                         f"({len(ids)}, k); got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{where}: static covariates must be finite (a series' static "
                         f"value cannot be missing)")
    return values


def _is_frame(y) -> bool:
    """A pandas ``DataFrame`` (told apart without importing pandas)."""
    return type(y).__name__ == "DataFrame" and hasattr(y, "columns")


def _columns(values, ids, dates, where) -> list:
    """Series from the columns of ``(time, n)`` ``values``, leading NaN dropped."""
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{where}: the panel is empty: shape {values.shape}")
    if dates is not None:
        dates = np.asarray(dates)
        if dates.shape != (values.shape[0],):
            raise ValueError(f"{where}: dates must be ({values.shape[0]},), one per row of "
                             f"the panel; got shape {dates.shape}")
    out = []
    for j, name in enumerate(ids):
        column = values[:, j]
        observed = np.flatnonzero(~_isnan(column))
        if observed.size == 0:
            raise ValueError(f"{where}: series {name!r} has no observed value")
        first = observed[0]
        out.append(SeriesData(name, column[first:],
                              None if dates is None else dates[first:]))
    return out


def _mapping(y: dict, dates, where) -> list:
    if not y:
        raise ValueError(f"{where}: the dict of series is empty")
    if dates is not None and (not isinstance(dates, dict) or set(dates) != set(y)):
        raise ValueError(f"{where}: with a dict of series, dates must be a dict with the "
                         f"same keys (or None)")
    return [SeriesData(name, values, None if dates is None else dates[name])
            for name, values in y.items()]


def _isnan(values) -> np.ndarray:
    try:
        return np.isnan(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        return np.zeros(len(values), dtype=bool)  # non-numeric: the series check names it


def _wide(frame, where) -> list:
    index = frame.index
    dates = index.to_numpy() if np.issubdtype(index.dtype, np.datetime64) else None
    return _columns(frame.to_numpy(), list(frame.columns), dates, where)


def _long(frame, columns, where) -> list:
    id_col, time_col, target_col = columns
    if frame[[id_col, time_col]].isna().any().any():
        raise ValueError(f"{where}: the {id_col!r} and {time_col!r} columns must not be "
                         f"missing (NaN / NaT)")
    duplicated = frame.duplicated([id_col, time_col])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ValueError(f"{where}: series {row[id_col]!r} has two rows at "
                         f"{row[time_col]!r}; each (id, time) must appear once")
    out = []
    for name, group in frame.groupby(id_col, sort=False):
        group = group.sort_values(time_col)
        out.append(SeriesData(name, group[target_col].to_numpy(),
                              group[time_col].to_numpy()))
    if not out:
        raise ValueError(f"{where}: the data frame has no rows")
    return out


@dataclass
class PanelForecast:
    """Forecasts of every series of a panel, in the panel's order.

    Attributes:
        ids: ``(n_series,)`` the series' ids.
        forecasts: one :class:`~tagi_lstm.forecast.Forecast` per series.
    """

    ids: list
    forecasts: list

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, series) -> Forecast:
        """The forecast of the series with id ``series``."""
        try:
            return self.forecasts[self.ids.index(series)]
        except ValueError:
            raise KeyError(f"PanelForecast: no series {series!r}; the ids are "
                           f"{self.ids[:10]}{' ...' if len(self.ids) > 10 else ''}") from None

    def _stack(self, name: str) -> np.ndarray:
        lengths = {len(f) for f in self.forecasts}
        if len(lengths) > 1:
            raise ValueError(f"PanelForecast.{name}: the series have {sorted(lengths)} steps; "
                             f"take one with forecast[id] or all with to_pandas()")
        return np.stack([getattr(f, name) for f in self.forecasts], axis=1)

    @property
    def mean(self) -> np.ndarray:
        """``(steps, n_series)`` means (the series must share a length)."""
        return self._stack("mean")

    @property
    def std(self) -> np.ndarray:
        """``(steps, n_series)`` standard deviations."""
        return self._stack("std")

    @property
    def index(self) -> np.ndarray:
        """``(steps, n_series)`` timestamps or positions."""
        return self._stack("index")

    def plot(self, history=None, dates=None, ids=None, **kw):
        """Small multiples of some series' forecasts after their ``history`` (the panel
        given to ``fit``; :func:`tagi_lstm.plotting.plot_panel` says what ``kw`` takes)."""
        from ..plotting import plot_panel

        return plot_panel(self, history=history, dates=dates, ids=ids, **kw)

    def to_pandas(self, levels=(0.5, 0.9)):
        """A long ``DataFrame``: ``unique_id``, ``ds``, ``mean``, ``std`` and the interval
        bounds, one row per series and step (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("PanelForecast.to_pandas needs pandas: pip install pandas") \
                from exc
        frames = []
        for name, fc in zip(self.ids, self.forecasts):
            cols = fc.to_dict(levels)
            frame = pd.DataFrame({"unique_id": name, "ds": cols.pop("index"), **cols})
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def stack_backtests(ids, backtests) -> Backtest:
    """One :class:`~tagi_lstm.forecast.Backtest` of every series' rows (``series``
    names each row's series), so its scores pool the series per horizon step."""
    parts = None
    if all(bt.components is not None for bt in backtests):
        parts = {k: np.concatenate([bt.components[k] for bt in backtests])
                 for k in backtests[0].components}
    series = np.concatenate([np.full(len(bt.origins), i) for i, bt in enumerate(backtests)])
    return Backtest(np.concatenate([bt.origins for bt in backtests]),
                    np.concatenate([bt.index for bt in backtests]),
                    np.concatenate([bt.mean for bt in backtests]),
                    np.concatenate([bt.std for bt in backtests]),
                    np.concatenate([bt.observed for bt in backtests]), parts,
                    series=np.asarray(ids, dtype=object)[series],
                    distribution=Mixture.concatenate([bt.distribution for bt in backtests]))

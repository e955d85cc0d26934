"""What the forecasters share: the series seen (whole, or only its most recent steps),
the members' kept epochs, the held-out split and the fitted check."""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_int
from ..exceptions import NotFittedError


class ForecasterBase:
    """The parts :class:`~tagi_lstm.forecast.Forecaster` and
    :class:`~tagi_lstm.forecast.HybridForecaster` share (each has ``members_``, whose
    items have a ``best_epoch``).

    It keeps ``_y`` (and ``_cov``, ``_dates`` where the forecaster has them) for
    ``forecast()`` without a history, the default start of ``backtest`` and ``save``.

    With ``max_history`` only the last ``max(max_history, min_history)`` steps are kept,
    so a forecaster that streams ``update`` calls for ever holds bounded memory;
    ``n_seen_`` still counts every step, and positions (integer indices of forecasts
    without dates) go on from there.
    """

    max_history: int | None = None
    _dropped = 0
    _y = _cov = _dates = None

    @property
    def best_epochs_(self) -> tuple:
        """The epoch each member kept."""
        return tuple(m.best_epoch for m in self.members_)

    @property
    def best_epoch_(self):
        """The epoch the first member kept."""
        return self.members_[0].best_epoch if self.members_ else None

    def _check_fitted(self, what: str) -> None:
        if not self.members_:
            raise NotFittedError(f"{type(self).__name__}.{what}: this forecaster is not "
                                 f"fitted yet; call fit() first")

    @staticmethod
    def _training_steps(y, validation: float, where: str) -> int:
        """Steps of ``y`` trained on when the last ``validation`` fraction is held out."""
        if not 0 <= validation < 1:
            raise ValueError(f"{where}: validation must be a fraction in [0, 1); got "
                             f"{validation}")
        return len(y) - round(validation * len(y))

    @staticmethod
    def _check_max_history(value, where: str):
        return None if value is None else check_positive_int(value, name="max_history",
                                                             where=where)

    @property
    def n_seen_(self) -> int:
        """Steps seen by ``fit`` and ``update``, kept or not."""
        return self._dropped + (0 if self._y is None else len(self._y))

    def _remember(self, y, cov, dates) -> None:
        """After ``fit``: the training series (trimmed to ``max_history``)."""
        self._dropped = 0
        self._y, self._cov, self._dates = y, cov, dates
        self._trim()

    def _extend(self, y_new, cov_new, dates_new) -> None:
        """After ``update``: the new steps appended (then trimmed)."""
        self._y = np.concatenate([self._y, y_new])
        if cov_new is not None:
            self._cov = np.concatenate([self._cov, cov_new])
        if dates_new is not None:
            self._dates = np.concatenate([self._dates, dates_new])
        self._trim()

    def _trim(self) -> None:
        if self.max_history is None:
            return
        keep = max(self.max_history, self.min_history)
        drop = len(self._y) - keep
        if drop > 0:
            self._y = self._y[drop:].copy()
            self._cov = None if self._cov is None else self._cov[drop:].copy()
            self._dates = None if self._dates is None else self._dates[drop:].copy()
            self._dropped += drop

"""Exceptions of the library's own."""

from __future__ import annotations


class NotFittedError(ValueError, AttributeError):
    """A forecaster was asked to predict, forecast, update or save before ``fit``.

    A subclass of both ``ValueError`` and ``AttributeError``, as scikit-learn's
    ``NotFittedError`` is, so code written for either catches it.
    """

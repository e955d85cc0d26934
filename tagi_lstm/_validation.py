"""Input checks at the public boundary.

Everything a user hands to the library passes through :func:`check_array`
once; the layers and kernels behind it assume valid input. Errors name where
the problem is (a layer, a function), what was expected and what arrived.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from .backend import get_backend


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def is_device_array(x) -> bool:
    """True for a CuPy array (without importing CuPy when it is absent)."""
    cls = type(x)
    return cls is not np.ndarray and cls.__module__.split(".")[0] == "cupy"


def check_array(x, *, name: str, where: str, shape=None, size=None, finite: bool = True,
                nonnegative: bool = False, positive: bool = False, allow_nan: bool = False,
                backend=None):
    """Return ``x`` as an array after checking it.

    Args:
        x: array-like (NumPy or, with a CUDA backend, CuPy).
        name: what the argument is called, for the message (``"mu_x"``).
        where: who asked, for the message (``"Sequential.forward"``, a layer).
        shape: the exact shape required, if any.
        size: the exact number of elements required, if any.
        finite: reject NaN and infinite values.
        nonnegative: reject negative values (variances).
        positive: reject values that are zero or negative.
        allow_nan: with ``finite``, still accept NaN (missing observations)
            but not infinities.
        backend: array module the result must live in (default: NumPy).

    Raises:
        TypeError: ``x`` is not numeric.
        ValueError: wrong shape or size, non-finite or negative values.
    """
    if is_device_array(x):
        if backend is None or backend.HOST_MEMORY:
            raise TypeError(f"{where}: {name} is a CuPy (GPU) array but this runs on the CPU; "
                            f"pass a NumPy array or move the network with to_device('cuda')")
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{where}: {name} must be an array of numbers; got "
                            f"{type(x).__name__}") from exc
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{where}: {name} must hold real numbers; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize not in (4, 8):
        arr = arr.astype(np.float64)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{where}: {name} must have shape {_shape_text(shape)}; got "
                         f"{_shape_text(arr.shape)}")
    if size is not None and arr.size != size:
        raise ValueError(f"{where}: {name} must have {size} values; got {arr.size} "
                         f"(shape {_shape_text(arr.shape)})")
    if arr.size and arr.dtype.kind == "f" and (finite or nonnegative or positive):
        bk = backend if backend is not None and is_device_array(arr) else get_backend("cpu")
        if finite and not bk.all_finite(arr):
            _raise_non_finite(arr, name, where, allow_nan, bk.xp)
        if nonnegative or positive:
            low = float(bk.min_value(arr))
            if low < 0 or (positive and low == 0):
                kind = "positive" if positive else "non-negative"
                raise ValueError(f"{where}: {name} must be {kind} (it holds variances); found "
                                 f"a minimum of {low:g}")
    elif (nonnegative or positive) and arr.size:
        low = arr.min()
        if low < 0 or (positive and low == 0):
            kind = "positive" if positive else "non-negative"
            raise ValueError(f"{where}: {name} must be {kind} (it holds variances); found a "
                             f"minimum of {low}")
    return arr


def _raise_non_finite(arr, name, where, allow_nan, xp):
    """Raise for NaN or infinite values (NaN passes when ``allow_nan``)."""
    n_nan = int(xp.isnan(arr).sum())
    n_inf = int(xp.isinf(arr).sum())
    if allow_nan and n_inf == 0:
        return
    what = []
    if n_nan and not allow_nan:
        what.append(f"{n_nan} NaN")
    if n_inf:
        what.append(f"{n_inf} infinite")
    raise ValueError(f"{where}: {name} must be finite; found {' and '.join(what)} value(s)")


def check_positive_int(value, *, name: str, where: str) -> int:
    """``value`` as an ``int`` if it is a positive integer, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{where}: {name} must be a positive integer; got "
                        f"{type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer; got {value}")
    return int(value)


def check_real(value, *, name: str, where: str, positive: bool = False) -> float:
    """``value`` as a ``float`` if it is a finite real number (positive if asked)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise TypeError(f"{where}: {name} must be a finite real number; got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{where}: {name} must be positive; got {value}")
    return float(value)


def check_float_dtype(dtype, *, where: str) -> np.dtype:
    """``dtype`` as ``float32`` or ``float64``, else a clear error naming it."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{where}: dtype must be 'float32' or 'float64'; got {dtype!r}") \
            from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{where}: dtype must be 'float32' or 'float64'; got {dt}")
    return dt


def check_seed(seed, *, where: str):
    """``seed`` as a non-negative ``int``, or ``None``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative integer or None; got "
                         f"{seed!r}")
    return int(seed)

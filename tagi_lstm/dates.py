"""Timestamps of a series: validation, frequency inference, forecast dates on the calendar.

Dates are stored as 1-D NumPy ``datetime64[s]`` arrays. Frequencies are pandas
offset aliases (``"MS"``, ``"QE-DEC"``, ``"W-SUN"``, ``"30min"``, ...). Future
dates follow the calendar, not the last gap: a monthly series on month starts
stays on month starts, a month-end series goes Jan 31, Feb 29, Mar 31.

pandas is optional. When it is installed it infers frequencies and builds the
future dates, so any pandas alias works; without it a NumPy implementation
covers a subset (see :func:`future_dates`). One alias family is this module's
own: ``"P<n>M"`` / ``"P<n>Y"`` (ISO-8601 durations) for series on a fixed day
of the month other than the first or last, such as a yearly series on Feb 28
or a monthly one on the 15th, which no pandas alias describes.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime

import numpy as np

from ._validation import check_positive_int

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_TICKS = {"D": 86400, "h": 3600, "min": 60, "s": 1}
_ALIAS = re.compile(r"([1-9]\d*)?(MS|ME|QS|QE|YS|YE|W|B|D|h|min|s)(?:-([A-Z]{3}))?")
_DAY_ALIAS = re.compile(r"P([1-9]\d*)([MY])")
_NUMPY_ALIASES = ("[n]MS, [n]ME, [n]QS-MON, [n]QE-MON, [n]YS-MON, [n]YE-MON, [n]W-DAY, "
                  "[n]B, [n]D, [n]h, [n]min, [n]s, P<n>M, P<n>Y")


def _pandas():
    """pandas, or None when it is not installed (tests replace this to force NumPy)."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def check_dates(dates, n=None, *, where="dates") -> np.ndarray:
    """Return ``dates`` as a strictly increasing 1-D ``datetime64[s]`` array.

    Timezone-aware input (pandas timestamps, Python datetimes, strings with an
    offset) is converted to UTC and the zone dropped, so the series keeps its
    true order across daylight-saving changes; naive timestamps are taken as
    they are. A ``PeriodIndex`` gives the start of each period.

    Args:
        dates: ``datetime64`` array, list of date strings or ``datetime``
            objects, pandas ``DatetimeIndex``, ``PeriodIndex`` or ``Series``.
        n: the number of timestamps required (one per step of the series).
        where: who asked, for the messages.

    Returns:
        ``(len(dates),)`` array of dtype ``datetime64[s]``.

    Raises:
        TypeError: numbers or durations instead of timestamps.
        ValueError: not 1-D, not ``n`` long, unparseable values, NaT,
            sub-second precision, duplicated or unsorted timestamps.
    """
    if type(dates).__module__.split(".")[0] == "pandas":
        dates = _from_pandas(dates)
    arr = np.asarray(dates)
    if arr.ndim != 1:
        raise ValueError(f"{where}: dates must be 1-D (one timestamp per step); got shape "
                         f"{arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{where}: dates must have one timestamp per step of y ({n}); got "
                         f"shape {arr.shape}")
    if arr.size == 0:
        return np.array([], dtype="datetime64[s]")
    if arr.dtype.kind in "biufcm":
        raise TypeError(f"{where}: dates must be timestamps (datetime64, date strings or "
                        f"datetime objects); got values of dtype {arr.dtype}")
    if arr.dtype.kind != "M":
        arr = _parse(arr, where)
    out = arr.astype("datetime64[s]")
    nat = np.isnat(out)
    if nat.any():
        raise ValueError(f"{where}: dates must not contain NaT (missing timestamps); found "
                         f"{int(nat.sum())}, the first at position {int(np.argmax(nat))}")
    lost = np.flatnonzero(out != arr)
    if lost.size:
        raise ValueError(f"{where}: dates must be whole seconds; got {arr[lost[0]]} at "
                         f"position {lost[0]}")
    back = np.flatnonzero(np.diff(out) <= np.timedelta64(0, "s"))
    if back.size:
        _, first, counts = np.unique(out, return_index=True, return_counts=True)
        if np.any(counts > 1):
            twice = out[first[counts > 1].min()]
            raise ValueError(f"{where}: dates must be unique; {twice} appears at positions "
                             f"{np.flatnonzero(out == twice).tolist()}")
        i = int(back[0]) + 1
        raise ValueError(f"{where}: dates must be increasing; time goes backwards at position "
                         f"{i} ({out[i]} after {out[i - 1]})")
    return out


def infer_frequency(dates) -> str:
    """The step of a regular series, as a pandas offset alias.

    Month-based steps are read from the calendar first (``"MS"``, ``"QE-DEC"``,
    ``"2MS"``, ``"P<n>M"`` for another fixed day of the month), as
    ``pd.infer_freq`` takes a yearly series on Feb 28 for a business year
    end; then ``pd.infer_freq`` when pandas is installed; last, the most
    common step if every gap is a whole multiple of it (a weekly series with
    missing weeks is still ``"W-SUN"``), or business days ``"B"``.

    Args:
        dates: at least 2 timestamps, anything :func:`check_dates` accepts.

    Returns:
        The alias, e.g. ``"MS"``, ``"QE-DEC"``, ``"YS-JAN"``, ``"W-SAT"``, ``"h"``.

    Raises:
        ValueError: invalid dates, fewer than 2, or irregular steps.
    """
    return _infer(check_dates(dates, where="infer_frequency"), "infer_frequency")


def future_dates(dates, horizon, freq=None) -> np.ndarray:
    """The ``horizon`` timestamps after ``dates[-1]``, on the calendar of ``freq``.

    Anchored aliases give their next dates after the last one (``"MS"`` after
    Jan 15 gives Feb 1, Mar 1); fixed steps (``"h"``, ``"D"``) add multiples
    of the step to the last date. ``"P<n>M"`` steps ``n`` months on the
    largest day of the month in ``dates``, clipped to shorter months (a
    series on the 30th goes on after a Feb 28 on Mar 30). Without pandas the
    aliases understood are ``[n]MS``, ``[n]ME``, ``[n]QS|QE|YS|YE-<MON>``
    (default JAN for starts, DEC for ends), ``[n]W-<DAY>`` (default SUN),
    ``[n]B``, ``[n]D``, ``[n]h``, ``[n]min``, ``[n]s``, ``P<n>M``, ``P<n>Y``.

    Args:
        dates: the timestamps of the series, anything :func:`check_dates` accepts.
        horizon: how many future timestamps.
        freq: pandas offset alias (or, with pandas, a ``DateOffset``);
            inferred with :func:`infer_frequency` when None.

    Returns:
        ``(horizon,)`` array of dtype ``datetime64[s]``.

    Raises:
        TypeError: ``horizon`` is not an integer or ``freq`` not a string.
        ValueError: invalid dates, ``horizon`` < 1, an unknown alias (or one
            that needs pandas when it is absent), or no ``freq`` and the
            frequency cannot be inferred.
    """
    where = "future_dates"
    d = check_dates(dates, where=where)
    horizon = check_positive_int(horizon, name="horizon", where=where)
    pd = _pandas()
    if freq is None:
        freq = _infer(d, where)
    elif not isinstance(freq, str) and not (pd is not None and isinstance(freq, pd.DateOffset)):
        raise TypeError(f"{where}: freq must be a pandas offset alias string such as 'MS'; "
                        f"got {type(freq).__name__} {freq!r}")
    if d.size == 0:
        raise ValueError(f"{where}: dates must hold at least one timestamp to continue from")
    if pd is None or (isinstance(freq, str) and _DAY_ALIAS.fullmatch(freq)):
        return _future_numpy(d, horizon, freq, where)
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise ValueError(f"{where}: unknown freq {freq!r}; expected a pandas offset alias "
                         f"such as 'MS', 'ME', 'QS-OCT', 'YE-DEC', 'W-SUN', 'D' or 'h'") from None
    if offset.n < 1:
        raise ValueError(f"{where}: freq must step forward in time; got {freq!r}")
    # date_range starts at the first on-offset date >= the last one, which is the last
    # date itself only when that is on the offset; one period more covers both cases
    rng = pd.date_range(pd.Timestamp(d[-1]), periods=horizon + 1, freq=offset, unit="s")
    out = rng.to_numpy().astype("datetime64[s]")
    return out[out > d[-1]][:horizon]


def season_length(freq) -> int | None:
    """The calendar cycle a frequency repeats in, in steps: a day of sub-daily
    steps, a week of days (5 business days), a year of weeks, months or quarters.

    Args:
        freq: an offset alias as :func:`infer_frequency` returns.

    Returns:
        Steps per season (``"h"``: 24, ``"30min"``: 48, ``"D"``: 7,
        ``"W-SUN"``: 52, ``"MS"``: 12, ``"QS-OCT"``: 4), or ``None`` where no
        cycle fits a whole number of steps (yearly steps, an alias it does not
        know).
    """
    match = _DAY_ALIAS.fullmatch(str(freq))
    if match:
        k, unit = int(match[1]), "MS" if match[2] == "M" else "YS"
    else:
        match = _ALIAS.fullmatch(str(freq))
        if match is None:
            return None
        k, unit = int(match[1] or 1), match[2]
    if unit in ("h", "min", "s"):
        step = k * _TICKS[unit]
        return 86400 // step if 86400 % step == 0 and step < 86400 else None
    if unit in ("D", "B", "W"):
        return {"D": 7, "B": 5, "W": 52}[unit] if k == 1 else None
    per_year = {"M": 12, "Q": 4, "Y": 1}[unit[0]]
    return per_year // k if per_year % k == 0 and per_year // k > 1 else None


def _from_pandas(dates):
    """Plain timestamps from a pandas Index/Series of periods or zoned timestamps."""
    import pandas as pd  # a pandas object arrived, so pandas is importable

    if not isinstance(dates, pd.Index | pd.Series):
        return dates
    idx = pd.Index(dates)
    if isinstance(idx, pd.PeriodIndex):
        idx = idx.to_timestamp(how="start")
    elif isinstance(idx, pd.DatetimeIndex) and idx.tz is not None:
        idx = idx.tz_convert(None)
    return idx.to_numpy()


def _parse(arr, where):
    if arr.dtype == object:
        arr = np.array([v.astimezone(UTC).replace(tzinfo=None)
                        if isinstance(v, datetime) and v.tzinfo is not None else v
                        for v in arr], dtype=object)
    try:
        with warnings.catch_warnings():
            # NumPy converts strings with a UTC offset to UTC, the documented behaviour
            warnings.filterwarnings("ignore", "no explicit representation of timezones")
            return arr.astype("datetime64[s]")
    except (ValueError, TypeError, OverflowError):
        pass
    pd = _pandas()
    if pd is not None:
        try:
            return pd.to_datetime(arr, format="mixed", utc=True).tz_convert(None).to_numpy()
        except (ValueError, TypeError, OverflowError):
            pass
    parsers = (np.datetime64,) if pd is None else (np.datetime64, pd.Timestamp)
    for i, value in enumerate(arr.tolist()):
        if not any(_parses(parse, value) for parse in parsers):
            raise ValueError(f"{where}: dates must be timestamps; could not parse {value!r} "
                             f"at position {i}")
    raise ValueError(f"{where}: dates could not be parsed as one series of timestamps "
                     f"(mixed formats?); pass a datetime64 array")


def _parses(parse, value) -> bool:
    try:
        parse(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _infer(d, where):
    if d.size < 2:
        raise ValueError(f"{where}: inferring the frequency needs at least 2 dates; got "
                         f"{d.size}. Pass freq= explicitly (e.g. freq=\"MS\")")
    pd = _pandas()
    alias = _month_alias(d)
    if alias is None and pd is not None and d.size >= 3:
        with warnings.catch_warnings():
            # pandas 3 warns that infer_freq will return an offset instead of its alias;
            # either is read as the alias below
            warnings.filterwarnings("ignore", message=".*infer_freq.*")
            inferred = pd.infer_freq(pd.DatetimeIndex(d))
        alias = getattr(inferred, "freqstr", inferred)
    if alias is None:
        alias = _fixed_alias(d)
    if alias is None:
        steps = np.unique(np.diff(d))
        raise ValueError(f"{where}: could not infer the frequency of the dates ({steps.size} "
                         f"different steps, from {steps[0]} to {steps[-1]}); pass freq= "
                         f"explicitly (e.g. freq=\"MS\")")
    return alias


def _mode(values) -> int:
    vals, counts = np.unique(values, return_counts=True)
    return int(vals[np.argmax(counts)])


def _mult(k) -> str:
    return "" if k == 1 else str(k)


def _month_length(months):
    return ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(int)


def _weekday(days):
    return (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


def _month_alias(d):
    """``[n]MS``/``ME``/``QS``/``QE``/``YS``/``YE`` or ``P<n>M`` if the dates sit on the
    month grid."""
    days = d.astype("datetime64[D]")
    if np.any(d - days != d[0] - days[0]):
        return None
    months = days.astype("datetime64[M]")
    gaps = np.diff(months.astype(np.int64))
    step = _mode(gaps)
    if step <= 0 or np.any(gaps <= 0) or np.any(gaps % step):
        return None
    dom = (days - months).astype(int) + 1
    length = _month_length(months)
    if np.all(dom == 1):
        kind = "S"
    # all on the 28th: Februaries of common years, read as "the 28th" so they stay there
    elif np.all(dom == length) and not np.all(dom == 28):
        kind = "E"
    elif np.all(dom == np.minimum(dom.max(), length)):
        return f"P{step // 12}Y" if step % 12 == 0 else f"P{step}M"
    else:
        return None
    month = int(months[0].astype(np.int64)) % 12  # 0 is January
    if step % 12 == 0:
        return f"{_mult(step // 12)}Y{kind}-{_MONTHS[month]}"
    if step % 3 == 0:  # pandas names a quarterly cycle by its month in Oct..Dec
        return f"{_mult(step // 3)}Q{kind}-{_MONTHS[9 + (month - 9) % 3]}"
    return f"{_mult(step)}M{kind}"


def _fixed_alias(d):
    """A fixed step (or business days) that every gap is a whole multiple of."""
    gaps = np.diff(d).astype(np.int64)
    step = _mode(gaps)
    days = d.astype("datetime64[D]")
    if np.any(gaps != step) and np.all(d - days == d[0] - days[0]) and np.is_busday(days).all():
        busgaps = np.busday_count(days[:-1], days[1:])
        if _mode(busgaps) == 1 and np.any(np.diff(days).astype(int) > busgaps):
            return "B"
    if np.any(gaps % step):
        return None
    if step % (7 * 86400) == 0:
        return f"{_mult(step // (7 * 86400))}W-{_DAYS[_weekday(days[0])]}"
    unit = next(u for u, s in _TICKS.items() if step % s == 0)
    return f"{_mult(step // _TICKS[unit])}{unit}"


def _future_numpy(d, horizon, freq, where):
    last = d[-1]
    day = last.astype("datetime64[D]")
    steps = np.arange(horizon + 1)  # one more, as the first may be the last date itself
    match = _DAY_ALIAS.fullmatch(freq)
    if match:
        months = int(match[1]) * (12 if match[2] == "Y" else 1)
        days = d.astype("datetime64[D]")
        target = int((days - days.astype("datetime64[M]")).astype(int).max()) + 1
        candidates = _on_months(day.astype("datetime64[M]") + months * steps, target)
    else:
        match = _ALIAS.fullmatch(freq)
        unit, anchor = (match[2], match[3]) if match else (None, None)
        anchors = _MONTHS if unit and unit[0] in "QY" else _DAYS if unit == "W" else ()
        if match is None or (anchor is not None and anchor not in anchors):
            raise ValueError(f"{where}: freq {freq!r} is not one of the aliases understood "
                             f"without pandas ({_NUMPY_ALIASES}); install pandas for the others")
        k = int(match[1] or 1)
        if unit in _TICKS:
            return last + np.arange(1, horizon + 1) * np.timedelta64(k * _TICKS[unit], "s")
        if unit == "B":
            candidates = np.busday_offset(np.busday_offset(day, 0, roll="forward"), k * steps)
        elif unit == "W":
            candidates = day + (_DAYS.index(anchor or "SUN") - _weekday(day)) % 7 + 7 * k * steps
        else:
            period = {"M": 1, "Q": 3, "Y": 12}[unit[0]]
            index = int(day.astype("datetime64[M]").astype(np.int64))
            first = index + (_MONTHS.index(anchor or ("JAN" if unit[1] == "S" else "DEC"))
                             - index) % period
            if unit[1] == "S" and first == index and day != np.datetime64(index, "M"):
                first += period  # this month's start has passed
            candidates = _on_months(np.datetime64(first, "M") + k * period * steps,
                                    1 if unit[1] == "S" else 31)
    candidates = candidates + (last - day)  # the time of day of the last date
    return candidates[candidates > last][:horizon]


def _on_months(months, day_of_month):
    """Day ``day_of_month`` of each of ``months``, clipped to the month's length."""
    return months.astype("datetime64[D]") + np.minimum(day_of_month, _month_length(months)) - 1

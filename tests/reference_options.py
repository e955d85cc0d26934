"""Deterministic NumPy references for the LSTM options (bidirectional, projections,
variable lengths, last-step output): every row alone, a plain loop over its valid steps.

Written from the documented layouts, not from the package's code: gate order
f, i, g, o, ``a_t = [x_t ; h_{t-1}]``, projection ``h_t <- W_hr h_t``, the
reverse direction reading the valid steps of a row from the last.
"""

from __future__ import annotations

import numpy as np
from reference import sigmoid

from tagi_lstm.nn import LSTM, Linear


def lstm_direction(x_row, w, b, w_hr, h0, c0):
    """One direction over one row ``(L, H_in)``: outputs ``(L, F)`` and the final ``(h, c)``."""
    no = w.shape[0] // 4
    h, c = h0, c0
    outputs = []
    for x_t in x_row:
        z = w @ np.concatenate([x_t, h])
        if b is not None:
            z = z + b
        f, i = sigmoid(z[:no]), sigmoid(z[no:2 * no])
        g, o = np.tanh(z[2 * no:3 * no]), sigmoid(z[3 * no:])
        c = f * c + i * g
        h = o * np.tanh(c)
        if w_hr is not None:
            h = w_hr @ h
        outputs.append(h)
    return np.array(outputs), h, c


def split_params(layer, w_flat, b_flat):
    """``[(W, W_hr or None, b or None), ...]`` per direction, from the flat vectors."""
    ni, no, p = layer.input_size, layer.output_size, layer.proj_size
    n_gate = 4 * no * (ni + (p or no))
    n_dir = n_gate + p * no
    w_flat = np.asarray(w_flat, dtype=float)
    b_flat = np.asarray(b_flat, dtype=float) if len(b_flat) else None
    directions = []
    for d in range(2 if layer.bidirectional else 1):
        w = w_flat[d * n_dir:(d + 1) * n_dir]
        directions.append((w[:n_gate].reshape(4 * no, -1),
                           w[n_gate:].reshape(p, no) if p else None,
                           None if b_flat is None else b_flat[d * 4 * no:(d + 1) * 4 * no]))
    return directions


def lstm_layer(layer, w_flat, b_flat, x, lengths=None, states=None):
    """An LSTM layer (any options) over ``x`` ``(B, T, H_in)``.

    Returns every step's output ``(B, T, D * F)`` (zeros on padded steps) and
    ``(h_n, c_n)``, ``(D, B, F)`` and ``(D, B, H_cell)``. ``states`` is
    ``(h_0, c_0)`` of those shapes.
    """
    B, T, _ = x.shape
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    directions = split_params(layer, w_flat, b_flat)
    D, no = len(directions), layer.output_size
    F = layer.proj_size or no
    out = np.zeros((B, T, D * F))
    h_n, c_n = np.zeros((D, B, F)), np.zeros((D, B, no))
    for row in range(B):
        L = lengths[row]
        for d, (w, w_hr, b) in enumerate(directions):
            h0 = np.zeros(F) if states is None else states[0][d, row]
            c0 = np.zeros(no) if states is None else states[1][d, row]
            xs = x[row, :L] if d == 0 else x[row, :L][::-1]
            o, h, c = lstm_direction(xs, w, b, w_hr, h0, c0)
            out[row, :L, d * F:(d + 1) * F] = o if d == 0 else o[::-1]
            h_n[d, row], c_n[d, row] = h, c
    return out, (h_n, c_n)


def network(layers, params, x, lengths=None):
    """A stack of LSTM (any options) and Linear layers; ``x`` ``(B, in_width)``."""
    a = np.asarray(x, dtype=float)
    B = a.shape[0]
    for i, layer in enumerate(layers):
        if isinstance(layer, LSTM):
            out, _ = lstm_layer(layer, *params[i], a.reshape(B, layer.seq_len, layer.input_size),
                                lengths)
            if layer.return_sequences:
                a = out.reshape(B, -1)
            else:
                last = (np.full(B, layer.seq_len) if lengths is None else lengths) - 1
                a = out[np.arange(B), last]
                lengths = None
        elif isinstance(layer, Linear):
            w, b = params[i]
            a = a @ np.reshape(w, (layer.output_size, layer.input_size)).T
            if len(b):
                a = a + b
        else:  # pragma: no cover
            raise TypeError(f"no reference for {layer!r}")
    return a

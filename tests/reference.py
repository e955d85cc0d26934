"""Deterministic NumPy networks: the oracles the TAGI layers are checked against.

Written independently of the package: plain loops over time, float64, the
gate order f, i, g, o and ``a_t = [x_t ; h_{t-1}]`` of docs/theory.rst §4.
"""

from __future__ import annotations

import numpy as np

from tagi_lstm.nn import LSTM, Linear, ReLU, Sigmoid, Tanh


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_forward(x, w, b, h0=None, c0=None):
    """Deterministic LSTM over a window.

    Args:
        x: ``(batch, seq_len, input_size)``.
        w: ``(4 * hidden, input_size + hidden)``, gate blocks f, i, g, o.
        b: ``(4 * hidden,)`` or None.

    Returns:
        hidden states of every step ``(batch, seq_len, hidden)`` and the last
        ``(h, c)``.
    """
    batch, seq_len, _ = x.shape
    no = w.shape[0] // 4
    h = np.zeros((batch, no)) if h0 is None else np.array(h0, dtype=float)
    c = np.zeros((batch, no)) if c0 is None else np.array(c0, dtype=float)
    out = np.empty((batch, seq_len, no))
    for t in range(seq_len):
        z = np.concatenate([x[:, t], h], axis=1) @ w.T
        if b is not None:
            z = z + b
        f = sigmoid(z[:, :no])
        i = sigmoid(z[:, no:2 * no])
        g = np.tanh(z[:, 2 * no:3 * no])
        o = sigmoid(z[:, 3 * no:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[:, t] = h
    return out, (h, c)


def network_forward(layers, params, x, states=None):
    """Deterministic forward of a stack described by ``layers`` with ``params``.

    ``params[i]`` is ``(w_mean, b_mean)`` (flat, as the layer stores them) for
    layers with parameters. ``x`` is ``(batch, in_width)``. ``states`` maps an
    LSTM layer index to its initial ``(h0, c0)``.
    """
    a = np.asarray(x, dtype=float)
    batch = a.shape[0]
    for i, layer in enumerate(layers):
        if isinstance(layer, LSTM):
            ni, no, seq_len = layer.input_size, layer.output_size, layer.seq_len
            w, b = params[i]
            h0, c0 = (states or {}).get(i, (None, None))
            out, _ = lstm_forward(a.reshape(batch, seq_len, ni),
                                  np.reshape(w, (4 * no, ni + no)),
                                  None if b is None or len(b) == 0 else np.asarray(b), h0, c0)
            a = out.reshape(batch, seq_len * no)
        elif isinstance(layer, Linear):
            w, b = params[i]
            a = a @ np.reshape(w, (layer.output_size, layer.input_size)).T
            if b is not None and len(b):
                a = a + b
        elif isinstance(layer, ReLU):
            a = np.maximum(a, 0.0)
        elif isinstance(layer, Sigmoid):
            a = sigmoid(a)
        elif isinstance(layer, Tanh):
            a = np.tanh(a)
        else:  # pragma: no cover - a new layer type needs a reference here
            raise TypeError(f"no reference for {layer!r}")
    return a


def mean_params(net):
    """``{index: (mu_w, mu_b)}`` as float64 copies."""
    return {i: (np.array(layer.mu_w, dtype=float), np.array(layer.mu_b, dtype=float))
            for i, layer in enumerate(net.layers) if layer.num_weights}


def tagi_lstm_moments(x_mu, x_var, w_mu, w_var, b_mu, b_var, h0=None, c0=None,
                      bounded=True):
    """docs/theory.rst §4 transcribed gate by gate: the means and variances of ``h_t``.

    A second, independent implementation of the TAGI LSTM forward pass
    (no stacked gates, no split of the sums between x and h), used to show
    the package computes exactly the equations it documents.

    Args:
        x_mu, x_var: ``(batch, seq_len, input_size)``.
        w_mu, w_var: ``(4 * hidden, input_size + hidden)``, gates f, i, g, o.
        b_mu, b_var: ``(4 * hidden,)``.
        h0, c0: optional ``(mu, var)`` pairs of ``(batch, hidden)`` arrays.
        bounded: cap each activation's variance at the most its range allows and
            each covariance at its Cauchy-Schwarz bound (as the package does);
            ``False`` gives the plain linearised equations.

    Returns:
        ``(mu_h, var_h)`` of shape ``(batch, seq_len, hidden)``.
    """
    batch, seq_len, _ = x_mu.shape
    no = w_mu.shape[0] // 4
    gate = {name: slice(k * no, (k + 1) * no) for k, name in enumerate("figo")}

    def cap(v, upper):
        return np.minimum(v, upper) if bounded else v

    m_h, s_h = (np.zeros((batch, no)), np.zeros((batch, no))) if h0 is None else h0
    m_c, s_c = (np.zeros((batch, no)), np.zeros((batch, no))) if c0 is None else c0
    out_m = np.empty((batch, seq_len, no))
    out_s = np.empty((batch, seq_len, no))
    for t in range(seq_len):
        m_a = np.concatenate([x_mu[:, t], m_h], axis=1)
        s_a = np.concatenate([x_var[:, t], s_h], axis=1)
        m, s, jac = {}, {}, {}
        for name, rows in gate.items():
            mw, sw = w_mu[rows], w_var[rows]
            m_z = m_a @ mw.T + b_mu[rows]
            s_z = (m_a ** 2 + s_a) @ sw.T + s_a @ (mw ** 2).T + b_var[rows]
            if name == "g":
                m[name] = np.tanh(m_z)
                jac[name] = 1 - m[name] ** 2
            else:
                m[name] = sigmoid(m_z)
                jac[name] = m[name] * (1 - m[name])
            # at most the variance a variable in the activation's range can have
            upper = 1 - m[name] ** 2 if name == "g" else m[name] * (1 - m[name])
            s[name] = cap(jac[name] ** 2 * s_z, upper)

        def cov_sum(p, q, s_a=s_a):
            return s_a @ (w_mu[gate[p]] * w_mu[gate[q]]).T

        def valid(c, s_p, s_q):
            return np.clip(c, -np.sqrt(s_p * s_q), np.sqrt(s_p * s_q)) if bounded else c

        c_ig = valid(jac["i"] * jac["g"] * cov_sum("i", "g"), s["i"], s["g"])
        m_fc, s_fc = m["f"] * m_c, s["f"] * s_c + s["f"] * m_c ** 2 + s_c * m["f"] ** 2
        m_ig = m["i"] * m["g"] + c_ig
        s_ig = (s["i"] * s["g"] + c_ig ** 2 + 2 * c_ig * m["i"] * m["g"]
                + s["i"] * m["g"] ** 2 + s["g"] * m["i"] ** 2)
        m_cp = m_c
        m_c, s_c = m_fc + m_ig, s_fc + s_ig
        m_tc = np.tanh(m_c)
        j_tc = 1 - m_tc ** 2
        s_tc = cap(j_tc ** 2 * s_c, 1 - m_tc ** 2)
        c_otc = valid(j_tc * jac["o"] * (jac["f"] * m_cp * cov_sum("f", "o")
                                         + jac["i"] * m["g"] * cov_sum("i", "o")
                                         + jac["g"] * m["i"] * cov_sum("g", "o")),
                      s["o"], s_tc)
        m_h = m["o"] * m_tc + c_otc
        s_h = cap(s["o"] * s_tc + c_otc ** 2 + 2 * c_otc * m["o"] * m_tc
                  + s["o"] * m_tc ** 2 + s_tc * m["o"] ** 2, 1 - m_h ** 2)
        out_m[:, t], out_s[:, t] = m_h, s_h
    return out_m, out_s


def central_difference(f, theta, h=1e-6):
    """Gradient of the scalar ``f()`` with respect to the array ``theta`` by central
    differences (``theta`` is changed in place and restored)."""
    grad = np.empty_like(theta)
    for idx in np.ndindex(theta.shape):
        old = theta[idx]
        theta[idx] = old + h
        up = f()
        theta[idx] = old - h
        down = f()
        theta[idx] = old
        grad[idx] = (up - down) / (2 * h)
    return grad

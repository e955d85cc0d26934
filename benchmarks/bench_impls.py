"""The implementations under test: tagi_lstm, pytagi and torch.nn.LSTM + Adam.

Each class builds the same network for a :class:`~bench_workloads.Workload`
and trains it one batch per ``train_batch`` call (float32). Its
``import_library()`` imports the library alone (the worker measures memory
after it, before the network exists); peers are imported only there, so the
benchmark needs neither of them: a missing or broken peer raises
:class:`Unavailable` with the reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

#: Observation-noise variance of the TAGI updates (tagi_lstm and pytagi alike).
VAR_OBS = 0.1


class Unavailable(RuntimeError):
    """This implementation cannot run here (package missing, no GPU, ...)."""


def _no_sync() -> None:
    """CPU work is finished when the call returns: nothing to wait for."""


def import_pytagi():
    """``pytagi`` and its ``nn`` module, or :class:`Unavailable` with the reason."""
    # Loaded as a file, not through the package: pytagi's worker process must not
    # import tagi_lstm (its memory is measured).
    path = Path(__file__).resolve().parents[1] / "tagi_lstm" / "peers.py"
    spec = importlib.util.spec_from_file_location("_tagi_lstm_peers", path)
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    try:
        return peers.import_pytagi()
    except ImportError as exc:
        raise Unavailable(f"pytagi unavailable: {exc}") from exc


def _tagi_network(nn, w):
    """``Sequential(LSTM(ni, h, T), [LSTM(h, h, T), ...] Linear(h * T, 1))``.

    ``nn`` is ``tagi_lstm.nn`` or ``pytagi.nn``: the two share this API.
    """
    layers = [nn.LSTM(w.input_size, w.hidden, w.seq_len)]
    layers += [nn.LSTM(w.hidden, w.hidden, w.seq_len) for _ in range(w.layers - 1)]
    return nn.Sequential(*layers, nn.Linear(w.hidden * w.seq_len, 1))


class TagiLstm:
    """This package: ``net(x)`` then ``net.update(y, var_obs)``."""

    name = "tagi_lstm"

    @staticmethod
    def import_library():
        import tagi_lstm.nn

        return tagi_lstm

    def __init__(self, w, batches, threads: int, device: str, seed: int):
        tagi_lstm = self.import_library()
        self.version = tagi_lstm.__version__
        tagi_lstm.manual_seed(seed)
        self.net = _tagi_network(tagi_lstm.nn, w)
        if threads:  # 0: the library's default choice
            self.net.set_threads(threads)
        self.xp, self.sync = np, _no_sync
        if device == "cuda":
            try:
                self.net.to_device("cuda")
            except Exception as exc:
                raise Unavailable(f"tagi_lstm CUDA backend unavailable: "
                                  f"{type(exc).__name__}: {exc}") from exc
            import cupy

            self.xp = cupy
            self.sync = cupy.cuda.Device().synchronize
        # Data live where the network computes, as torch's do, so that no batch
        # pays a host-to-device copy that the others do not.
        var = np.full(w.batch, VAR_OBS, np.float32)
        self.batches = [(self.xp.asarray(x), self.xp.asarray(y), self.xp.asarray(var))
                        for x, y in batches]

    def train_batch(self, i: int) -> None:
        x, y, var = self.batches[i % len(self.batches)]
        self.net(x)
        self.net.update(y, var)

    def gpu_peak_bytes(self):
        """Bytes held by CuPy's memory pool (it keeps what it once allocated)."""
        return int(self.xp.get_default_memory_pool().total_bytes()) if self.xp is not np \
            else None


class Pytagi:
    """pytagi 0.2 (cuTAGI bindings): forward, ``OutputUpdater``, backward, step."""

    name = "pytagi"

    @staticmethod
    def import_library():
        return import_pytagi()

    def __init__(self, w, batches, threads: int, device: str, seed: int):
        pytagi = self.import_library()
        self.version = pytagi.__version__
        pytagi.manual_seed(seed)
        self.net = _tagi_network(pytagi.nn, w)
        self.net.set_threads(threads)
        if device == "cuda":
            if not self._cuda_available(pytagi):
                raise Unavailable("pytagi unavailable on cuda: its CUDA runtime reports no "
                                  "usable GPU")
            self.net.to_device("cuda")
        self.updater = pytagi.nn.OutputUpdater(self.net.device)
        self.xp, self.sync = np, _no_sync  # pytagi returns only after the GPU is done
        # pytagi's layout: flat rows back to back, each time-major.
        var = np.full(w.batch, VAR_OBS, np.float32)
        self.batches = [(np.ascontiguousarray(x).reshape(-1), y, var) for x, y in batches]

    @staticmethod
    def _cuda_available(pytagi) -> bool:
        # On a machine without a (recent enough) driver the check raises
        # instead of returning False.
        try:
            return bool(pytagi.cuda.is_available())
        except Exception:  # noqa: BLE001
            return False

    def train_batch(self, i: int) -> None:
        x, y, var = self.batches[i % len(self.batches)]
        self.net(x)
        self.updater.update(output_states=self.net.output_z_buffer, mu_obs=y, var_obs=var,
                            delta_states=self.net.input_delta_z_buffer)
        self.net.backward()
        self.net.step()

    def gpu_peak_bytes(self):
        return None


class TorchLstm:
    """Deterministic peer: ``torch.nn.LSTM`` + ``Linear`` on all steps, MSE, Adam."""

    name = "torch"

    @staticmethod
    def import_library():
        if importlib.util.find_spec("torch") is None:
            raise Unavailable("torch unavailable: not installed (pip install torch)")
        import torch

        return torch

    def __init__(self, w, batches, threads: int, device: str, seed: int):
        torch = self.import_library()
        from torch import nn

        if device == "cuda" and not torch.cuda.is_available():
            raise Unavailable("torch unavailable on cuda: torch.cuda.is_available() is False")
        self.version = torch.__version__
        self.torch = torch
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.lstm = nn.LSTM(w.input_size, w.hidden, w.layers, batch_first=True).to(self.device)
        self.head = nn.Linear(w.hidden * w.seq_len, 1).to(self.device)
        self.opt = torch.optim.Adam([*self.lstm.parameters(), *self.head.parameters()],
                                    lr=1e-3)
        self.loss = nn.MSELoss()
        self.batches = [(torch.from_numpy(x).to(self.device),
                         torch.from_numpy(y).reshape(-1, 1).to(self.device))
                        for x, y in batches]
        self.xp = np
        self.sync = torch.cuda.synchronize if device == "cuda" else _no_sync

    def train_batch(self, i: int) -> None:
        x, y = self.batches[i % len(self.batches)]
        self.opt.zero_grad(set_to_none=True)
        h, _ = self.lstm(x)
        loss = self.loss(self.head(h.reshape(h.shape[0], -1)), y)
        loss.backward()
        self.opt.step()

    def gpu_peak_bytes(self):
        if self.device.type != "cuda":
            return None
        return int(self.torch.cuda.max_memory_allocated(self.device))


IMPLEMENTATIONS = {cls.name: cls for cls in (TagiLstm, Pytagi, TorchLstm)}

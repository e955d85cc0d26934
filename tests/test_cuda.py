"""The CUDA backend: kernel sources, clear errors without CuPy or a GPU, and
CPU/GPU parity (docs/theory.rst §10, oracle 6).

The source, packaging and error tests run everywhere (the nvcc test where
``nvcc`` is on PATH). The parity tests are marked ``gpu`` and skip, saying
why, where CuPy cannot run a kernel on a GPU. Parity is measured per array as
``max |gpu - cpu| / max |cpu|``: at most 1e-10 in float64 and 1e-4 in float32.
"""

import importlib.resources
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest

import tagi_lstm
from tagi_lstm.backend import cuda, get_backend
from tagi_lstm.nn import LSTM, Linear, OutputUpdater, ReLU, Sequential, Sigmoid, Tanh

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["float64", "float32"]
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ sources, packaging
def test_kernel_sources_are_found():
    files = cuda.source_files()
    assert sorted(files) == sorted(cuda.KERNEL_SOURCES)
    for stem, path in files.items():
        text = path.read_text(encoding="utf-8")
        for kernel in cuda.KERNEL_SOURCES[stem]:
            assert kernel in text, f"{stem}.cu does not define {kernel}"


def test_cuda_sources_compile_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    for stem, source in cuda.source_files().items():
        ptx = tmp_path / f"{stem}.ptx"
        with importlib.resources.as_file(source) as path:
            run = subprocess.run([nvcc, "-ptx", "-arch=sm_80", *cuda.COMPILE_OPTIONS, str(path),
                                  "-o", str(ptx)], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"nvcc failed on {stem}.cu:\n{run.stderr}"
        entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
        expected = {f"{kernel}_{suffix}" for kernel in cuda.KERNEL_SOURCES[stem]
                    for suffix in ("f32", "f64")}
        assert expected <= entries, f"{stem}.cu lacks kernels {sorted(expected - entries)}"


def test_wheel_configuration_ships_the_sources_and_every_package():
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("runs from a source checkout")
    setup = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setup["package-dir"]["tagi_lstm._cuda_src"] == "cuda"
    assert "*.cu" in setup["package-data"]["tagi_lstm._cuda_src"]
    # The list is explicit (see pyproject.toml): a new folder must be added to it.
    folders = {".".join(p.relative_to(REPO).parts) for p in (REPO / "tagi_lstm").rglob("*")
               if p.is_dir() and p.name != "__pycache__"} | {"tagi_lstm"}
    missing = sorted(folders - set(setup["packages"]))
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"


# ---------------------------------------------------------------- without CuPy or a GPU
def test_importing_tagi_lstm_never_needs_cupy():
    code = (
        "import sys\n"
        "sys.modules['cupy'] = None\n"
        "import numpy as np\n"
        "import tagi_lstm\n"
        "from tagi_lstm.backend import cuda\n"
        "from tagi_lstm.nn import LSTM, Linear, Sequential\n"
        "net = Sequential(LSTM(1, 4, 3), Linear(12, 1))\n"
        "net(np.zeros((2, 3, 1)))\n"
        "net.update(np.zeros(2), 0.1)\n"
        "assert sorted(cuda.source_files()) == sorted(cuda.KERNEL_SOURCES)\n"
        "assert sys.modules['cupy'] is None\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr


def test_cuda_request_without_cupy_or_gpu_is_a_clear_error(monkeypatch):
    net = Sequential(Linear(2, 1))
    monkeypatch.setitem(sys.modules, "cupy", None)
    not_installed = re.escape("CuPy is not installed: pip install 'tagi_lstm[cuda]'")
    for request in (lambda: net.to_device("cuda"), lambda: OutputUpdater("cuda"),
                    lambda: get_backend("cuda")):
        with pytest.raises(RuntimeError, match=not_installed):
            request()

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake_cupy = types.ModuleType("cupy")
    fake_cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    with pytest.raises(RuntimeError, match="CuPy is installed but no CUDA GPU is visible: "
                                           "cudaErrorNoDevice"):
        net.to_device("cuda")
    fake_cupy.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(RuntimeError, match="CuPy is installed but no CUDA GPU is visible"):
        OutputUpdater("cuda")
    assert net.device == "cpu"
    net(np.zeros((3, 2)))


# ------------------------------------------------------------------------ GPU parity
def _require_gpu():
    """CuPy, when it can run a kernel on a GPU; otherwise skip the calling test, saying why."""
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        (cupy.arange(4) + 1).sum().item()
    except Exception as exc:  # noqa: BLE001 - no CuPy, no driver, no device: all skip
        pytest.skip(f"needs CuPy and a CUDA GPU ({type(exc).__name__}: {exc})")
    return cupy


def _host(x):
    import cupy

    return cupy.asnumpy(x)


def _assert_close(gpu, cpu, what):
    gpu, cpu = _host(gpu), np.asarray(cpu)
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype, \
        f"{what}: GPU {gpu.dtype}{gpu.shape} vs CPU {cpu.dtype}{cpu.shape}"
    assert np.isfinite(cpu).all() and np.isfinite(gpu).all(), f"{what}: non-finite values"
    scale = max(float(np.max(np.abs(cpu), initial=0.0)), float(np.finfo(cpu.dtype).tiny))
    err = float(np.max(np.abs(gpu.astype(np.float64) - cpu), initial=0.0)) / scale
    assert err <= TOL[cpu.dtype], f"{what}: relative error {err:.3g} > {TOL[cpu.dtype]:g}"


def _assert_params_close(gpu_net, cpu_net, what):
    gpu_state, cpu_state = gpu_net.state_dict(), cpu_net.state_dict()
    assert list(gpu_state) == list(cpu_state)
    for key, params in cpu_state.items():
        for name, g, c in zip(("mu_w", "var_w", "mu_b", "var_b"), gpu_state[key], params):
            assert type(g) is np.ndarray, f"state_dict()[{key!r}] must hold NumPy arrays"
            _assert_close(g, c, f"{what}: {key}.{name}")


def _twins(build, dtype, seed=11):
    """The network ``build()`` makes, twice from one seed: on the CPU and on the GPU."""
    nets = []
    for device in ("cpu", "cuda"):
        tagi_lstm.manual_seed(seed)
        nets.append(Sequential(*build()).to_dtype(dtype).to_device(device))
    assert nets[1].device == "cuda"
    return nets


def _observe(nets, y, var_obs):
    """OutputUpdater.update on each network; returns the missing counts."""
    counts = []
    for net in nets:
        updater = OutputUpdater(net.device)
        updater.update(net.output_z_buffer, y, var_obs, net.input_delta_z_buffer)
        counts.append(updater.num_missing)
    return counts


LAYER_CASES = {
    "Linear": (lambda: [Linear(6, 4)], True),
    "ReLU": (lambda: [Linear(6, 5), ReLU(), Linear(5, 3)], True),
    "Sigmoid": (lambda: [Linear(6, 5), Sigmoid(), Linear(5, 3)], True),
    "Tanh": (lambda: [Linear(6, 5), Tanh(), Linear(5, 3)], True),
    "LSTM": (lambda: [LSTM(3, 4, 5)], True),
    "LSTM, no bias, exact inputs": (lambda: [LSTM(3, 4, 5, bias=False)], False),
    "activation first, exact inputs": (lambda: [Tanh(), Linear(6, 2)], False),
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_forward_backward_step_agree(case, batch, dtype):
    _require_gpu()
    build, with_var = LAYER_CASES[case]
    nets = _twins(build, dtype)
    for net in nets:
        net.input_state_update = True
    width = nets[0].in_width or 6
    rng = np.random.default_rng(batch)
    x = rng.normal(size=(batch, width))
    var_x = rng.uniform(0.0, 0.2, size=x.shape) if with_var else None

    (mu_c, var_c), (mu_g, var_g) = (net(x, var_x) for net in nets)
    _assert_close(mu_g, mu_c, "forward means")
    _assert_close(var_g, var_c, "forward variances")

    y = rng.normal(size=mu_c.shape)
    _observe(nets, y, 0.3)
    for net in nets:
        net.backward()
    cpu, gpu = nets
    for name in ("delta_mu", "delta_var"):
        _assert_close(getattr(gpu.input_delta_z_buffer, name),
                      getattr(cpu.input_delta_z_buffer, name), f"output {name}")
    for layer_c, layer_g in zip(cpu.layers, gpu.layers):
        for name in ("delta_mu_w", "delta_var_w", "delta_mu_b", "delta_var_b"):
            _assert_close(getattr(layer_g, name), getattr(layer_c, name),
                          f"{layer_c.where} {name}")
    for name, d_g, d_c in zip(("input delta_mu", "input delta_var"), gpu.input_delta,
                              cpu.input_delta):
        _assert_close(d_g, d_c, name)

    for net in nets:
        net.step()
    _assert_params_close(gpu, cpu, "after step")
    if np.dtype(dtype) == np.float64:
        # float32 may round a delta that sits on the cap to either side of it.
        assert gpu.update_counters() == cpu.update_counters()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_training_steps_agree(batch, dtype):
    _require_gpu()
    nets = _twins(lambda: [LSTM(2, 8, 6), LSTM(8, 8, 6), Linear(48, 1)], dtype)
    rng = np.random.default_rng(100 + batch)
    outputs = {"cpu": [], "cuda": []}
    for step in range(20):
        x = rng.normal(size=(batch, 6, 2))
        y = rng.normal(size=(batch, 1))
        if step == 5:
            y[0, 0] = np.nan
        for net in nets:
            outputs[net.device].append(net(x))
        n_missing = _observe(nets, y, 0.25)
        assert n_missing[0] == n_missing[1] == (1 if step == 5 else 0)
        for net in nets:
            net.backward()
            net.step()
    # All steps at once: one output of a batch of 1 may sit near zero.
    for i, name in enumerate(("means", "variances")):
        _assert_close(np.stack([out[i] for out in outputs["cuda"]]),
                      np.stack([out[i] for out in outputs["cpu"]]), f"output {name}, 20 steps")
    _assert_params_close(nets[1], nets[0], "after 20 steps")
    if np.dtype(dtype) == np.float64:
        assert nets[1].update_counters() == nets[0].update_counters()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_stateful_lstm_states_agree(dtype):
    _require_gpu()
    nets = _twins(lambda: [LSTM(2, 5, 4, stateful=True), LSTM(5, 3, 4, stateful=True),
                           Linear(12, 1)], dtype)
    rng = np.random.default_rng(3)
    # Column-major states: the layers keep the layout they are given.
    states = {i: (np.asfortranarray(rng.normal(size=(6, no))),
                  np.asfortranarray(rng.uniform(0.0, 0.1, size=(6, no))),
                  np.asfortranarray(rng.normal(size=(6, no))),
                  np.asfortranarray(rng.uniform(0.0, 0.1, size=(6, no))))
              for i, no in ((0, 5), (1, 3))}
    for net in nets:
        net.set_lstm_states(states)
    for call in range(4):
        x = rng.normal(size=(6, 4, 2))
        (mu_c, var_c), (mu_g, var_g) = (net(x) for net in nets)
        _assert_close(mu_g, mu_c, f"call {call}: output means")
        _assert_close(var_g, var_c, f"call {call}: output variances")
        y = rng.normal(size=(6, 1))
        for net in nets:
            net.update(y, 0.3)
        states_c, states_g = (net.get_lstm_states() for net in nets)
        assert sorted(states_g) == sorted(states_c) == [0, 1]
        for i in states_c:
            for name, s_g, s_c in zip(("mu_h", "var_h", "mu_c", "var_c"), states_g[i],
                                      states_c[i]):
                assert type(s_g) is np.ndarray
                _assert_close(s_g, s_c, f"call {call}: layer {i} {name}")
    _assert_params_close(nets[1], nets[0], "after 4 stateful calls")


@pytest.mark.gpu
def test_numpy_in_numpy_out_cupy_in_cupy_out():
    cupy = _require_gpu()
    cpu, gpu = _twins(lambda: [LSTM(2, 4, 3), Linear(12, 2)], np.float64)
    x = np.random.default_rng(0).normal(size=(5, 3, 2))
    var_x = np.full(x.shape, 0.1)
    expected = cpu(x, var_x)

    out = gpu(x, var_x)
    assert all(type(a) is np.ndarray for a in out)
    for a, e in zip(out, expected):
        _assert_close(a, e, "NumPy input")

    out = gpu(cupy.asarray(x), cupy.asarray(var_x))
    assert all(isinstance(a, cupy.ndarray) for a in out)
    for a, e in zip(out, expected):
        _assert_close(a, e, "CuPy input")

    flat = gpu(x.reshape(-1), var_x.reshape(-1))
    assert all(type(a) is np.ndarray and a.ndim == 1 for a in flat)
    _assert_close(flat[0], expected[0].reshape(-1), "flat input")
    assert type(gpu.get_outputs()[0]) is np.ndarray


@pytest.mark.gpu
def test_state_dict_save_and_moves_from_the_gpu(tmp_path):
    _require_gpu()

    def build():
        return [LSTM(2, 4, 3), Linear(12, 1)]

    nets = _twins(build, np.float64)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 1))
        for net in nets:
            net(x)
            net.update(y, 0.2)
    cpu, gpu = nets
    _assert_params_close(gpu, cpu, "after 3 updates")
    state = gpu.state_dict()

    gpu.save(tmp_path / "net.npz")
    loaded = Sequential(*build()).double()
    loaded.load(tmp_path / "net.npz")
    for key, params in loaded.state_dict().items():
        for a, b in zip(params, state[key]):
            np.testing.assert_array_equal(a, b)

    fresh = Sequential(*build()).double().to_device("cuda")
    fresh.load_state_dict(state)
    x = rng.normal(size=(4, 3, 2))
    for a, b in zip(fresh(x), gpu(x)):
        _assert_close(a, b, "network loaded from state_dict()")

    gpu.to_device("cpu")
    assert gpu.device == "cpu"
    for key, params in gpu.state_dict().items():
        for a, b in zip(params, state[key]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
def test_gpu_inputs_are_validated():
    cupy = _require_gpu()
    _, gpu = _twins(lambda: [Linear(3, 2)], np.float32)
    x = cupy.zeros((4, 3))
    x[1, 2] = cupy.nan
    with pytest.raises(ValueError, match="1 NaN"):
        gpu(x)
    x[1, 2] = cupy.inf
    with pytest.raises(ValueError, match="1 infinite"):
        gpu(x)
    # A transposed (non-contiguous) variance view with one negative value in it.
    var = cupy.full((3, 4), 0.5).T
    var[2, 1] = -2.0
    with pytest.raises(ValueError, match="minimum of -2"):
        gpu(cupy.zeros((4, 3)), var)
    mu, _ = gpu(cupy.zeros((4, 3)), cupy.ones((4, 3), dtype=cupy.int32))
    assert isinstance(mu, cupy.ndarray)

    y = np.array([[0.5, np.nan], [np.nan, 1.0], [0.0, 0.0], [np.nan, 2.0]])
    updater = OutputUpdater("cuda")
    updater.update(gpu.output_z_buffer, cupy.asarray(y), 0.5, gpu.input_delta_z_buffer)
    assert updater.num_missing == 3
    delta_mu = _host(gpu.input_delta_z_buffer.delta_mu)
    assert np.all(delta_mu[np.isnan(y)] == 0) and np.all(delta_mu[~np.isnan(y)] != 0)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernels_agree_with_cpu_on_large_arrays(dtype):
    """Elementwise, update and validation kernels over many blocks (n not a multiple of 256)."""
    cupy = _require_gpu()
    from tagi_lstm import backend
    from tagi_lstm.backend import cpu

    gpu = get_backend("cuda")
    n = 10_007
    rng = np.random.default_rng(5)

    def arrays(*makers):
        host = [m().astype(dtype) for m in makers]
        return host, [cupy.asarray(h) for h in host]

    normal, positive = (lambda: rng.normal(size=n)), (lambda: rng.uniform(0.01, 1.0, size=n))
    empty = lambda: np.zeros(n)  # noqa: E731

    h, d = arrays(normal, positive, empty, empty)
    cpu.square_moments(*h)
    gpu.square_moments(*d)
    for a, b, name in zip(d[2:], h[2:], ("ms", "m2")):
        _assert_close(a, b, f"square_moments {name}")

    for kind in (backend.IDENTITY, backend.RELU, backend.SIGMOID, backend.TANH,
                 backend.EVEN_EXP):
        h, d = arrays(normal, positive, empty, empty, empty)
        cpu.activation_forward(kind, *h)
        gpu.activation_forward(kind, *d)
        for a, b, name in zip(d[2:], h[2:], ("mu_a", "var_a", "jcb")):
            _assert_close(a, b, f"activation {kind} {name}")

    h, d = arrays(positive, normal, normal, empty, empty)
    cpu.scale_deltas(*h)
    gpu.scale_deltas(*d)
    for a, b, name in zip(d[3:], h[3:], ("dmu_in", "dvar_in")):
        _assert_close(a, b, f"scale_deltas {name}")

    h, d = arrays(normal, positive, normal, positive, empty, empty)
    h[2][::97] = np.nan
    d[2] = cupy.asarray(h[2])
    assert gpu.observation_deltas(*d) == cpu.observation_deltas(*h) == len(range(0, n, 97))
    for a, b, name in zip(d[4:], h[4:], ("dmu", "dvar")):
        _assert_close(a, b, f"observation_deltas {name}")

    # (mean, noise variance) pairs: n values, n / 2 observations
    half = lambda f: (lambda: f()[: n // 2])  # noqa: E731
    h, d = arrays(normal, positive, half(normal), empty, empty)
    h[1][1::2] = rng.uniform(0.01, 1.0, size=n // 2)  # positive noise variances
    h[0][1::2] = rng.uniform(0.05, 2.0, size=n // 2)
    d[0], d[1] = cupy.asarray(h[0]), cupy.asarray(h[1])
    h[2][::97] = np.nan
    d[2] = cupy.asarray(h[2])
    assert gpu.heteros_deltas(*d) == cpu.heteros_deltas(*h) == len(range(0, n // 2, 97))
    for a, b, name in zip(d[3:], h[3:], ("dmu", "dvar")):
        _assert_close(a, b, f"heteros_deltas {name}")

    # Deltas large enough to be capped and to push variances below zero.
    h, d = arrays(normal, positive, lambda: 3 * rng.normal(size=n),
                  lambda: -2 * rng.uniform(0.0, 1.0, size=n))
    counts = (cpu.capped_update(*h, 0.5, 1e-5), gpu.capped_update(*d, 0.5, 1e-5))
    assert counts[0] == counts[1] and min(counts[0]) > 0
    assert all(type(c) is int for c in counts[1])
    for a, b, name in zip(d[:2], h[:2], ("mu", "var")):
        _assert_close(a, b, f"capped_update {name}")

    h, d = arrays(positive, normal, normal, empty, empty)
    cpu.weight_delta_scale(*h)
    gpu.weight_delta_scale(*d)
    for a, b, name in zip(d[3:], h[3:], ("dmu", "dvar")):
        _assert_close(a, b, f"weight_delta_scale {name}")

    values = rng.normal(size=(n, 3)).astype(dtype)
    values[4321, 1] = -7.5
    values[17, 0] = np.nan
    view = cupy.asarray(values)[:, 1:]
    assert gpu.min_value(view) == cpu.min_value(np.ascontiguousarray(values[:, 1:])) == -7.5
    assert gpu.min_value(cupy.asarray(values)) == -7.5
    assert gpu.all_finite(view) and not gpu.all_finite(cupy.asarray(values))
    values[17, 0] = np.inf
    assert not gpu.all_finite(cupy.asarray(values))
    assert gpu.min_value(cupy.arange(3, 10)) == 3.0


# ------------------------------------------------------------------ GPU against the oracles
@pytest.mark.gpu
@pytest.mark.parametrize("large", [False, True], ids=["ordinary", "bounded-regime"])
def test_gpu_lstm_moments_are_the_documented_equations(large):
    """The GPU's LSTM equals docs/theory.rst §4 transcribed gate by gate (the reference of
    tests/reference.py, written apart from both backends), in the ordinary regime and where
    the moment bounds act (large weights, uncertain inputs), float64."""
    _require_gpu()
    from reference import tagi_lstm_moments

    rng = np.random.default_rng(21)
    tagi_lstm.manual_seed(3)
    net = Sequential(LSTM(2, 5, 7)).double()
    layer = net.layers[0]
    if large:
        layer.mu_w = rng.normal(0.0, 2.0, size=layer.mu_w.size)
        layer.mu_b = rng.normal(0.0, 2.0, size=layer.mu_b.size)
    x_mu = rng.normal(size=(4, 7, 2))
    x_var = rng.uniform(0.0, 0.3 if not large else 0.15, size=(4, 7, 2))
    ref_mu, ref_var = tagi_lstm_moments(x_mu, x_var, layer.mu_w.reshape(20, 7),
                                        layer.var_w.reshape(20, 7), layer.mu_b, layer.var_b)
    net.to_device("cuda")
    mu, var = net(x_mu, x_var)
    np.testing.assert_allclose(_host(mu), ref_mu.reshape(4, -1), atol=1e-10)
    np.testing.assert_allclose(_host(var), ref_var.reshape(4, -1), atol=1e-10)

"""The backend contract, checked on the CPU (no GPU needed): drift between the layers,
``backend/cpu.py``, ``backend/cuda.py`` and the ``extern "C"`` kernels of ``cuda/*.cu``
fails here, in CI, instead of on a GPU.

1. Every backend attribute the library uses outside ``tagi_lstm/backend/`` exists in both
   backends (or is a CPU-only fused kernel behind the ``FUSED_SMALL_KERNELS`` capability).
2. Every function both backends define takes the same parameters, by name and order.
3. Every ``_launch`` in ``cuda.py`` passes as many arguments as its ``extern "C"`` kernel
   takes, each of the right kind (pointer, ``int``, ``long long`` or a ``T`` scalar), and
   every kernel of the sources is reachable.
"""

import ast
import inspect
import re
from pathlib import Path

from tagi_lstm.backend import cpu, cuda

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tagi_lstm"
CAPABILITIES = ("HOST_MEMORY", "FUSED_SMALL_KERNELS")


def _backend_functions(module) -> dict:
    out = {}
    for name, value in vars(module).items():
        func = getattr(value, "py_func", value)  # a Numba dispatcher's Python function
        if not name.startswith("_") and inspect.isfunction(func):
            out[name] = func
    return out


def _used_backend_attributes() -> set:
    """Attributes read from ``self._bk``, ``bk`` or ``backend`` outside the backends."""
    used = set()
    for path in PACKAGE.rglob("*.py"):
        if "backend" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "_bk") or \
                    (isinstance(owner, ast.Name) and owner.id in ("bk", "backend")):
                used.add(node.attr)
    return used


def test_every_backend_attribute_the_library_uses_exists_in_both():
    used = _used_backend_attributes()
    assert {"xp", "name", "lstm_step_forward", "capped_update"} <= used  # the scan works
    fused = {"lstm_forward_window", "lstm_backward_window", "lstm_backward_window_full",
             "linear_forward_small", "linear_backward_small"}
    for attr in sorted(used - {"IDENTITY", "RELU", "SIGMOID", "TANH"}):
        assert hasattr(cpu, attr), f"the CPU backend lacks {attr}"
        if attr not in fused:
            assert hasattr(cuda, attr), f"the CUDA backend lacks {attr}, which the layers call"
    for flag in CAPABILITIES:
        assert isinstance(getattr(cpu, flag), bool) and isinstance(getattr(cuda, flag), bool)
    assert cpu.FUSED_SMALL_KERNELS and not cuda.FUSED_SMALL_KERNELS


def test_shared_functions_take_the_same_parameters():
    cpu_fns, cuda_fns = _backend_functions(cpu), _backend_functions(cuda)
    shared = set(cpu_fns) & set(cuda_fns)
    assert len(shared) >= 20
    for name in sorted(shared):
        a = list(inspect.signature(cpu_fns[name]).parameters)
        b = list(inspect.signature(cuda_fns[name]).parameters)
        assert a == b, f"{name}: cpu takes {a}, cuda takes {b}"


def _kind_of_param(text: str) -> str:
    text = " ".join(text.split())
    if "*" in text:
        return "ptr"
    if text.startswith("long long"):
        return "i64"
    if text.startswith("int "):
        return "i32"
    if text.startswith("T "):
        return "scalar"
    raise AssertionError(f"unknown kernel parameter type: {text!r}")


def _kernel_signatures() -> dict:
    pattern = re.compile(r'extern "C" __global__ void (\w+)_##SUFFIX\(([^)]*)\)', re.S)
    out = {}
    for path in (ROOT / "cuda").glob("*.cu"):
        text = path.read_text(encoding="utf-8").replace("\\\n", "\n")
        for name, params in pattern.findall(text):
            out[name] = [_kind_of_param(p) for p in params.split(",") if p.strip()]
    return out


def _kind_of_arg(node) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return {"_i32": "i32", "_count": "i64", "scalar": "scalar"}.get(node.func.id, "ptr")
    return "ptr"


def _launches() -> dict:
    tree = ast.parse((PACKAGE / "backend" / "cuda.py").read_text(encoding="utf-8"))
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "_launch":
            kernel = node.args[0].value
            out.setdefault(kernel, []).append([_kind_of_arg(a) for a in node.args[3:]])
    return out


def test_every_launch_matches_its_kernel():
    kernels, launches = _kernel_signatures(), _launches()
    assert len(kernels) >= 15  # the parser found them
    assert set(launches) == set(kernels), (
        f"launched without a kernel: {sorted(set(launches) - set(kernels))}; "
        f"kernels never launched: {sorted(set(kernels) - set(launches))}")
    for kernel, calls in launches.items():
        for args in calls:
            assert args == kernels[kernel], (
                f"{kernel}: cuda.py passes {args}, the kernel takes {kernels[kernel]}")
    sources = {k for ks in cuda.KERNEL_SOURCES.values() for k in ks}
    assert sources == set(kernels)


def _contains_in_order(params, names) -> bool:
    """``names`` appear in ``params`` as one contiguous run."""
    n = len(names)
    return any(tuple(params[i:i + n]) == tuple(names) for i in range(len(params) - n + 1))


def test_lstm_kernels_take_the_contracts_buffers_in_order():
    from tagi_lstm import backend

    forward = backend.LSTM_FORWARD_BUFFERS
    window_forward = backend.LSTM_WINDOW_FORWARD_PREFIX + forward
    window_back = backend.LSTM_WINDOW_BACKWARD_BUFFERS
    backward = backend.LSTM_BACKWARD_BUFFERS
    checks = [(cpu, "lstm_forward_steps", forward), (cuda, "lstm_forward_steps", forward),
              (cpu, "lstm_backward_steps", backward), (cuda, "lstm_backward_steps", backward),
              (cpu, "lstm_forward_window", window_forward),
              (cpu, "lstm_backward_window", window_back),
              (cpu, "lstm_backward_window_full", window_back)]
    for module, name, names in checks:
        func = getattr(getattr(module, name), "py_func", getattr(module, name))
        params = list(inspect.signature(func).parameters)
        assert _contains_in_order(params, names), (
            f"{module.__name__}.{name} takes {params}; the contract lists {names}")
    # the per-step kernel takes the same buffers, with the biases between the sums and
    # the states (as the CUDA kernel's extern "C" parameters, checked above)
    for module in (cpu, cuda):
        params = list(inspect.signature(getattr(module.lstm_step_forward, "py_func",
                                                module.lstm_step_forward)).parameters)
        assert [p for p in params if p in forward] == list(forward)

"""The backend contract, checked on the CPU (no GPU needed): drift between the layers,
``backend/cpu.py``, ``backend/cuda.py`` and the ``extern "C"`` kernels of ``cuda/*.cu``
fails here, in CI, instead of on a GPU.

1. Every backend attribute the library uses outside ``tagi_lstm/backend/`` exists in both
   backends (or is a CPU-only fused kernel behind the ``FUSED_SMALL_KERNELS`` capability).
2. Each backend defines exactly the functions of the contract table
   (``tagi_lstm.backend.KERNELS``), each with the table's parameters by name and order.
3. Every ``_launch`` in ``cuda.py`` passes as many arguments as its ``extern "C"`` kernel
   takes, each of the right kind (pointer, ``int``, ``long long`` or a ``T`` scalar) and,
   where it passes a variable, the one named as the kernel's parameter in that place; every
   kernel of the sources is reachable.

Each check is also run on a copy with one side changed, and must fail there.
"""

import ast
import inspect
import re
from pathlib import Path

from tagi_lstm import backend
from tagi_lstm.backend import cpu, cuda

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tagi_lstm"
CAPABILITIES = ("HOST_MEMORY", "FUSED_SMALL_KERNELS")


def _backend_functions(module) -> dict:
    out = {}
    for name, value in vars(module).items():
        func = getattr(value, "py_func", value)  # a Numba dispatcher's Python function
        if not name.startswith("_") and inspect.isfunction(func) and \
                func.__module__ == module.__name__:  # defined there, not imported
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
    fused = set(backend.FUSED_KERNELS)
    for attr in sorted(used - {"IDENTITY", "RELU", "SIGMOID", "TANH", "EVEN_EXP"}):
        assert hasattr(cpu, attr), f"the CPU backend lacks {attr}"
        if attr not in fused:
            assert hasattr(cuda, attr), f"the CUDA backend lacks {attr}, which the layers call"
    for flag in CAPABILITIES:
        assert isinstance(getattr(cpu, flag), bool) and isinstance(getattr(cuda, flag), bool)
    assert cpu.FUSED_SMALL_KERNELS and not cuda.FUSED_SMALL_KERNELS


#: CUDA-side plumbing that is not part of the kernel contract.
CUDA_SUPPORT = {"ensure_available", "kernel_source_dir", "source_files", "split_rows"}


def _contract_drift(functions: dict, expected: dict) -> list:
    """What differs between a backend's ``{name: function}`` and the table ``expected``."""
    drift = [f"{name}: missing" for name in sorted(set(expected) - set(functions))]
    drift += [f"{name}: not in the contract" for name in sorted(set(functions) - set(expected))]
    for name in sorted(set(functions) & set(expected)):
        params = tuple(inspect.signature(functions[name]).parameters)
        if params != tuple(expected[name]):
            drift.append(f"{name}: takes {params}; the contract lists {expected[name]}")
    return drift


def _expected(module) -> dict:
    """The contract's functions that ``module`` must define."""
    if module.FUSED_SMALL_KERNELS:
        return dict(backend.KERNELS)
    return {k: v for k, v in backend.KERNELS.items() if k not in backend.FUSED_KERNELS}


def test_each_backend_defines_the_contracts_functions_with_its_parameters():
    assert len(backend.KERNELS) >= 25
    for module, support in ((cpu, set()), (cuda, CUDA_SUPPORT)):
        functions = {k: v for k, v in _backend_functions(module).items() if k not in support}
        assert _contract_drift(functions, _expected(module)) == []


def test_a_backend_that_drifts_from_the_contract_fails():
    functions, expected = _backend_functions(cpu), _expected(cpu)

    def capped_update(mu, var, dmu, dvar, var_floor, cap_factor):  # two swapped
        pass

    def square_moments(mu, var, ms, m2, extra):  # one added on one side only
        pass

    assert _contract_drift({**functions, "capped_update": capped_update}, expected) == [
        "capped_update: takes ('mu', 'var', 'dmu', 'dvar', 'var_floor', 'cap_factor'); the "
        "contract lists ('mu', 'var', 'dmu', 'dvar', 'cap_factor', 'var_floor')"]
    assert _contract_drift({**functions, "square_moments": square_moments}, expected)
    missing = {k: v for k, v in functions.items() if k != "lstm_step_backward"}
    assert _contract_drift(missing, expected) == ["lstm_step_backward: missing"]
    # a buffer added to a table (and so to the kernels built from it) but not to a backend
    grown = {**expected, "lstm_forward_steps": expected["lstm_forward_steps"] + ("extra",)}
    assert _contract_drift(functions, grown) != []


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


def _kernel_signatures(sources=None) -> dict:
    """``{kernel: [(kind, name), ...]}`` of the ``extern "C"`` kernels in ``cuda/*.cu``
    (or in ``sources``, a list of texts)."""
    pattern = re.compile(r'extern "C" __global__ void (\w+)_##SUFFIX\(([^)]*)\)', re.S)
    if sources is None:
        sources = [path.read_text(encoding="utf-8") for path in (ROOT / "cuda").glob("*.cu")]
    out = {}
    for text in sources:
        for name, params in pattern.findall(text.replace("\\\n", "\n")):
            out[name] = [(_kind_of_param(p), p.split()[-1].lstrip("*"))
                         for p in params.split(",") if p.strip()]
    return out


def _arg(node) -> tuple:
    """``(kind, name)`` of a launch argument; ``name`` is None for a computed value
    (a size, an offset)."""
    kind = "ptr"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        kind = {"_i32": "i32", "_count": "i64", "scalar": "scalar"}.get(node.func.id, "ptr")
        if kind != "ptr" and len(node.args) == 1:
            node = node.args[0]
    return kind, node.id if isinstance(node, ast.Name) else None


def _launches(source=None) -> dict:
    """``{kernel: [[(kind, name), ...] per launch]}`` of the ``_launch`` calls in
    ``cuda.py`` (or in ``source``)."""
    if source is None:
        source = (PACKAGE / "backend" / "cuda.py").read_text(encoding="utf-8")
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "_launch":
            kernel = node.args[0].value
            out.setdefault(kernel, []).append([_arg(a) for a in node.args[3:]])
    return out


def _launch_drift(kernels: dict, launches: dict) -> list:
    """What differs between the launches and the kernels they launch."""
    drift = [f"launched without a kernel: {k}" for k in sorted(set(launches) - set(kernels))]
    drift += [f"never launched: {k}" for k in sorted(set(kernels) - set(launches))]
    for kernel in sorted(set(launches) & set(kernels)):
        params = kernels[kernel]
        for args in launches[kernel]:
            if [kind for kind, _ in args] != [kind for kind, _ in params]:
                drift.append(f"{kernel}: cuda.py passes {[k for k, _ in args]}, the kernel "
                             f"takes {[k for k, _ in params]}")
                continue
            for i, ((_, name), (_, param)) in enumerate(zip(args, params)):
                if name is not None and name != param:
                    drift.append(f"{kernel}: argument {i} is {name}, the kernel's "
                                 f"parameter there is {param}")
    return drift


def test_every_launch_matches_its_kernel():
    kernels, launches = _kernel_signatures(), _launches()
    assert len(kernels) >= 15  # the parser found them
    named = sum(name is not None for calls in launches.values() for args in calls
                for _, name in args)
    assert named >= 100  # most arguments are checked by name, not only by kind
    assert _launch_drift(kernels, launches) == []
    sources = {k for ks in cuda.KERNEL_SOURCES.values() for k in ks}
    assert sources == set(kernels)


def test_a_launch_that_drifts_from_its_kernel_fails():
    kernels = _kernel_signatures()
    source = (PACKAGE / "backend" / "cuda.py").read_text(encoding="utf-8")
    call = "mu, var, dmu, dvar, scalar(cap_factor)"
    assert call in source
    swapped = _launches(source.replace(call, "mu, var, dvar, dmu, scalar(cap_factor)"))
    assert _launch_drift(kernels, swapped) == [
        "capped_update: argument 2 is dvar, the kernel's parameter there is dmu",
        "capped_update: argument 3 is dmu, the kernel's parameter there is dvar"]
    dropped = _launches(source.replace(call, "mu, var, dmu, scalar(cap_factor)"))
    assert _launch_drift(kernels, dropped)[0].startswith("capped_update: cuda.py passes")
    # a parameter added to a kernel but not to its launch
    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "cuda").glob("*.cu")}
    text = texts["update.cu"]
    at = text.index('extern "C" __global__ void capped_update_')
    texts["update.cu"] = text[:at] + text[at:].replace("T cap_factor,", "T cap_factor, T extra,",
                                                       1)
    assert _launch_drift(_kernel_signatures(list(texts.values())), _launches())

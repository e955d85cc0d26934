"""BLAS matrix products callable from inside Numba kernels.

With the products inside a kernel, a whole LSTM window runs in one call that
releases the GIL, so batch-split workers run truly in parallel and no Python
runs per time step.

The products go to the BLAS NumPy itself uses when it exposes an ILP64 CBLAS
(``cblas_?gemm`` with a ``64_`` suffix, as the PyPI wheels' OpenBLAS does);
otherwise to SciPy's, through ``numba_xxgemm``, the helper behind Numba's
``np.dot``. Both are bound by symbol name, so kernels using them are cached.

:func:`gemm` takes 2-D views with any row or column stride (what NumPy's
``matmul`` accepts from BLAS): ``c = alpha * a @ b + beta * c``.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from llvmlite import binding, ir
from numba import njit, types
from numba.extending import intrinsic, overload


def _numpy_cblas():
    """Addresses of NumPy's ILP64 ``cblas_sgemm``/``cblas_dgemm``, or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    for info in threadpool_info():
        path = info.get("filepath", "")
        if info.get("user_api") != "blas" or not path.startswith(numpy_dir):
            continue
        library = ctypes.CDLL(path)
        for prefix in ("scipy_cblas_", "cblas_"):
            try:
                return tuple(ctypes.cast(getattr(library, f"{prefix}{t}gemm64_"),
                                         ctypes.c_void_p).value for t in "sd")
            except AttributeError:
                continue
    return None


_ADDRESSES = _numpy_cblas()
USING_NUMPY_BLAS = _ADDRESSES is not None

if USING_NUMPY_BLAS:
    # CBLAS, column-major: (layout, transa, transb, m, n, k, alpha, a, lda, b, ldb,
    # beta, c, ldc), 64-bit integers, scalars by value.
    for _name, _address in zip(("tagi_lstm_cblas_sgemm64", "tagi_lstm_cblas_dgemm64"),
                               _ADDRESSES):
        binding.add_symbol(_name, _address)

    def _cblas(name, scalar):
        return types.ExternalFunction(name, types.void(
            types.int32, types.int32, types.int32, types.int64, types.int64, types.int64,
            scalar, types.voidptr, types.int64, types.voidptr, types.int64, scalar,
            types.voidptr, types.int64))

    _sgemm = _cblas("tagi_lstm_cblas_sgemm64", types.float32)
    _dgemm = _cblas("tagi_lstm_cblas_dgemm64", types.float64)
    _N, _T = np.int32(111), np.int32(112)  # CblasNoTrans, CblasTrans
else:
    from numba.np.linalg import ensure_blas

    ensure_blas()
    _xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char,  # kind, transa, transb
        types.intp, types.intp, types.intp,  # m, n, k
        types.voidptr, types.voidptr, types.intp,  # alpha, a, lda
        types.voidptr, types.intp,  # b, ldb
        types.voidptr, types.voidptr, types.intp))  # beta, c, ldc
    _N, _T = np.int8(ord("n")), np.int8(ord("t"))

_COL_MAJOR = np.int32(102)


@intrinsic
def _data(typingctx, array):
    """The data pointer of an array, without the reference counting (and the
    leak, when passed on as a raw pointer) of ``array.ctypes``."""
    def codegen(context, builder, signature, args):
        struct = context.make_array(signature.args[0])(context, builder, value=args[0])
        return builder.bitcast(struct.data, ir.IntType(8).as_pointer())

    return types.voidptr(array), codegen


@njit(inline="always", cache=True)
def _operand(x, isz):
    """How BLAS reads a 2-D view: (op code, leading dimension).

    Row-major ``C = A B`` is computed as column-major ``C^T = B^T A^T``: a
    row-major operand read column-major already is its transpose (no-trans,
    leading dimension = row stride); a column-major one needs trans. A single
    row or column counts as either, whatever its other stride.
    """
    r, c = x.shape
    s0, s1 = x.strides[0] // isz, x.strides[1] // isz
    if s1 == 1 or c == 1:
        return _N, max(s0 if r > 1 else c, c, 1)
    if s0 == 1 or r == 1:
        return _T, max(s1 if c > 1 else r, r, 1)
    raise ValueError("gemm: an operand has no unit stride")


def _gemm_impl(call):
    def impl(a, b, c, scalars):
        m, k = a.shape
        n = b.shape[1]
        if m == 0 or n == 0:
            return
        isz = c.itemsize
        op_a, ld_a = _operand(a, isz)
        op_b, ld_b = _operand(b, isz)
        op_c, ld_c = _operand(c, isz)
        if op_c != _N:
            raise ValueError("gemm: the output must be row-major")
        call(op_b, op_a, n, m, k, scalars, b, ld_b, a, ld_a, c, ld_c)
    return impl


def _caller(dtype):
    """The BLAS call for ``dtype``: column-major ``C = B A`` with the given ops."""
    if USING_NUMPY_BLAS:
        fn = _sgemm if dtype == types.float32 else _dgemm

        @njit(inline="always")
        def call(op_b, op_a, n, m, k, scalars, b, ld_b, a, ld_a, c, ld_c):
            fn(_COL_MAJOR, op_b, op_a, n, m, k, scalars[0], _data(b), ld_b, _data(a), ld_a,
               scalars[1], _data(c), ld_c)
    else:
        kind = np.int8(ord("s")) if dtype == types.float32 else np.int8(ord("d"))

        @njit(inline="always")
        def call(op_b, op_a, n, m, k, scalars, b, ld_b, a, ld_a, c, ld_c):
            _xxgemm(kind, op_b, op_a, n, m, k, _data(scalars), _data(b), ld_b, _data(a), ld_a,
                    _data(scalars[1:]), _data(c), ld_c)
    return call


def gemm(a, b, c, scalars):
    """``c = alpha * a @ b + beta * c`` for float32 or float64 2-D views (unit
    stride in one dimension each, ``c`` row-major), with ``scalars = [alpha,
    beta]`` of the arrays' dtype."""


@overload(gemm, jit_options=dict(cache=True))
def _gemm(a, b, c, scalars):
    return _gemm_impl(_caller(c.dtype))

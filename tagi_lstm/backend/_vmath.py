"""Vectorisable ``exp``, sigmoid and tanh for the Numba kernels.

Numba calls the C library for ``math.exp`` and ``math.tanh``: one scalar call
per element, which blocks SIMD and costs 7–20 ns each; an LSTM unit needs six
per step. These versions are plain arithmetic (range reduction, a
polynomial, and the exponent bits written directly), so LLVM vectorises the
loops that use them. Accuracy: relative error below 4e-16 for ``exp`` over
its whole range, absolute error below 2e-16 for ``tanh`` and ``sigmoid``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1
_LN2_LO = 1.42860682030941723212e-6
# Adding 1.5 * 2**52 rounds a double to an integer held in its low mantissa
# bits (round to nearest): no floor() call, and the integer is read from the
# bits, because AVX2 has no packed double-to-int64 conversion.
_ROUND = 6755399441055744.0
_ROUND_BITS = 0x4338000000000000


@intrinsic
def _int_bits_as_double(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _double_bits_as_int(typingctx, value):
    """Reinterpret the bits of a float64 as an int64 (no conversion)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(inline="always", error_model="numpy", cache=True)
def vexp(x):
    """``exp(x)`` for float64 ``x``, clamped to the normal range [-708, 709]."""
    x = x if x > -708.0 else -708.0
    x = x if x < 709.0 else 709.0
    y = x * _LOG2E + _ROUND
    k = y - _ROUND
    r = x - k * _LN2_HI - k * _LN2_LO
    # Taylor series of exp(r) to degree 12; |r| <= ln(2)/2 keeps the error < 1 ulp.
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _int_bits_as_double((_double_bits_as_int(y) - _ROUND_BITS + 1023) << 52)


@njit(inline="always", error_model="numpy", cache=True)
def vsigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + vexp(-x))


@njit(inline="always", error_model="numpy", cache=True)
def vtanh(x):
    """``tanh(x) = 1 - 2 / (1 + exp(2x))``; saturates cleanly at +-1."""
    return 1.0 - 2.0 / (1.0 + vexp(2.0 * x))

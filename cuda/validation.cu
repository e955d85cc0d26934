// Reductions that validate user arrays on the GPU without temporaries: the
// twins of all_finite and min_value in tagi_lstm/backend/cpu.py.
//
// Flat, C-contiguous input of n values; the result goes to a one-element
// buffer that the caller initialises (1 for all_finite, +inf for
// min_value). Each kernel exists as NAME_f32 and NAME_f64. Launched with
// blocks of a whole number of warps, as min_value's shuffles need.

__device__ inline long long element_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

template <typename T>
__device__ void all_finite(const T* x, int* ok, long long n) {
    const long long k = element_index();
    // Every writer stores the same value, so the race is harmless.
    if (k < n && !isfinite(x[k])) *ok = 0;
}

__device__ inline float positive_infinity(float) { return __int_as_float(0x7f800000); }
__device__ inline double positive_infinity(double) {
    return __longlong_as_double(0x7ff0000000000000LL);
}

// No hardware atomicMin for floating point: compare-and-swap on the bits.
__device__ inline void atomic_min(float* address, float value) {
    int* bits = reinterpret_cast<int*>(address);
    int old = *bits;
    while (value < __int_as_float(old)) {
        const int seen = atomicCAS(bits, old, __float_as_int(value));
        if (seen == old) break;
        old = seen;
    }
}

__device__ inline void atomic_min(double* address, double value) {
    unsigned long long* bits = reinterpret_cast<unsigned long long*>(address);
    unsigned long long old = *bits;
    while (value < __longlong_as_double(static_cast<long long>(old))) {
        const unsigned long long seen =
            atomicCAS(bits, old, static_cast<unsigned long long>(__double_as_longlong(value)));
        if (seen == old) break;
        old = seen;
    }
}

template <typename T>
__device__ void min_value(const T* x, T* result, long long n) {
    const long long k = element_index();
    // Threads past the end stay in, at +inf, because every lane of a warp
    // must take part in the shuffles; NaN compares false and is skipped.
    T m = positive_infinity(T());
    if (k < n && x[k] < m) m = x[k];
    for (int offset = warpSize / 2; offset > 0; offset /= 2) {
        const T other = __shfl_down_sync(0xffffffffu, m, offset);
        if (other < m) m = other;
    }
    // One atomic per warp instead of one per element.
    if (threadIdx.x % warpSize == 0) atomic_min(result, m);
}

#define TAGI_VALIDATION_KERNELS(T, SUFFIX)                                                     \
    extern "C" __global__ void all_finite_##SUFFIX(const T* x, int* ok, long long n) {        \
        all_finite<T>(x, ok, n);                                                               \
    }                                                                                          \
    extern "C" __global__ void min_value_##SUFFIX(const T* x, T* result, long long n) {       \
        min_value<T>(x, result, n);                                                            \
    }

TAGI_VALIDATION_KERNELS(float, f32)
TAGI_VALIDATION_KERNELS(double, f64)

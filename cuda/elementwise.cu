// Elementwise moment kernels of the CUDA backend: the GPU twins of
// square_moments, activation_forward and scale_deltas in
// tagi_lstm/backend/cpu.py, with the same formulas in the same order.
//
// One thread per element of flat, C-contiguous buffers of n values. Each
// kernel exists as NAME_f32 and NAME_f64; the maths is written once, as a
// template over the scalar type, and the float32 version computes in float32.

// Activation codes, as IDENTITY, RELU, SIGMOID, TANH, EVEN_EXP in
// tagi_lstm/backend/__init__.py.
enum Activation { IDENTITY = 0, RELU = 1, SIGMOID = 2, TANH = 3, EVEN_EXP = 4 };

__device__ inline long long element_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

template <typename T>
__device__ inline T sigmoid(T z) {
    return T(1) / (T(1) + exp(-z));
}

template <typename T>
__device__ void square_moments(const T* mu, const T* var, T* ms, T* m2, long long n) {
    const long long k = element_index();
    if (k >= n) return;
    const T m = mu[k] * mu[k];
    m2[k] = m;
    ms[k] = m + var[k];
}

template <typename T>
__device__ void activation_forward(int kind, const T* mu_z, const T* var_z, T* mu_a, T* var_a,
                                   T* jcb, long long n) {
    const long long k = element_index();
    if (k >= n) return;
    const T z = mu_z[k];
    if (kind == EVEN_EXP && k % 2 == 1) {
        // log-normal moments of exp(z); jcb = cov(z, a) / var_z
        const T m = exp(z + T(0.5) * var_z[k]);
        mu_a[k] = m;
        jcb[k] = m;
        var_a[k] = m * m * expm1(var_z[k]);
        return;
    }
    T a, j;
    if (kind == RELU) {
        if (z > T(0)) {
            a = z;
            j = T(1);
        } else {
            a = T(0);
            j = T(0);
        }
    } else if (kind == SIGMOID) {
        a = sigmoid(z);
        j = a * (T(1) - a);
    } else if (kind == TANH) {
        a = tanh(z);
        j = T(1) - a * a;
    } else {
        a = z;
        j = T(1);
    }
    mu_a[k] = a;
    jcb[k] = j;
    var_a[k] = j * j * var_z[k];
}

template <typename T>
__device__ void scale_deltas(const T* jcb, const T* dmu, const T* dvar, T* dmu_in, T* dvar_in,
                             long long n) {
    const long long k = element_index();
    if (k >= n) return;
    const T j = jcb[k];
    dmu_in[k] = j * dmu[k];
    dvar_in[k] = j * j * dvar[k];
}

#define TAGI_ELEMENTWISE_KERNELS(T, SUFFIX)                                                    \
    extern "C" __global__ void square_moments_##SUFFIX(const T* mu, const T* var, T* ms,      \
                                                       T* m2, long long n) {                   \
        square_moments<T>(mu, var, ms, m2, n);                                                 \
    }                                                                                          \
    extern "C" __global__ void activation_forward_##SUFFIX(int kind, const T* mu_z,           \
                                                           const T* var_z, T* mu_a, T* var_a,  \
                                                           T* jcb, long long n) {              \
        activation_forward<T>(kind, mu_z, var_z, mu_a, var_a, jcb, n);                         \
    }                                                                                          \
    extern "C" __global__ void scale_deltas_##SUFFIX(const T* jcb, const T* dmu,              \
                                                     const T* dvar, T* dmu_in, T* dvar_in,     \
                                                     long long n) {                            \
        scale_deltas<T>(jcb, dmu, dvar, dmu_in, dvar_in, n);                                   \
    }

TAGI_ELEMENTWISE_KERNELS(float, f32)
TAGI_ELEMENTWISE_KERNELS(double, f64)

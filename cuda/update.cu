// Update kernels of the CUDA backend: the GPU twins of observation_deltas,
// heteros_deltas, capped_update and weight_delta_scale in
// tagi_lstm/backend/cpu.py, with the same formulas in the same order.
//
// One thread per element of flat, C-contiguous buffers of n values. Each
// kernel exists as NAME_f32 and NAME_f64 (maths written once, as a template
// over the scalar type). Counts go to a small int buffer, zeroed by the
// caller, through atomicAdd, and only when there is something to count.

__device__ inline long long element_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

template <typename T>
__device__ void observation_deltas(const T* mu, const T* var, const T* y, const T* var_obs,
                                   T* dmu, T* dvar, int* n_missing, long long n) {
    const long long k = element_index();
    if (k >= n) return;
    if (isnan(y[k])) {
        dmu[k] = T(0);
        dvar[k] = T(0);
        atomicAdd(n_missing, 1);
        return;
    }
    const T s = var[k] + var_obs[k];
    dmu[k] = (y[k] - mu[k]) / s;
    dvar[k] = T(-1) / s;
}

// One thread per (mean, noise variance) output pair p: mu[2p], mu[2p + 1] ...
template <typename T>
__device__ void heteros_deltas(const T* mu, const T* var, const T* y, T* dmu, T* dvar,
                               int* n_missing, long long n) {
    const long long p = element_index();
    if (p >= n) return;
    const long long z = 2 * p, w = 2 * p + 1;
    if (isnan(y[p])) {
        dmu[z] = T(0);
        dvar[z] = T(0);
        dmu[w] = T(0);
        dvar[w] = T(0);
        atomicAdd(n_missing, 1);
        return;
    }
    const T m_z = mu[z], s_z = var[z], m_w = mu[w], s_w = var[w];
    const T err = y[p] - m_z;
    const T s_y = s_z + m_w;
    const T m_v = m_w * err / s_y;
    const T s_v = m_w - m_w * m_w / s_y;
    const T var_w_prior = T(3) * s_w + T(2) * m_w * m_w;
    const T mean_w_post = m_v * m_v + s_v;
    const T var_w_post = T(2) * s_v * s_v + T(4) * m_v * m_v * s_v;
    dmu[z] = err / s_y;
    dvar[z] = T(-1) / s_y;
    dmu[w] = (mean_w_post - m_w) / var_w_prior;
    dvar[w] = (var_w_post - var_w_prior) / (var_w_prior * var_w_prior);
}

// d limited to [-bar, bar]; n_capped counts a limit that acted.
template <typename T>
__device__ inline T cap(T d, T bar, int& n_capped) {
    if (d > bar) {
        ++n_capped;
        return bar;
    }
    if (d < -bar) {
        ++n_capped;
        return -bar;
    }
    return d;
}

// counts[0] += deltas capped, counts[1] += variances floored.
template <typename T>
__device__ void capped_update(T* mu, T* var, const T* dmu, const T* dvar, T cap_factor,
                              T var_floor, int* counts, long long n) {
    const long long k = element_index();
    if (k >= n) return;
    const T bar = sqrt(var[k]) / cap_factor;
    int n_capped = 0;
    mu[k] += cap(dmu[k], bar, n_capped);
    T v = var[k] + cap(dvar[k], bar, n_capped);
    if (v <= T(0)) {
        v = var_floor;
        atomicAdd(&counts[1], 1);
    }
    var[k] = v;
    if (n_capped) atomicAdd(&counts[0], n_capped);
}

template <typename T>
__device__ void weight_delta_scale(const T* var, const T* acc_mu, const T* acc_var, T* dmu,
                                   T* dvar, long long n) {
    const long long k = element_index();
    if (k >= n) return;
    const T s = var[k];
    dmu[k] = s * acc_mu[k];
    dvar[k] = s * s * acc_var[k];
}

#define TAGI_UPDATE_KERNELS(T, SUFFIX)                                                         \
    extern "C" __global__ void observation_deltas_##SUFFIX(                                   \
        const T* mu, const T* var, const T* y, const T* var_obs, T* dmu, T* dvar,              \
        int* n_missing, long long n) {                                                         \
        observation_deltas<T>(mu, var, y, var_obs, dmu, dvar, n_missing, n);                   \
    }                                                                                          \
    extern "C" __global__ void heteros_deltas_##SUFFIX(const T* mu, const T* var, const T* y, \
                                                       T* dmu, T* dvar, int* n_missing,        \
                                                       long long n) {                          \
        heteros_deltas<T>(mu, var, y, dmu, dvar, n_missing, n);                                \
    }                                                                                          \
    extern "C" __global__ void capped_update_##SUFFIX(T* mu, T* var, const T* dmu,            \
                                                      const T* dvar, T cap_factor,             \
                                                      T var_floor, int* counts, long long n) { \
        capped_update<T>(mu, var, dmu, dvar, cap_factor, var_floor, counts, n);                \
    }                                                                                          \
    extern "C" __global__ void weight_delta_scale_##SUFFIX(const T* var, const T* acc_mu,     \
                                                           const T* acc_var, T* dmu, T* dvar,  \
                                                           long long n) {                      \
        weight_delta_scale<T>(var, acc_mu, acc_var, dmu, dvar, n);                             \
    }

TAGI_UPDATE_KERNELS(float, f32)
TAGI_UPDATE_KERNELS(double, f64)

// LSTM kernels of the CUDA backend: the GPU twins of the lstm_* kernels in
// tagi_lstm/backend/cpu.py (docs/theory.rst §4 and §6), with the same formulas in
// the same order.
//
// Conventions shared with cpu.py: sequence buffers are C-contiguous
// (batch, L, width) with L = seq_len (the cell states mu_c, var_c have L + 1
// steps, step t holding c_{t-1}); gate blocks are stacked f, i, g, o, each no
// wide; the covariance sums of a step follow the four variance sums as
// S_ig, S_fo, S_io, S_go. The step kernels run one thread per (batch row b,
// hidden unit j): a thread reads and writes only its own unit, so the
// recurrence needs no synchronisation inside a step. Each kernel exists as
// NAME_f32 and NAME_f64 (maths written once, as a template over the scalar
// type).

__device__ inline long long item_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

// Offsets of element (r, k) of a C-contiguous (rows, width) buffer and of
// element (b, t, k) of a C-contiguous (batch, steps, width) buffer.
__device__ inline long long at2(int r, int k, int width) {
    return (long long)r * width + k;
}

__device__ inline long long at3(int b, int t, int k, int steps, int width) {
    return ((long long)b * steps + t) * width + k;
}

template <typename T>
__device__ inline T sigmoid(T z) {
    return T(1) / (T(1) + exp(-z));
}

template <typename T>
struct Gaussian {
    T mu, var;
};

// A gate or tanh(c) linearised at its mean: mean, Jacobian, variance.
template <typename T>
struct Linearised {
    T mu, jcb, var;
};

// The linearised variance J^2 s, capped at the largest variance a variable in the
// activation's range with that mean can have ((upper - m)(m - lower), Bhatia-Davis):
// the linearisation can exceed it when s is large, and the excess would grow step
// after step through the recurrence.
template <typename T>
__device__ inline Linearised<T> sigmoid_of(Gaussian<T> z) {
    const T m = sigmoid(z.mu);
    const T j = m * (T(1) - m);
    return {m, j, fmin(j * j * z.var, m * (T(1) - m))};
}

template <typename T>
__device__ inline Linearised<T> tanh_of(Gaussian<T> z) {
    const T m = tanh(z.mu);
    const T j = T(1) - m * m;
    return {m, j, fmin(j * j * z.var, T(1) - m * m)};
}

// A covariance kept within its Cauchy-Schwarz bound sqrt(s_a s_b).
template <typename T>
__device__ inline T valid_cov(T c, T s_a, T s_b) {
    const T bound = sqrt(s_a * s_b);
    return fmax(-bound, fmin(c, bound));
}

// The gate sums of one step: the x part of every step (zx_*), the h part of
// this step (r_*) and the biases; a term that is absent (no input variance,
// h_{t-1} exactly zero, no bias) arrives as zeros, as on the CPU.
template <typename T>
struct GateSums {
    const T *zx_mu, *zx_var, *zx_cov;
    const T *r_mu, *r_var, *r_cov;
    const T *mu_b, *var_b;
};

// Moments of gate pre-activation r (one of the 4 no gate rows) for row b, step t.
template <typename T>
__device__ inline Gaussian<T> preactivation(const GateSums<T>& s, int b, int t, int r, int L,
                                            int no) {
    const long long x = at3(b, t, r, L, 4 * no);
    const long long h = at2(b, r, 4 * no);
    const T mz = s.zx_mu[x] + s.r_mu[h] + s.mu_b[r];
    const T sz = s.zx_var[x] + s.zx_cov[at3(b, t, r, L, 8 * no)] + s.r_var[h]
                 + s.r_cov[at2(b, r, 8 * no)] + s.var_b[r];
    return {mz, sz};
}

// Covariance sum number `pair` (0: S_ig, 1: S_fo, 2: S_io, 3: S_go) of unit j,
// over every shared input of a_t (x_t and h_{t-1}).
template <typename T>
__device__ inline T pair_sum(const GateSums<T>& s, int b, int t, int j, int pair, int L,
                             int no) {
    const int r = (4 + pair) * no + j;
    return s.zx_cov[at3(b, t, r, L, 8 * no)] + s.r_cov[at2(b, r, 8 * no)];
}

// Squared gate weights (rows 0 .. 4 no) and the products W_i W_g, W_f W_o,
// W_i W_o, W_g W_o (rows 4 no .. 8 no) of mu_w (4 no, n); one thread per (j, k).
template <typename T>
__device__ void lstm_gate_products(const T* mu_w, T* q, int no, int n) {
    const long long item = item_index();
    if (item >= (long long)no * n) return;
    const int j = (int)(item / n);
    const int k = (int)(item % n);
    const T wf = mu_w[at2(j, k, n)];
    const T wi = mu_w[at2(no + j, k, n)];
    const T wg = mu_w[at2(2 * no + j, k, n)];
    const T wo = mu_w[at2(3 * no + j, k, n)];
    q[at2(j, k, n)] = wf * wf;
    q[at2(no + j, k, n)] = wi * wi;
    q[at2(2 * no + j, k, n)] = wg * wg;
    q[at2(3 * no + j, k, n)] = wo * wo;
    q[at2(4 * no + j, k, n)] = wi * wg;
    q[at2(5 * no + j, k, n)] = wf * wo;
    q[at2(6 * no + j, k, n)] = wi * wo;
    q[at2(7 * no + j, k, n)] = wg * wo;
}

// x_t into the first ni columns of a_t (width n) for every row and step;
// one thread per input value.
template <typename T>
__device__ void lstm_load_input(const T* mu_x, const T* var_x, bool has_var, int ni, int n,
                                T* mu_a, T* var_a, T* ms_a, T* m2_a, long long count) {
    const long long item = item_index();
    if (item >= count) return;
    const long long row = item / ni;
    const long long a = row * n + item % ni;
    const T m = mu_x[item];
    const T s = has_var ? var_x[item] : T(0);
    mu_a[a] = m;
    var_a[a] = s;
    m2_a[a] = m * m;
    ms_a[a] = m * m + s;
}

// Initial states: h_0 (batch, no) into the last no columns of a_0 and c_0 into
// step 0 of c; with `zero`, h_0 = c_0 = 0 and the state arrays are not read.
// One thread per (b, j).
template <typename T>
__device__ void lstm_load_state(bool zero, const T* mu_h0, const T* var_h0, const T* mu_c0,
                                const T* var_c0, int ni, int no, int B, int L, T* mu_a,
                                T* var_a, T* ms_a, T* m2_a, T* mu_c, T* var_c) {
    const long long item = item_index();
    if (item >= (long long)B * no) return;
    const int b = (int)(item / no);
    const int j = (int)(item % no);
    const T m = zero ? T(0) : mu_h0[item];
    const T s = zero ? T(0) : var_h0[item];
    const long long a = at3(b, 0, ni + j, L, ni + no);
    mu_a[a] = m;
    var_a[a] = s;
    m2_a[a] = m * m;
    ms_a[a] = m * m + s;
    const long long c = at3(b, 0, j, L + 1, no);
    mu_c[c] = zero ? T(0) : mu_c0[item];
    var_c[c] = zero ? T(0) : var_c0[item];
}

// The last step's (h, c) into the (batch, no) state buffers; one thread per (b, j).
template <typename T>
__device__ void lstm_save_state(int no, int B, int L, const T* mu_h, const T* var_h,
                                const T* mu_c, const T* var_c, T* st_mu_h, T* st_var_h,
                                T* st_mu_c, T* st_var_c) {
    const long long item = item_index();
    if (item >= (long long)B * no) return;
    const int b = (int)(item / no);
    const int j = (int)(item % no);
    const long long y = at3(b, L - 1, j, L, no);
    const long long c = at3(b, L, j, L + 1, no);
    st_mu_h[item] = mu_h[y];
    st_var_h[item] = var_h[y];
    st_mu_c[item] = mu_c[c];
    st_var_c[item] = var_c[c];
}

template <typename T>
__device__ void lstm_step_forward(int t, int ni, int no, int B, int L, const GateSums<T>& s,
                                  T* mu_c, T* var_c, T* mu_ga, T* var_ga, T* jcb_ga, T* mu_ca,
                                  T* var_ca, T* jcb_ca, T* mu_h, T* var_h, T* mu_a, T* var_a,
                                  T* ms_a, T* m2_a) {
    const long long item = item_index();
    if (item >= (long long)B * no) return;
    const int b = (int)(item / no);
    const int j = (int)(item % no);
    // Gates: sigmoid for f, i, o and tanh for the cell candidate g.
    const Linearised<T> f = sigmoid_of(preactivation(s, b, t, j, L, no));
    const Linearised<T> i = sigmoid_of(preactivation(s, b, t, no + j, L, no));
    const Linearised<T> g = tanh_of(preactivation(s, b, t, 2 * no + j, L, no));
    const Linearised<T> o = sigmoid_of(preactivation(s, b, t, 3 * no + j, L, no));
    const long long ga = at3(b, t, j, L, 4 * no);
    mu_ga[ga] = f.mu;
    mu_ga[ga + no] = i.mu;
    mu_ga[ga + 2 * no] = g.mu;
    mu_ga[ga + 3 * no] = o.mu;
    var_ga[ga] = f.var;
    var_ga[ga + no] = i.var;
    var_ga[ga + 2 * no] = g.var;
    var_ga[ga + 3 * no] = o.var;
    jcb_ga[ga] = f.jcb;
    jcb_ga[ga + no] = i.jcb;
    jcb_ga[ga + 2 * no] = g.jcb;
    jcb_ga[ga + 3 * no] = o.jcb;
    // Cell state c_t = f c_{t-1} + i g, with C_ig = J_i J_g S_ig.
    const long long c_prev = at3(b, t, j, L + 1, no);
    const long long c_next = at3(b, t + 1, j, L + 1, no);
    const T m_cp = mu_c[c_prev];
    const T s_cp = var_c[c_prev];
    const T c_ig = valid_cov(i.jcb * g.jcb * pair_sum(s, b, t, j, 0, L, no), i.var, g.var);
    const T m_c = f.mu * m_cp + i.mu * g.mu + c_ig;
    const T s_c = s_cp * f.mu * f.mu + s_cp * f.var + f.var * m_cp * m_cp
                  + g.var * i.mu * i.mu + i.var * g.var + i.var * g.mu * g.mu
                  + c_ig * c_ig + T(2) * c_ig * i.mu * g.mu;
    mu_c[c_next] = m_c;
    var_c[c_next] = s_c;
    // tanh(c_t).
    const Linearised<T> tc = tanh_of(Gaussian<T>{m_c, s_c});
    const long long y = at3(b, t, j, L, no);
    mu_ca[y] = tc.mu;
    var_ca[y] = tc.var;
    jcb_ca[y] = tc.jcb;
    // Hidden state h_t = o tanh(c_t), with C_o,tanh(c) through S_fo, S_io, S_go.
    const T c_otc = valid_cov(tc.jcb * o.jcb * (f.jcb * m_cp * pair_sum(s, b, t, j, 1, L, no)
                                                + i.jcb * g.mu * pair_sum(s, b, t, j, 2, L, no)
                                                + g.jcb * i.mu * pair_sum(s, b, t, j, 3, L, no)),
                              o.var, tc.var);
    const T m_h = o.mu * tc.mu + c_otc;
    // h lies in (-1, 1): its variance is at most (1 - m_h)(1 + m_h)
    const T s_h = fmin(tc.var * o.mu * o.mu + tc.var * o.var + o.var * tc.mu * tc.mu
                       + c_otc * c_otc + T(2) * c_otc * o.mu * tc.mu, T(1) - m_h * m_h);
    mu_h[y] = m_h;
    var_h[y] = s_h;
    if (t + 1 < L) {
        const long long a = at3(b, t + 1, ni + j, L, ni + no);
        mu_a[a] = m_h;
        var_a[a] = s_h;
        m2_a[a] = m_h * m_h;
        ms_a[a] = m_h * m_h + s_h;
    }
}

template <typename T>
__device__ void lstm_step_backward(int t, int no, int B, int L, const T* dmu_out,
                                   const T* dvar_out, const T* dmu_hrec, const T* dvar_hrec,
                                   T* dmu_c, T* dvar_c, const T* mu_ga,
                                   const T* jcb_ga, const T* mu_c, const T* mu_ca,
                                   const T* jcb_ca, T* dz_mu, T* dz_var) {
    const long long item = item_index();
    if (item >= (long long)B * no) return;
    const int b = (int)(item / no);
    const int j = (int)(item % no);
    const long long y = at3(b, t, j, L, no);
    // The delta from step t + 1 is zero at the last step.
    const T dmh = dmu_out[y] + dmu_hrec[item];
    const T dvh = dvar_out[y] + dvar_hrec[item];
    const long long ga = at3(b, t, j, L, 4 * no);
    const T m_f = mu_ga[ga];
    const T m_i = mu_ga[ga + no];
    const T m_g = mu_ga[ga + 2 * no];
    const T m_o = mu_ga[ga + 3 * no];
    const T k_hc = m_o * jcb_ca[y];
    const T dmc = k_hc * dmh + dmu_c[item];
    const T dvc = k_hc * k_hc * dvh + dvar_c[item];
    const T a_f = jcb_ga[ga] * mu_c[at3(b, t, j, L + 1, no)];
    const T a_i = jcb_ga[ga + no] * m_g;
    const T a_g = jcb_ga[ga + 2 * no] * m_i;
    const T a_o = jcb_ga[ga + 3 * no] * mu_ca[y];
    dz_mu[ga] = a_f * dmc;
    dz_mu[ga + no] = a_i * dmc;
    dz_mu[ga + 2 * no] = a_g * dmc;
    dz_mu[ga + 3 * no] = a_o * dmh;
    dz_var[ga] = a_f * a_f * dvc;
    dz_var[ga + no] = a_i * a_i * dvc;
    dz_var[ga + 2 * no] = a_g * a_g * dvc;
    dz_var[ga + 3 * no] = a_o * a_o * dvh;
    dmu_c[item] = m_f * dmc;
    dvar_c[item] = m_f * m_f * dvc;
}

template <typename T>
__device__ inline T clip_negative(T v) {
    return v > T(0) ? v : T(0);
}

template <typename T>
__device__ void lstm_final_states(int no, int B, int L, const T* dmu_out, const T* dvar_out,
                                  const T* mu_ga, const T* jcb_ca, const T* mu_h,
                                  const T* var_h, const T* mu_c, const T* var_c, T* mu_h_post,
                                  T* var_h_post, T* mu_c_post, T* var_c_post) {
    const long long item = item_index();
    if (item >= (long long)B * no) return;
    const int b = (int)(item / no);
    const int j = (int)(item % no);
    const long long y = at3(b, L - 1, j, L, no);
    const T dm = dmu_out[y];
    const T dv = dvar_out[y];
    const T s_h = var_h[y];
    mu_h_post[item] = mu_h[y] + s_h * dm;
    var_h_post[item] = clip_negative(s_h + s_h * s_h * dv);
    const T k = mu_ga[at3(b, L - 1, 3 * no + j, L, 4 * no)] * jcb_ca[y];
    const long long c = at3(b, L, j, L + 1, no);
    const T s_c = var_c[c];
    mu_c_post[item] = mu_c[c] + s_c * k * dm;
    var_c_post[item] = clip_negative(s_c + s_c * s_c * k * k * dv);
}

#define TAGI_LSTM_KERNELS(T, SUFFIX)                                                           \
    extern "C" __global__ void lstm_gate_products_##SUFFIX(const T* mu_w, T* q, int no,       \
                                                           int n) {                            \
        lstm_gate_products<T>(mu_w, q, no, n);                                                 \
    }                                                                                          \
    extern "C" __global__ void lstm_load_input_##SUFFIX(                                      \
        const T* mu_x, const T* var_x, int has_var, int ni, int n, T* mu_a, T* var_a,          \
        T* ms_a, T* m2_a, long long count) {                                                   \
        lstm_load_input<T>(mu_x, var_x, has_var, ni, n, mu_a, var_a, ms_a, m2_a, count);       \
    }                                                                                          \
    extern "C" __global__ void lstm_load_state_##SUFFIX(                                      \
        int zero, const T* mu_h0, const T* var_h0, const T* mu_c0, const T* var_c0, int ni,    \
        int no, int B, int L, T* mu_a, T* var_a, T* ms_a, T* m2_a, T* mu_c, T* var_c) {        \
        lstm_load_state<T>(zero, mu_h0, var_h0, mu_c0, var_c0, ni, no, B, L, mu_a, var_a,      \
                           ms_a, m2_a, mu_c, var_c);                                           \
    }                                                                                          \
    extern "C" __global__ void lstm_save_state_##SUFFIX(                                      \
        int no, int B, int L, const T* mu_h, const T* var_h, const T* mu_c, const T* var_c,    \
        T* st_mu_h, T* st_var_h, T* st_mu_c, T* st_var_c) {                                    \
        lstm_save_state<T>(no, B, L, mu_h, var_h, mu_c, var_c, st_mu_h, st_var_h, st_mu_c,     \
                           st_var_c);                                                          \
    }                                                                                          \
    extern "C" __global__ void lstm_step_forward_##SUFFIX(                                    \
        int t, int ni, int no, int B, int L, const T* zx_mu, const T* zx_var,                  \
        const T* zx_cov, const T* r_mu, const T* r_var, const T* r_cov, const T* mu_b,         \
        const T* var_b, T* mu_c, T* var_c, T* mu_ga, T* var_ga, T* jcb_ga, T* mu_ca,           \
        T* var_ca, T* jcb_ca, T* mu_h, T* var_h, T* mu_a, T* var_a, T* ms_a, T* m2_a) {        \
        const GateSums<T> sums{zx_mu, zx_var, zx_cov, r_mu, r_var, r_cov, mu_b, var_b};        \
        lstm_step_forward<T>(t, ni, no, B, L, sums, mu_c, var_c, mu_ga, var_ga, jcb_ga, mu_ca,  \
                             var_ca, jcb_ca, mu_h, var_h, mu_a, var_a, ms_a, m2_a);            \
    }                                                                                          \
    extern "C" __global__ void lstm_step_backward_##SUFFIX(                                   \
        int t, int no, int B, int L, const T* dmu_out, const T* dvar_out, const T* dmu_hrec,   \
        const T* dvar_hrec, T* dmu_c, T* dvar_c, const T* mu_ga, const T* jcb_ga,              \
        const T* mu_c, const T* mu_ca, const T* jcb_ca, T* dz_mu, T* dz_var) {                 \
        lstm_step_backward<T>(t, no, B, L, dmu_out, dvar_out, dmu_hrec, dvar_hrec, dmu_c,      \
                              dvar_c, mu_ga, jcb_ga, mu_c, mu_ca, jcb_ca, dz_mu, dz_var);      \
    }                                                                                          \
    extern "C" __global__ void lstm_final_states_##SUFFIX(                                    \
        int no, int B, int L, const T* dmu_out, const T* dvar_out, const T* mu_ga,             \
        const T* jcb_ca, const T* mu_h, const T* var_h, const T* mu_c, const T* var_c,         \
        T* mu_h_post, T* var_h_post, T* mu_c_post, T* var_c_post) {                            \
        lstm_final_states<T>(no, B, L, dmu_out, dvar_out, mu_ga, jcb_ca, mu_h, var_h, mu_c,    \
                             var_c, mu_h_post, var_h_post, mu_c_post, var_c_post);             \
    }

TAGI_LSTM_KERNELS(float, f32)
TAGI_LSTM_KERNELS(double, f64)

/* Sequential element-wise parts of the fused training recurrence (float32, float64).
 *
 * Built with _step1.c by pytorch_kaldi_snn/nn/cstep.py and called from
 * pytorch_kaldi_snn/nn/fast_train.py, whose torch loop is the reference: the same
 * equations and the same order of rounding (compiled with -ffp-contract=off), one call
 * per sequence (traditional, v1) or per frame (v2, where the recurrent matrix product
 * and the gates between frames stay in torch) instead of about a dozen tensor
 * operations per frame. The gates F = sigmoid(.) and C = relu(.) * mask come from torch
 * (vectorised, and bit-identical to the reference); this file does what must run
 * frame after frame. Every buffer is contiguous; "slot" buffers hold either all T
 * frames (full) or two alternating frames (rolling).
 *
 * Forward, frames n0 <= n < n1:
 *   traditional: I[n] = beta * I[n-1] + P[n]
 *   v1, v2:      I[n] = F[n] * I[n-1] + (1 - F[n]) * C[n]
 *   all:         V[n] = alpha * V[n-1] + I[n] - Y[n-1];  Y[n] = spike(V[n])
 * Backward, frames n1 > n >= n0 (g_X = dL/dX; Phi = beta or F[n+1]):
 *   g_Y[n] = g_out[n] - g_V[n+1] (+ g_rec: v2, g_A[n+1] W_r^T, added by the caller's
 *            product)
 *   g_V[n] = g_Y[n] * S'(V[n]) + alpha * g_V[n+1]
 *   g_I[n] = g_V[n] + Phi[n+1] * g_I[n+1]
 *   v1, v2:  g_P[n] = [g_I[n] * dF[n], g_I[n] * dC[n]]
 * (the terms with n+1 vanish at the last frame).
 */
#include <math.h>
#include <stddef.h>

#define SLOT(n, full) ((full) ? (size_t)(n) : (size_t)((n) % 2))

#define DEFINE_KERNELS(T, SUFFIX, FLOOR)                                                 \
/* i0, v0, y0: state before frame n0. Frame n reads P (traditional) or F and C (v1,   \
 * v2) at offset (n - n0) * B * H of p_or_f and c_in. y: [T, B, H] always full. */       \
int pks_fused_forward_##SUFFIX(int kind, int n0, int n1, int batch, int h,              \
                               const T *p_or_f, const T *c_in, const T *alpha,          \
                               const T *beta, const T *i0, const T *v0, const T *y0,    \
                               T *i, T *v, T *y, int full, T step, T thr, T top,        \
                               int levels)                                              \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || batch < 0 || h < 0)                \
        return 1;                                                                       \
    for (int n = n0; n < n1; ++n) {                                                     \
        const size_t s = SLOT(n, full);                                                 \
        const T *ip = n == n0 ? i0 : i + SLOT(n - 1, full) * bh;                        \
        const T *vp = n == n0 ? v0 : v + SLOT(n - 1, full) * bh;                        \
        const T *yp = n == n0 ? y0 : y + (size_t)(n - 1) * bh;                          \
        const T *pf = p_or_f + (size_t)(n - n0) * bh;                                   \
        const T *pc = kind == 0 ? NULL : c_in + (size_t)(n - n0) * bh;                  \
        T *in = i + s * bh, *vn = v + s * bh, *yn = y + (size_t)n * bh;                 \
        for (int b = 0; b < batch; ++b) {                                               \
            const size_t o = (size_t)b * h;                                             \
            if (kind == 0) {                                                            \
                for (int k = 0; k < h; ++k)                                             \
                    in[o + k] = beta[k] * ip[o + k] + pf[o + k];                        \
            } else {                                                                    \
                for (int k = 0; k < h; ++k)                                             \
                    in[o + k] = pf[o + k] * ip[o + k] + (1 - pf[o + k]) * pc[o + k];    \
            }                                                                           \
            for (int k = 0; k < h; ++k)                                                 \
                vn[o + k] = alpha[k] * vp[o + k] + in[o + k] - yp[o + k];               \
            if (levels == 0) {                                                          \
                for (int k = 0; k < h; ++k)                                             \
                    yn[o + k] = vn[o + k] > 0 ? vn[o + k] : 0;                          \
            } else {                                                                    \
                for (int k = 0; k < h; ++k) {                                           \
                    const T vv = vn[o + k];                                             \
                    T q = FLOOR(vv / step);                                             \
                    q = q > top ? top : q;                                              \
                    q = q < 0 ? 0 : q;                                                  \
                    yn[o + k] = vv > thr ? q * step : 0;                                \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* g_out, ste, phi_src (F for v1/v2), d_f, d_c: [T, B, H]; g_pre: [T, B, 2H] (v1, v2)    \
 * else NULL (g_I is then the gradient of P). g_v, g_i: slot buffers (full_v, full_i).  \
 * g_rec: [B, H] added to g_Y of frame n1 - 1 when not NULL. g_v_next, g_i_next: the    \
 * gradients of frame n1 (ignored at the last frame). */                               \
int pks_fused_backward_##SUFFIX(int kind, int n0, int n1, int t_len, int batch, int h,  \
                                const T *g_out, const T *ste, const T *alpha,           \
                                const T *beta, const T *phi_src, const T *d_f,          \
                                const T *d_c, const T *g_rec, const T *g_v_next,        \
                                const T *g_i_next, T *g_v, T *g_i, int full_v,          \
                                int full_i, T *g_pre)                                   \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || n1 > t_len || batch < 0           \
        || h < 0)                                                                       \
        return 1;                                                                       \
    for (int n = n1 - 1; n >= n0; --n) {                                                \
        const size_t x = (size_t)n * bh;                                                \
        const T *go = g_out + x, *st = ste + x;                                         \
        T *gv = g_v + SLOT(n, full_v) * bh, *gi = g_i + SLOT(n, full_i) * bh;           \
        if (n + 1 >= t_len) {                                                           \
            for (size_t j = 0; j < bh; ++j) {                                           \
                gv[j] = go[j] * st[j];                                                  \
                gi[j] = gv[j];                                                          \
            }                                                                           \
        } else {                                                                        \
            const T *gvn = n == n1 - 1 ? g_v_next : g_v + SLOT(n + 1, full_v) * bh;     \
            const T *gin = n == n1 - 1 ? g_i_next : g_i + SLOT(n + 1, full_i) * bh;     \
            const T *grec = n == n1 - 1 ? g_rec : NULL;                                 \
            const T *phi = kind == 0 ? NULL : phi_src + (size_t)(n + 1) * bh;           \
            for (int b = 0; b < batch; ++b) {                                           \
                const size_t o = (size_t)b * h;                                         \
                if (grec) {                                                             \
                    for (int k = 0; k < h; ++k)                                         \
                        gv[o + k] = (go[o + k] - gvn[o + k] + grec[o + k]) * st[o + k]  \
                                    + alpha[k] * gvn[o + k];                            \
                } else {                                                                \
                    for (int k = 0; k < h; ++k)                                         \
                        gv[o + k] = (go[o + k] - gvn[o + k]) * st[o + k]                \
                                    + alpha[k] * gvn[o + k];                            \
                }                                                                       \
                if (kind == 0) {                                                        \
                    for (int k = 0; k < h; ++k)                                         \
                        gi[o + k] = gv[o + k] + beta[k] * gin[o + k];                   \
                } else {                                                                \
                    for (int k = 0; k < h; ++k)                                         \
                        gi[o + k] = gv[o + k] + phi[o + k] * gin[o + k];                \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        if (kind != 0) {                                                                \
            for (int b = 0; b < batch; ++b) {                                           \
                const size_t o = (size_t)b * h;                                         \
                T *gp = g_pre + 2 * x + 2 * o;                                          \
                for (int k = 0; k < h; ++k) {                                           \
                    gp[k] = gi[o + k] * d_f[x + o + k];                                 \
                    gp[h + k] = gi[o + k] * d_c[x + o + k];                             \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_KERNELS(float, f32, floorf)
DEFINE_KERNELS(double, f64, floor)

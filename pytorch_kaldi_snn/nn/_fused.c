/* Sequential element-wise parts of the fused training recurrence (float32, float64).
 *
 * Built with _step1.c by pytorch_kaldi_snn/nn/cstep.py and called from
 * pytorch_kaldi_snn/nn/fast_train.py, whose torch loop is the reference: the same
 * equations and the same order of rounding (compiled with -ffp-contract=off), one call
 * per sequence (traditional, v1) or per frame (v2, where the recurrent matrix product
 * and the gates between frames stay in torch) instead of about a dozen tensor
 * operations per frame. The gates F = sigmoid(.) and C = relu(.) * mask come from torch
 * (vectorised, and bit-identical to the reference); this file does what must run
 * frame after frame. "Slot" buffers hold either all T frames (full) or two
 * alternating frames (rolling). F and C (v1, v2) are the two halves of the rows of one
 * [T, B, 2H] buffer FC (row stride ld = 2H), the layout of the gate gradient g_P, which
 * the backward writes over FC.
 *
 * Forward, frames n0 <= n < n1:
 *   traditional: I[n] = beta * I[n-1] + P[n]
 *   v1, v2:      I[n] = F[n] * I[n-1] + (1 - F[n]) * C[n]
 *   all:         V[n] = alpha * V[n-1] + I[n] - Y[n-1];  Y[n] = spike(V[n])
 *                S'[n] = [0 <= V[n] <= b] (relu: [V[n] > 0]) as bytes, when asked;
 *                vmax = max(vmax, V[n]) (NaN sticks), when asked
 * Backward, frames n1 > n >= n0 (g_X = dL/dX):
 *   g_Y[n] = g_out[n] - g_V[n+1] (+ g_rec: v2, g_A[n+1] W_r^T, added by the caller's
 *            product)
 *   g_V[n] = g_Y[n] * S'[n] + alpha * g_V[n+1]
 *   traditional: g_I[n] = g_V[n] + beta * g_I[n+1]           (g_I is g_P)
 *   v1, v2:      g_I[n] = g_V[n] + K[n+1],  K[n] = F[n] * g_I[n] kept in the g_I slot
 *                g_P[n] = [g_I[n] * dF[n], g_I[n] * dC[n]] written over FC[n]
 * (the terms with n+1 vanish at the last frame; K[n+1] is the product the reference
 * computes as F[n+1] * g_I[n+1], taken before FC[n+1] is overwritten).
 *
 * Every kernel takes a range of the independent rows it touches (sequences b0 <= b < b1
 * of the batch, channels c0 <= c < c1 of batch norm) and leaves the rest alone, so
 * pytorch_kaldi_snn/nn/parallel.py runs disjoint ranges on several threads at once;
 * the arithmetic of each row, and so the result, is the same for any split.
 */
#include <math.h>
#include <stddef.h>

/* GCC vectorises the selects of the quantiser, the gate factors and the max only when
 * floating-point operations may not trap; this changes no value (IEEE arithmetic and
 * no contraction stay), only what GCC may assume about exception flags. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define SLOT(n, full) ((full) ? (size_t)(n) : (size_t)((n) % 2))

#define DEFINE_KERNELS(T, SUFFIX, FLOOR)                                                 \
/* i0, v0, y0: state before frame n0. Frame n reads P (traditional) or F and C (v1,   \
 * v2) at offset (n - n0) * B * ld of p_or_f and c_in (row stride ld). y: [T, B, H]    \
 * always full; ste: [T, B, H] bytes or NULL; vmax: one value or NULL. */               \
int pks_fused_forward_##SUFFIX(int kind, int n0, int n1, int batch, int b0, int b1,    \
                               int h, int ld, const T *p_or_f, const T *c_in,           \
                               const T *alpha, const T *beta, const T *i0, const T *v0, \
                               const T *y0,                                             \
                               T *i, T *v, T *y, int full_i, int full_v,                \
                               unsigned char *ste, T *vmax, T step, T thr, T top,       \
                               int levels, T b_range)                                   \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || batch < 0 || h < 0 || ld < h      \
        || b0 < 0 || b1 < b0 || b1 > batch)                                             \
        return 1;                                                                       \
    T m = vmax ? *vmax : 0, lane[64];                                                   \
    for (int j = 0; j < 64; ++j)                                                        \
        lane[j] = m;                                                                    \
    for (int n = n0; n < n1; ++n) {                                                     \
        const T *ip = n == n0 ? i0 : i + SLOT(n - 1, full_i) * bh;                      \
        const T *vp = n == n0 ? v0 : v + SLOT(n - 1, full_v) * bh;                      \
        const T *yp = n == n0 ? y0 : y + (size_t)(n - 1) * bh;                          \
        T *in = i + SLOT(n, full_i) * bh, *vn = v + SLOT(n, full_v) * bh;               \
        T *yn = y + (size_t)n * bh;                                                     \
        unsigned char *sn = ste ? ste + (size_t)n * bh : NULL;                          \
        for (int b = b0; b < b1; ++b) {                                                 \
            const size_t o = (size_t)b * h;                                             \
            const size_t r = (size_t)(n - n0) * batch * ld + (size_t)b * ld;            \
            const T *pf = p_or_f + r;                                                   \
            if (kind == 0) {                                                            \
                for (int k = 0; k < h; ++k)                                             \
                    in[o + k] = beta[k] * ip[o + k] + pf[k];                            \
            } else {                                                                    \
                const T *pc = c_in + r;                                                 \
                for (int k = 0; k < h; ++k)                                             \
                    in[o + k] = pf[k] * ip[o + k] + (1 - pf[k]) * pc[k];                \
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
                    const T yq = q * step; /* outside the select: vectorises */         \
                    yn[o + k] = vv > thr ? yq : 0;                                      \
                }                                                                       \
            }                                                                           \
            if (sn && levels == 0) {                                                    \
                for (int k = 0; k < h; ++k)                                             \
                    sn[o + k] = vn[o + k] > 0;                                          \
            } else if (sn) {                                                            \
                for (int k = 0; k < h; ++k) {                                           \
                    const T vv = vn[o + k];                                             \
                    sn[o + k] = (unsigned char)((vv >= 0) & (vv <= b_range));           \
                }                                                                       \
            }                                                                           \
            if (vmax) { /* 64 lanes, NaN sticks; merged after the frames */             \
                for (int k0 = 0; k0 < h; k0 += 64) {                                    \
                    const int kn = h - k0 < 64 ? h - k0 : 64;                           \
                    for (int j = 0; j < kn; ++j) {                                      \
                        const T vv = vn[o + k0 + j], l = lane[j];                       \
                        lane[j] = ((l != l) | (vv <= l)) ? l : vv;                      \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    for (int j = 0; j < 64; ++j)                                                        \
        if (m == m && !(lane[j] <= m))                                                  \
            m = lane[j];                                                                \
    if (vmax)                                                                           \
        *vmax = m;                                                                      \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* g_out: [T, B, H], or one [B, H] frame read for every frame when go_full is 0; ste:   \
 * [T, B, H] bytes; d_f: [T, B, H] (v1, v2); fc: [T, B, 2H] holding F and dC, turned   \
 * into g_P (v1, v2), else NULL (g_I is then the gradient of P). g_v, g_i: slot buffers \
 * (full_v, full_i). g_rec: [B, H] added to g_Y of frame n1 - 1 when not NULL.          \
 * g_v_next, g_i_next: frame n1's g_V and g_I (v1, v2: K) (ignored at the last frame). */\
int pks_fused_backward_##SUFFIX(int kind, int n0, int n1, int t_len, int batch, int b0, \
                                int b1, int h,                                          \
                                const T *g_out, int go_full, const unsigned char *ste,  \
                                const T *alpha, const T *beta, const T *d_f,            \
                                const T *g_rec, const T *g_v_next, const T *g_i_next,   \
                                T *g_v, T *g_i, int full_v, int full_i, T *fc)          \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || n1 > t_len || batch < 0           \
        || h < 0 || b0 < 0 || b1 < b0 || b1 > batch)                                    \
        return 1;                                                                       \
    for (int n = n1 - 1; n >= n0; --n) {                                                \
        const size_t x = (size_t)n * bh;                                                \
        const T *go = g_out + (go_full ? x : 0);                                        \
        const unsigned char *st = ste + x;                                              \
        T *gv = g_v + SLOT(n, full_v) * bh, *gi = g_i + SLOT(n, full_i) * bh;           \
        const int last = n + 1 >= t_len;                                                \
        const T *gvn = last ? NULL                                                      \
                       : n == n1 - 1 ? g_v_next : g_v + SLOT(n + 1, full_v) * bh;        \
        const T *gin = last ? NULL                                                      \
                       : n == n1 - 1 ? g_i_next : g_i + SLOT(n + 1, full_i) * bh;        \
        const T *grec = !last && n == n1 - 1 ? g_rec : NULL;                            \
        for (int b = b0; b < b1; ++b) {                                                 \
            const size_t o = (size_t)b * h;                                             \
            if (last) {                                                                 \
                for (int k = 0; k < h; ++k) {                                           \
                    gv[o + k] = go[o + k] * (T)st[o + k];                               \
                    gi[o + k] = gv[o + k];                                              \
                }                                                                       \
            } else {                                                                    \
                if (grec) {                                                             \
                    for (int k = 0; k < h; ++k)                                         \
                        gv[o + k] = (go[o + k] - gvn[o + k] + grec[o + k])              \
                                    * (T)st[o + k] + alpha[k] * gvn[o + k];             \
                } else {                                                                \
                    for (int k = 0; k < h; ++k)                                         \
                        gv[o + k] = (go[o + k] - gvn[o + k]) * (T)st[o + k]             \
                                    + alpha[k] * gvn[o + k];                            \
                }                                                                       \
                if (kind == 0) {                                                        \
                    for (int k = 0; k < h; ++k)                                         \
                        gi[o + k] = gv[o + k] + beta[k] * gin[o + k];                   \
                } else {                                                                \
                    for (int k = 0; k < h; ++k)                                         \
                        gi[o + k] = gv[o + k] + gin[o + k];                             \
                }                                                                       \
            }                                                                           \
            if (kind != 0) {                                                            \
                T *row = fc + 2 * x + 2 * o;                                            \
                const T *df = d_f + x + o;                                              \
                for (int k = 0; k < h; ++k) {                                           \
                    const T gik = gi[o + k], fk = row[k];                               \
                    row[k] = gik * df[k];                                               \
                    row[h + k] = gik * row[h + k];                                      \
                    gi[o + k] = fk * gik;                                               \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_KERNELS(float, f32, floorf)
DEFINE_KERNELS(double, f64, floor)

/* Batch norm of the fused layers' input projections over the rows of X [rows, ch]
 * (rows = T*B, row r = n*B + b), training mode, with an optional per-sequence mask
 * M [B, ch] applied after it (traditional's dropout of the input current):
 *   stats:    mean = sum_r X / rows, var = sum_r (X - mean)^2 / rows (biased; two
 *             passes, double accumulators)
 *   apply:    Y = (X * a + s) * M[r % B],  a = w / sqrt(var + eps), s = bias - mean * a
 *   backward: G = g_Y * M[r % B]; sum_g = sum_r G, dot = sum_r G (X - mean);
 *             g_X = (G - sum_g / rows - (X - mean) * dot * istd^2 / rows) * a,
 *             g_w = dot * istd, g_bias = sum_g   (istd = 1 / sqrt(var + eps))
 * acc: 2 * ch doubles of scratch. */
#define DEFINE_BN(T, SUFFIX)                                                             \
int pks_bn_stats_##SUFFIX(int rows, int ch, int c0, int c1, const T *x, double *acc,    \
                          T *mean, T *var)                                              \
{                                                                                       \
    if (rows <= 0 || ch < 0 || c0 < 0 || c1 < c0 || c1 > ch)                            \
        return 1;                                                                       \
    double *s = acc, *q = acc + ch;                                                     \
    for (int c = c0; c < c1; ++c)                                                       \
        s[c] = q[c] = 0;                                                                \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ch;                                               \
        for (int c = c0; c < c1; ++c)                                                   \
            s[c] += (double)xr[c];                                                      \
    }                                                                                   \
    for (int c = c0; c < c1; ++c)                                                       \
        s[c] /= rows;                                                                   \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ch;                                               \
        for (int c = c0; c < c1; ++c) {                                                 \
            const double d = (double)xr[c] - s[c];                                      \
            q[c] += d * d;                                                              \
        }                                                                               \
    }                                                                                   \
    for (int c = c0; c < c1; ++c) {                                                     \
        mean[c] = (T)s[c];                                                              \
        var[c] = (T)(q[c] / rows);                                                      \
    }                                                                                   \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
int pks_bn_apply_##SUFFIX(int rows, int ch, int batch, const T *x, const T *a,          \
                          const T *s, const T *mask, T *y)                              \
{                                                                                       \
    if (rows < 0 || ch < 0 || batch <= 0)                                               \
        return 1;                                                                       \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ch;                                               \
        T *yr = y + (size_t)r * ch;                                                     \
        if (mask) {                                                                     \
            const T *mr = mask + (size_t)(r % batch) * ch;                              \
            for (int c = 0; c < ch; ++c) {                                              \
                const T p = xr[c] * a[c] + s[c];                                        \
                yr[c] = p * mr[c];                                                      \
            }                                                                           \
        } else {                                                                        \
            for (int c = 0; c < ch; ++c)                                                \
                yr[c] = xr[c] * a[c] + s[c];                                            \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
int pks_bn_backward_##SUFFIX(int rows, int ch, int c0, int c1, int batch, const T *x,   \
                             const T *mean, const T *g, const T *mask, const T *a,      \
                             const T *istd, double *acc, T *g_x, T *g_w, T *g_b)        \
{                                                                                       \
    if (rows <= 0 || ch < 0 || batch <= 0 || c0 < 0 || c1 < c0 || c1 > ch)              \
        return 1;                                                                       \
    double *sg = acc, *dot = acc + ch;                                                  \
    for (int c = c0; c < c1; ++c)                                                       \
        sg[c] = dot[c] = 0;                                                             \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ch, *gr = g + (size_t)r * ch;                     \
        const T *mr = mask ? mask + (size_t)(r % batch) * ch : NULL;                    \
        for (int c = c0; c < c1; ++c) {                                                 \
            const T gc = mr ? gr[c] * mr[c] : gr[c];                                    \
            sg[c] += (double)gc;                                                        \
            dot[c] += (double)gc * ((double)xr[c] - (double)mean[c]);                   \
        }                                                                               \
    }                                                                                   \
    for (int c = c0; c < c1; ++c) {                                                     \
        const double is = (double)istd[c];                                              \
        g_w[c] = (T)(dot[c] * is);                                                      \
        g_b[c] = (T)sg[c];                                                              \
        dot[c] = dot[c] * is * is / rows; /* now the projection factor */               \
        sg[c] /= rows;                    /* now the mean gradient */                   \
    }                                                                                   \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ch, *gr = g + (size_t)r * ch;                     \
        const T *mr = mask ? mask + (size_t)(r % batch) * ch : NULL;                    \
        T *out = g_x + (size_t)r * ch;                                                  \
        for (int c = c0; c < c1; ++c) {                                                 \
            const T gc = mr ? gr[c] * mr[c] : gr[c];                                    \
            const T k = (T)dot[c], m = (T)sg[c];                                        \
            out[c] = (gc - m - (xr[c] - mean[c]) * k) * a[c];                           \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_BN(float, f32)
DEFINE_BN(double, f64)

/* Gate factors of v1 and v2 for all frames, one pass before the backward recurrence:
 * fc [T, B, 2H] holds F | C (C = relu(.) * M), i_base [T + 1, B, H] holds I[n-1] at
 * frame n (a zero frame first); mask M [B, H] or NULL. Afterwards
 *   i_base[n] = dF[n] = d - d * F[n],  d = I[n-1] - C[n]   (dA_f / dI, times g_I later)
 *   C half    = dC[n] = (k - k * F[n]) * M,  k = [C[n] > 0]  (dA_c / dI)
 * the operations of the torch fallback in fast_train.py, in its order (its addcmul_ may
 * round d - d * F as one fused multiply-add: the two agree to an ulp). */
#define DEFINE_GATE_FACTORS(T, SUFFIX)                                                  \
int pks_gate_factors_##SUFFIX(int t_len, int batch, int b0, int b1, int h, T *fc,       \
                              T *i_base, const T *mask)                                 \
{                                                                                       \
    if (t_len < 0 || batch < 0 || h < 0 || b0 < 0 || b1 < b0 || b1 > batch)             \
        return 1;                                                                       \
    for (int n = 0; n < t_len; ++n)                                                     \
        for (int b = b0; b < b1; ++b) {                                                 \
            T *row = fc + ((size_t)n * batch + b) * 2 * h;                              \
            T *ip = i_base + ((size_t)n * batch + b) * h;                               \
            const T *m = mask ? mask + (size_t)b * h : NULL;                            \
            for (int k = 0; k < h; ++k) {                                               \
                const T f = row[k];                                                     \
                T d = (n == 0 ? -row[h + k] : ip[k] - row[h + k]) * f;                  \
                ip[k] = d - d * f;                                                      \
                const T g = row[h + k] > 0 ? (T)1 : (T)0;                               \
                const T dc = g - g * f;                                                 \
                row[h + k] = m ? dc * m[k] : dc;                                        \
            }                                                                           \
        }                                                                               \
    return 0;                                                                           \
}                                                                                       

DEFINE_GATE_FACTORS(float, f32)
DEFINE_GATE_FACTORS(double, f64)

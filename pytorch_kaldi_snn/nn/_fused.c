/* Sequential element-wise parts of the fused training recurrence (float32, float64).
 *
 * Built with _step1.c by pytorch_kaldi_snn/nn/cstep.py and called from
 * pytorch_kaldi_snn/nn/fast_train.py, whose torch loop is the reference: the same
 * equations and the same order of rounding (compiled with -ffp-contract=off), one call
 * per sequence (traditional, v1) or per frame (v2, where the recurrent matrix product
 * and the gates between frames stay in torch) instead of about a dozen tensor
 * operations per frame. The sigmoid F = sigmoid(.) comes from torch (vectorised, and
 * bit-identical to the reference); this file does what must run frame after frame, and
 * the element-wise work that can ride along with it: the batch-norm affine of the
 * input projections (traditional; the candidate half of v1) and C = relu(.) * mask (v1;
 * v2's C comes from torch with its gates). "Slot" buffers hold either all T frames
 * (full) or two alternating frames (rolling). v2 keeps F and C as the two halves of the
 * rows of one [T, B, 2H] buffer FC (row stride 2H), the layout of the gate gradient g_P,
 * which its backward writes over FC; v1 keeps F alone ([T, B, H]) and forms C again
 * from the projections in the backward.
 *
 * Forward, frames n0 <= n < n1:
 *   traditional: I[n] = beta * I[n-1] + P[n]
 *   v1, v2:      I[n] = F[n] * I[n-1] + (1 - F[n]) * C[n]
 *   all:         V[n] = alpha * V[n-1] + I[n] - Y[n-1];  Y[n] = spike(V[n])
 *                S'[n] = [0 <= V[n] <= b] (relu: [V[n] > 0]) as bytes, when asked;
 *                vmax = max(vmax, V[n]) (NaN sticks), when asked
 * Backward, frames n1 > n >= n0 (g_X = dL/dX):
 *   g_Y[n] = g_out[n] - g_V[n+1] (+ g_rec: v2, g_A[n+1] W_r^T, added by the caller's
 *            product; g_rec holds the rows b0 <= b < b1 alone, [b1 - b0, H])
 *   g_V[n] = g_Y[n] * S'[n] + alpha * g_V[n+1]
 *   traditional: g_I[n] = g_V[n] + beta * g_I[n+1]           (g_I is g_P)
 *   v1, v2:      g_I[n] = g_V[n] + K[n+1],  K[n] = F[n] * g_I[n] kept in the g_I slot
 *                g_P[n] = [g_I[n] * dF[n], g_I[n] * dC[n]],  the gate factors
 *                dF[n] = dA_f/dI = (I[n-1] - C[n]) F[n] (1 - F[n]) and
 *                dC[n] = dA_c/dI = [C[n] > 0] (1 - F[n]) M, formed in the same pass
 * (the terms with n+1 vanish at the last frame; K[n+1] is the product the reference
 * computes as F[n+1] * g_I[n+1], taken before v2's FC[n+1] is overwritten).
 *
 * Every kernel takes a range of the independent rows it touches (sequences b0 <= b < b1
 * of the batch, rows r0 <= r < r1 of batch norm) and leaves the rest alone, so
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
#define CHUNK 256 /* units per block of the row loops that go through local arrays */

/* out[k] = C of units k0 .. k0 + kn - 1 from the candidate pre-activation src:
 * max(src * a + s, 0) * mask (a, s, mask each optional; max keeps NaN and -0 as
 * torch.clamp(min=0) does). Each case is its own loop, so each vectorises. */
#define DEFINE_CANDIDATE(T, SUFFIX)                                                     \
static void candidate_##SUFFIX(int kn, const T *src, const T *a, const T *s,           \
                               const T *mask, T *out)                                   \
{                                                                                       \
    if (a) {                                                                            \
        for (int k = 0; k < kn; ++k) {                                                  \
            const T c = src[k] * a[k] + s[k];                                           \
            out[k] = c < 0 ? 0 : c;                                                     \
        }                                                                               \
    } else {                                                                            \
        for (int k = 0; k < kn; ++k)                                                    \
            out[k] = src[k] < 0 ? 0 : src[k];                                           \
    }                                                                                   \
    if (mask)                                                                           \
        for (int k = 0; k < kn; ++k)                                                    \
            out[k] = out[k] * mask[k];                                                  \
}

#define DEFINE_KERNELS(T, SUFFIX, FLOOR)                                                 \
/* i0, v0, y0: state before frame n0. Frame n, sequence b reads its row at offset      \
 * (n - n0) * B * ld + b * ld of p_or_f (P: traditional; F: v1, v2) and at             \
 * (n - n0) * B * ldc + b * ldc of c_in (v1, v2). With c_raw (v1) c_in holds the       \
 * candidate pre-activation and C = max(c_in * a + s, 0) * M is formed here (a, s: the \
 * batch-norm affine of the C half, or NULL for none); else c_in holds C (v2). The     \
 * traditional P is (p_or_f * a + s) * M likewise (a, s, M each optional). mask: M     \
 * [B, H] or NULL. y: [T, B, H] always full; ste: [T, B, H] bytes or NULL; vmax: one   \
 * value or NULL. */                                                                    \
int pks_fused_forward_##SUFFIX(int kind, int n0, int n1, int batch, int b0, int b1,    \
                               int h, int ld, const T *p_or_f, const T *c_in, int ldc,  \
                               int c_raw, const T *bn_a, const T *bn_s, const T *mask,  \
                               const T *alpha, const T *beta, const T *i0, const T *v0, \
                               const T *y0,                                             \
                               T *i, T *v, T *y, int full_i, int full_v,                \
                               unsigned char *ste, T *vmax, T step, T thr, T top,       \
                               int levels, T b_range)                                   \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || batch < 0 || h < 0 || ld < h      \
        || (kind != 0 && ldc < h) || b0 < 0 || b1 < b0 || b1 > batch                    \
        || (bn_a == NULL) != (bn_s == NULL))                                            \
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
            const T *pf = p_or_f + (size_t)(n - n0) * batch * ld + (size_t)b * ld;      \
            const T *mk = mask ? mask + o : NULL;                                       \
            if (kind == 0) {                                                            \
                if (bn_a && mk) {                                                       \
                    for (int k = 0; k < h; ++k) {                                       \
                        const T p = pf[k] * bn_a[k] + bn_s[k];                          \
                        in[o + k] = beta[k] * ip[o + k] + p * mk[k];                    \
                    }                                                                   \
                } else if (bn_a) {                                                      \
                    for (int k = 0; k < h; ++k)                                         \
                        in[o + k] = beta[k] * ip[o + k] + (pf[k] * bn_a[k] + bn_s[k]);  \
                } else if (mk) {                                                        \
                    for (int k = 0; k < h; ++k)                                         \
                        in[o + k] = beta[k] * ip[o + k] + pf[k] * mk[k];                \
                } else {                                                                \
                    for (int k = 0; k < h; ++k)                                         \
                        in[o + k] = beta[k] * ip[o + k] + pf[k];                        \
                }                                                                       \
            } else {                                                                    \
                const T *pc = c_in + (size_t)(n - n0) * batch * ldc + (size_t)b * ldc;  \
                if (!c_raw) { /* v2: C from torch */                                    \
                    for (int k = 0; k < h; ++k)                                         \
                        in[o + k] = pf[k] * ip[o + k] + (1 - pf[k]) * pc[k];            \
                } else {                                                                \
                    for (int k0 = 0; k0 < h; k0 += CHUNK) {                             \
                        const int kn = h - k0 < CHUNK ? h - k0 : CHUNK;                 \
                        T cb[CHUNK];                                                    \
                        candidate_##SUFFIX(kn, pc + k0, bn_a ? bn_a + k0 : NULL,        \
                                           bn_s ? bn_s + k0 : NULL,                     \
                                           mk ? mk + k0 : NULL, cb);                    \
                        const T *fk = pf + k0, *ipk = ip + o + k0;                      \
                        T *ink = in + o + k0;                                           \
                        for (int k = 0; k < kn; ++k)                                    \
                            ink[k] = fk[k] * ipk[k] + (1 - fk[k]) * cb[k];              \
                    }                                                                   \
                }                                                                       \
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
 * [T, B, H] bytes. v1, v2: F at row stride ldf of f, C as in the forward (c_in, ldc,  \
 * c_raw, bn_a, bn_s, mask), i_base [T + 1, B, H] holding I[n-1] at frame n; the gate  \
 * factors are formed here and g_P [T, B, 2H] is written to gp (which may be the       \
 * buffer holding F | C: each element is read before it is written). Traditional: g_I \
 * is the gradient of P, and f, c_in, i_base, gp are ignored. g_v, g_i: slot buffers   \
 * (full_v, full_i). g_rec: [B, H] added to g_Y of frame n1 - 1 when not NULL.          \
 * g_v_next, g_i_next: frame n1's g_V and g_I (v1, v2: K) (ignored at the last frame). */\
int pks_fused_backward_##SUFFIX(int kind, int n0, int n1, int t_len, int batch, int b0, \
                                int b1, int h,                                          \
                                const T *g_out, int go_full, const unsigned char *ste,  \
                                const T *alpha, const T *beta, const T *f, int ldf,     \
                                const T *c_in, int ldc, int c_raw, const T *bn_a,       \
                                const T *bn_s, const T *mask, const T *i_base,          \
                                const T *g_rec, const T *g_v_next, const T *g_i_next,   \
                                T *g_v, T *g_i, int full_v, int full_i, T *gp)          \
{                                                                                       \
    const size_t bh = (size_t)batch * h;                                                \
    if (kind < 0 || kind > 2 || n0 < 0 || n1 < n0 || n1 > t_len || batch < 0           \
        || h < 0 || b0 < 0 || b1 < b0 || b1 > batch                                     \
        || (kind != 0 && (ldf < h || ldc < h || !f || !c_in || !i_base || !gp))         \
        || (bn_a == NULL) != (bn_s == NULL))                                            \
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
            const size_t o = (size_t)b * h, ro = (size_t)(b - b0) * h;                  \
            if (last) {                                                                 \
                for (int k = 0; k < h; ++k) {                                           \
                    gv[o + k] = go[o + k] * (T)st[o + k];                               \
                    gi[o + k] = gv[o + k];                                              \
                }                                                                       \
            } else {                                                                    \
                if (grec) {                                                             \
                    for (int k = 0; k < h; ++k)                                         \
                        gv[o + k] = (go[o + k] - gvn[o + k] + grec[ro + k])             \
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
                /* dF = d - d F, d = (I[n-1] - C) F;  dC = ([C > 0] - [C > 0] F) M;     \
                 * g_P = [g_I dF, g_I dC];  K[n] = F g_I */                             \
                const size_t row_n = (size_t)n * batch + b; /* row of [T * B, .] */   \
                const T *fr = f + row_n * ldf, *cr = c_in + row_n * ldc;                \
                const T *ipr = i_base + x + o;                                          \
                const T *mk = mask ? mask + o : NULL;                                   \
                T *row = gp + 2 * x + 2 * o, *gir = gi + o;                             \
                for (int k0 = 0; k0 < h; k0 += CHUNK) {                                 \
                    const int kn = h - k0 < CHUNK ? h - k0 : CHUNK;                     \
                    T cb[CHUNK], db[CHUNK];                                             \
                    const T *cc = cr + k0;                                              \
                    if (c_raw) {                                                        \
                        candidate_##SUFFIX(kn, cc, bn_a ? bn_a + k0 : NULL,             \
                                           bn_s ? bn_s + k0 : NULL,                     \
                                           mk ? mk + k0 : NULL, cb);                    \
                        cc = cb;                                                        \
                    }                                                                   \
                    if (n == 0) {                                                       \
                        for (int k = 0; k < kn; ++k)                                    \
                            db[k] = -cc[k];                                             \
                    } else {                                                            \
                        for (int k = 0; k < kn; ++k)                                    \
                            db[k] = ipr[k0 + k] - cc[k];                                \
                    }                                                                   \
                    /* element-wise in place (gp may be the F | C buffer, cc its C      \
                     * half): no value crosses iterations */                            \
                    const T *fk = fr + k0, *mkk = mk ? mk + k0 : NULL;                  \
                    T *rf = row + k0, *rc = row + h + k0, *gik = gir + k0;              \
                    if (mkk) {                                                          \
                        _Pragma("GCC ivdep")                                            \
                        for (int k = 0; k < kn; ++k) {                                  \
                            const T g = gik[k], f_ = fk[k], d = db[k] * f_;             \
                            const T on = cc[k] > 0 ? (T)1 : (T)0;                       \
                            const T dc = on - on * f_;                                  \
                            rf[k] = g * (d - d * f_);                                   \
                            rc[k] = g * (dc * mkk[k]);                                  \
                            gik[k] = f_ * g;                                            \
                        }                                                               \
                    } else {                                                            \
                        _Pragma("GCC ivdep")                                            \
                        for (int k = 0; k < kn; ++k) {                                  \
                            const T g = gik[k], f_ = fk[k], d = db[k] * f_;             \
                            const T on = cc[k] > 0 ? (T)1 : (T)0;                       \
                            rf[k] = g * (d - d * f_);                                   \
                            rc[k] = g * (on - on * f_);                                 \
                            gik[k] = f_ * g;                                            \
                        }                                                               \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_CANDIDATE(float, f32)
DEFINE_CANDIDATE(double, f64)
DEFINE_KERNELS(float, f32, floorf)
DEFINE_KERNELS(double, f64, floor)

/* Batch norm of the fused layers' input projections over the rows of X [rows, ch]
 * (rows = T*B, row r = n*B + b), training mode, with an optional per-sequence mask
 * M [B, ch] applied after it (traditional's dropout of the input current). Each sum
 * over rows is taken over a range of rows r0 <= r < r1 (one block) into double
 * accumulators; fast_bn.py adds the blocks in a fixed order:
 *   sums:       out = sum_r X, or with center sum_r (X - center)^2 (the two passes of
 *               the mean and the biased variance; center is the mean in double)
 *   apply:      Y = (X * a + s) * M[r % B],  a = w / sqrt(var + eps), s = bias - mean * a
 *               (ch columns of rows ldx apart into rows ldy apart: one half of [T*B, 2H])
 *   grad_sums:  G = g_Y * M[r % B]; out[0:ch] = sum_r G, out[ch:2ch] = sum_r G (X - mean)
 *   grad_apply: g_X = (G - m - (X - mean) * k) * a  with m = sum G / rows and
 *               k = sum G (X - mean) istd^2 / rows (from the sums); g_X may be g_Y's
 *               buffer (each element is read before it is written) */
#define DEFINE_BN(T, SUFFIX)                                                            \
int pks_bn_sums_##SUFFIX(int r0, int r1, int ch, const T *x, const double *center,      \
                         double *out)                                                   \
{                                                                                       \
    if (r0 < 0 || r1 < r0 || ch < 0)                                                    \
        return 1;                                                                       \
    for (int c = 0; c < ch; ++c)                                                        \
        out[c] = 0;                                                                     \
    for (int r = r0; r < r1; ++r) {                                                     \
        const T *xr = x + (size_t)r * ch;                                               \
        if (center) {                                                                   \
            for (int c = 0; c < ch; ++c) {                                              \
                const double d = (double)xr[c] - center[c];                             \
                out[c] += d * d;                                                        \
            }                                                                           \
        } else {                                                                        \
            for (int c = 0; c < ch; ++c)                                                \
                out[c] += (double)xr[c];                                                \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
int pks_bn_apply_##SUFFIX(int rows, int ch, int batch, int ldx, int ldy, const T *x,    \
                          const T *a, const T *s, const T *mask, T *y)                  \
{                                                                                       \
    if (rows < 0 || ch < 0 || batch <= 0 || ldx < ch || ldy < ch)                       \
        return 1;                                                                       \
    for (int r = 0; r < rows; ++r) {                                                    \
        const T *xr = x + (size_t)r * ldx;                                              \
        T *yr = y + (size_t)r * ldy;                                                    \
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
int pks_bn_grad_sums_##SUFFIX(int r0, int r1, int ch, int batch, const T *x,            \
                              const T *mean, const T *g, const T *mask, double *out)    \
{                                                                                       \
    if (r0 < 0 || r1 < r0 || ch < 0 || batch <= 0)                                      \
        return 1;                                                                       \
    double *sg = out, *dot = out + ch;                                                  \
    for (int c = 0; c < ch; ++c)                                                        \
        sg[c] = dot[c] = 0;                                                             \
    for (int r = r0; r < r1; ++r) {                                                     \
        const T *xr = x + (size_t)r * ch, *gr = g + (size_t)r * ch;                     \
        const T *mr = mask ? mask + (size_t)(r % batch) * ch : NULL;                    \
        for (int c = 0; c < ch; ++c) {                                                  \
            const T gc = mr ? gr[c] * mr[c] : gr[c];                                    \
            sg[c] += (double)gc;                                                        \
            dot[c] += (double)gc * ((double)xr[c] - (double)mean[c]);                   \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
int pks_bn_grad_apply_##SUFFIX(int r0, int r1, int ch, int batch, const T *x,           \
                               const T *mean, const T *g, const T *mask, const T *k,    \
                               const T *m, const T *a, T *g_x)                          \
{                                                                                       \
    if (r0 < 0 || r1 < r0 || ch < 0 || batch <= 0)                                      \
        return 1;                                                                       \
    for (int r = r0; r < r1; ++r) {                                                     \
        const T *xr = x + (size_t)r * ch, *gr = g + (size_t)r * ch;                     \
        const T *mr = mask ? mask + (size_t)(r % batch) * ch : NULL;                    \
        T *out = g_x + (size_t)r * ch;                                                  \
        for (int c = 0; c < ch; ++c) {                                                  \
            const T gc = mr ? gr[c] * mr[c] : gr[c];                                    \
            out[c] = (gc - m[c] - (xr[c] - mean[c]) * k[c]) * a[c];                     \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_BN(float, f32)
DEFINE_BN(double, f64)

/* Batch-1 event-driven spiking layers over many frames in one call (float32, float64).
 *
 * Built with the other kernels by pytorch_kaldi_snn/nn/cstep.py and called through
 * ctypes from pytorch_kaldi_snn/nn/batch1.py (the whole-utterance path of
 * StreamingSNN.forward at batch 1 and the stateful stream of StreamingSNN.open()).
 * The sums of the frame step of _step1.c, in the same order (the float32 exp of the
 * gate is seq1_expf, within 1-2 ulp of expf): per frame the pre-activation row starts
 * from P[n] (dense part computed outside, bias included) or from the bias, then adds the rows of the non-zero inputs x_j[n] (rows of W_i') and,
 * for v2, of the non-zero previous outputs y_j[n-1] (rows of W_r):
 *
 *   A[n] = (P[n] or b') + sum_{x_j[n] != 0} x_j[n] W_i'[j] + sum_{y_j[n-1] != 0}
 *          y_j[n-1] W_r[j]
 *   traditional: I[n] = beta I[n-1] + A[n]
 *   v1, v2:      F = sigmoid(A_f), C = relu(A_c), I[n] = F I[n-1] + (1 - F) C
 *   all:         V[n] = alpha V[n-1] + I[n] - Y[n-1],  Y[n] = spike(V[n])
 *   spike:       levels 0: relu(V); else 0 if V <= thr, else
 *                clamp(floor(V / step), 0, top) * step
 *
 * The state [3, H] (I, V, Y) is updated in place: the gather reads Y[n-1] completely
 * before the element-wise update writes Y[n]. No globals: thread-safe.
 */
/* Vectorising floorf and the selects needs no-trapping-math (FP exceptions are never
 * inspected here; values are unchanged). Other compilers ignore the pragma. */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* exp(x) in float32 as plain arithmetic, so that the loop over neurons vectorises
 * (glibc's expf is a scalar call): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two
 * parts), exp(r) by the Cephes degree-6 polynomial, 2^n through the exponent bits.
 * Relative error about 1e-7 (1-2 ulp), as torch's own vectorised exp; x is clamped
 * to [-87.3, 88] (2^n stays a normal float: exp(-87.3) ~ 1.2e-38, exp(88) ~ 1.7e38).
 */
static inline float seq1_expf(float x)
{
    x = x > 88.0f ? 88.0f : (x < -87.3f ? -87.3f : x);
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int bits = ((int)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* One layer's constants (mirrored by batch1._Layer with ctypes). Pointers are to the
 * dtype of the kernel called; width W = G * H (G = 1 traditional, 2 v1/v2). */
typedef struct {
    int kind;          /* 0 traditional, 1 v1, 2 v2 */
    int n_x;           /* input width */
    int h;             /* neurons */
    int levels;        /* 2^N, or 0 for full precision (relu) */
    const void *w_in;  /* [n_x, W] folded input rows, or NULL when P is given */
    const void *w_rec; /* [H, W] recurrent rows (v2), else NULL */
    const void *bias;  /* [W] folded bias */
    const void *alpha; /* [H] */
    const void *beta;  /* [H] (traditional) */
    double step, thr, top;
} pks_layer;

#define DEFINE_SEQ1(T, SUFFIX, EXP, FLOOR)                                              \
static void seq1_axpy_##SUFFIX(T *a, T s, const T *row, int width)                      \
{                                                                                       \
    for (int k = 0; k < width; ++k)                                                     \
        a[k] += s * row[k];                                                             \
}                                                                                       \
                                                                                        \
/* a += sum_q s[q] rows[idx[q]] for the n listed rows, four at a time: the same sum    \
 * order as one row after the other (((a + s0 r0) + s1 r1) + ...), so the same        \
 * rounding, with a read and written once per four rows and four row streams in        \
 * flight; the next group's rows are prefetched. */                                   \
static void seq1_gather_##SUFFIX(T *a, const T *table, size_t stride, const int *idx,  \
                                 const T *s, int n, int width)                          \
{                                                                                       \
    int q = 0;                                                                          \
    for (; q + 4 <= n; q += 4) {                                                        \
        const T *r0 = table + (size_t)idx[q] * stride;                                  \
        const T *r1 = table + (size_t)idx[q + 1] * stride;                              \
        const T *r2 = table + (size_t)idx[q + 2] * stride;                              \
        const T *r3 = table + (size_t)idx[q + 3] * stride;                              \
        const T s0 = s[q], s1 = s[q + 1], s2 = s[q + 2], s3 = s[q + 3];                 \
        if (q + 8 <= n)                                                                 \
            for (int m = 4; m < 8; ++m)                                                 \
                __builtin_prefetch(table + (size_t)idx[q + m] * stride);                \
        for (int k = 0; k < width; ++k)                                                 \
            a[k] = (((a[k] + s0 * r0[k]) + s1 * r1[k]) + s2 * r2[k]) + s3 * r3[k];      \
    }                                                                                   \
    for (; q < n; ++q)                                                                  \
        seq1_axpy_##SUFFIX(a, s[q], table + (size_t)idx[q] * stride, width);            \
}                                                                                       \
                                                                                        \
/* The non-zero entries of v [n]: their indices and values; returns their number. */    \
static int seq1_nonzeros_##SUFFIX(const T *v, int n, int *idx, T *val)                 \
{                                                                                       \
    int c = 0;                                                                          \
    for (int j = 0; j < n; ++j)                                                         \
        if (v[j] != 0) {                                                                \
            idx[c] = j;                                                                 \
            val[c++] = v[j];                                                            \
        }                                                                               \
    return c;                                                                           \
}                                                                                       \
                                                                                        \
/* One frame: a (scratch, W) from base and the gathered rows, then the state update;  \
 * idx, val: scratch of max(n_x, H) entries. */                                         \
static void seq1_frame_##SUFFIX(const pks_layer *L, const T *base, const T *x, T *st,   \
                                T *a, int *idx, T *val)                                 \
{                                                                                       \
    const int h = L->h, width = (L->kind == 0 ? 1 : 2) * h;                             \
    const T *w_in = (const T *)L->w_in, *w_rec = (const T *)L->w_rec;                   \
    const T *alpha = (const T *)L->alpha, *beta = (const T *)L->beta;                   \
    const T step = (T)L->step, thr = (T)L->thr, top = (T)L->top;                        \
    T *i = st, *v = st + h, *y = st + 2 * h;                                            \
    memcpy(a, base, (size_t)width * sizeof(T));                                         \
    if (x && w_in)                                                                      \
        seq1_gather_##SUFFIX(a, w_in, (size_t)width, idx, val,                          \
                             seq1_nonzeros_##SUFFIX(x, L->n_x, idx, val), width);       \
    if (L->kind == 2 && w_rec)                                                          \
        seq1_gather_##SUFFIX(a, w_rec, (size_t)width, idx, val,                         \
                             seq1_nonzeros_##SUFFIX(y, h, idx, val), width);            \
    /* a[k] becomes I[n]; one loop per case, without branches, so that each         \
     * vectorises (the float32 exp is seq1_expf) */                                     \
    if (L->kind == 0) {                                                                 \
        for (int k = 0; k < h; ++k)                                                     \
            a[k] = beta[k] * i[k] + a[k];                                               \
    } else {                                                                            \
        for (int k = 0; k < h; ++k) /* e = exp(-A_f); F = 1 / (1 + e) */                \
            a[k] = EXP(-a[k]);                                                          \
        for (int k = 0; k < h; ++k) {                                                   \
            const T f = (T)1 / ((T)1 + a[k]);                                           \
            const T c = a[h + k] > 0 ? a[h + k] : (T)0;                                 \
            a[k] = f * i[k] + ((T)1 - f) * c;                                           \
        }                                                                               \
    }                                                                                   \
    if (L->levels == 0) {                                                               \
        for (int k = 0; k < h; ++k) {                                                   \
            const T vn = alpha[k] * v[k] + a[k] - y[k];                                 \
            i[k] = a[k];                                                                \
            v[k] = vn;                                                                  \
            y[k] = vn > 0 ? vn : (T)0;                                                  \
        }                                                                               \
    } else {                                                                            \
        for (int k = 0; k < h; ++k) {                                                   \
            const T vn = alpha[k] * v[k] + a[k] - y[k];                                 \
            T q = FLOOR(vn / step);                                                     \
            q = q > top ? top : (q < 0 ? (T)0 : q);                                     \
            i[k] = a[k];                                                                \
            v[k] = vn;                                                                  \
            y[k] = vn > thr ? q * step : (T)0;                                          \
        }                                                                               \
    }                                                                                   \
}                                                                                       \
                                                                                        \
/* Scratch of one call: a [W] then val [n] (T), then idx [n] (int). */                \
static T *seq1_scratch_##SUFFIX(int width, int n, int **idx)                            \
{                                                                                       \
    T *a = malloc((size_t)(width + n) * sizeof(T) + (size_t)n * sizeof(int));          \
    if (a)                                                                              \
        *idx = (int *)(a + width + n);                                                  \
    return a;                                                                           \
}                                                                                       \
                                                                                        \
/* Frames 0..t_len-1 of one layer: pre [T, W] (or NULL: the bias), x [T, n_x] input     \
 * events (or NULL: none beyond pre), state [3, H] in/out, y_out [T, H]. Returns 0, 1   \
 * for bad sizes, 2 when the scratch cannot be allocated. */                            \
int pks_seq1_layer_##SUFFIX(const pks_layer *L, int t_len, const T *pre, const T *x,    \
                            T *state, T *y_out)                                         \
{                                                                                       \
    const int width = (L->kind == 0 ? 1 : 2) * L->h;                                    \
    const int n = L->n_x > L->h ? L->n_x : L->h;                                        \
    int *idx;                                                                           \
    if (L->kind < 0 || L->kind > 2 || L->h < 0 || L->n_x < 0 || t_len < 0)              \
        return 1;                                                                       \
    T *a = seq1_scratch_##SUFFIX(width, n, &idx);                                       \
    if (!a)                                                                             \
        return 2;                                                                       \
    for (int t = 0; t < t_len; ++t) {                                                   \
        const T *base = pre ? pre + (size_t)t * width : (const T *)L->bias;             \
        seq1_frame_##SUFFIX(L, base, x ? x + (size_t)t * L->n_x : NULL, state, a, idx,  \
                            a + width);                                                 \
        memcpy(y_out + (size_t)t * L->h, state + 2 * L->h, (size_t)L->h * sizeof(T));   \
    }                                                                                   \
    free(a);                                                                            \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* One frame of a stack: x [n_x of layer 0] -> y_out [H of the last layer]; state is   \
 * the layers' [3, H] blocks one after another, updated in place. */                    \
int pks_seq1_frame_##SUFFIX(int n_layers, const pks_layer *layers, const T *x,          \
                            T *state, T *y_out)                                         \
{                                                                                       \
    int width = 0, n = 0, *idx;                                                         \
    for (int l = 0; l < n_layers; ++l) {                                                \
        const pks_layer *L = &layers[l];                                                \
        const int w = (L->kind == 0 ? 1 : 2) * L->h;                                    \
        if (L->kind < 0 || L->kind > 2 || L->h < 0 || L->n_x < 0)                       \
            return 1;                                                                   \
        width = w > width ? w : width;                                                  \
        n = L->n_x > n ? L->n_x : n;                                                    \
        n = L->h > n ? L->h : n;                                                        \
    }                                                                                   \
    T *a = seq1_scratch_##SUFFIX(width, n, &idx);                                       \
    if (!a)                                                                             \
        return 2;                                                                       \
    const T *in = x;                                                                    \
    T *st = state;                                                                      \
    for (int l = 0; l < n_layers; ++l) {                                                \
        seq1_frame_##SUFFIX(&layers[l], (const T *)layers[l].bias, in, st, a, idx,      \
                            a + width);                                                 \
        in = st + 2 * layers[l].h;                                                      \
        st += 3 * (size_t)layers[l].h;                                                  \
    }                                                                                   \
    if (n_layers > 0)                                                                   \
        memcpy(y_out, in, (size_t)layers[n_layers - 1].h * sizeof(T));                  \
    free(a);                                                                            \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* P = bias + X W for t_len frames of sparse X [T, n_x] (W: [n_x, width]), in column   \
 * blocks so that a block of W stays in cache across the frames; the same sum order    \
 * as the in-loop gather. idx: scratch of t_len * n_x ints, cnt: t_len ints. Returns   \
 * 0, 1 for bad sizes, 2 when the scratch cannot be allocated. */                      \
int pks_seq1_project_##SUFFIX(int t_len, int n_x, int width, const T *x, const T *w,    \
                              const T *bias, T *p, int block, int *idx, int *cnt)       \
{                                                                                       \
    if (t_len < 0 || n_x < 0 || width < 0 || block <= 0)                                \
        return 1;                                                                       \
    T *val = malloc((size_t)t_len * n_x * sizeof(T) + 1);                               \
    if (!val)                                                                           \
        return 2;                                                                       \
    for (int n = 0; n < t_len; ++n) {                                                   \
        const size_t o = (size_t)n * n_x;                                               \
        cnt[n] = seq1_nonzeros_##SUFFIX(x + o, n_x, idx + o, val + o);                  \
    }                                                                                   \
    for (int c0 = 0; c0 < width; c0 += block) {                                         \
        const int len = width - c0 < block ? width - c0 : block;                        \
        for (int n = 0; n < t_len; ++n) {                                               \
            T *row = p + (size_t)n * width + c0;                                        \
            const size_t o = (size_t)n * n_x;                                           \
            memcpy(row, bias + c0, (size_t)len * sizeof(T));                            \
            seq1_gather_##SUFFIX(row, w + c0, (size_t)width, idx + o, val + o, cnt[n],  \
                                 len);                                                  \
        }                                                                               \
    }                                                                                   \
    free(val);                                                                          \
    return 0;                                                                           \
}

DEFINE_SEQ1(float, f32, seq1_expf, floorf)
DEFINE_SEQ1(double, f64, exp, floor)

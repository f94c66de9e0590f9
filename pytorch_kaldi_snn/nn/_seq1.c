/* Batch-1 event-driven spiking layers over many frames in one call (float32, float64).
 *
 * Built with the other kernels by pytorch_kaldi_snn/nn/cstep.py and called through
 * ctypes from pytorch_kaldi_snn/nn/batch1.py (the whole-utterance path of
 * StreamingSNN.forward at batch 1 and the stateful stream of StreamingSNN.open()).
 * Same arithmetic and order of rounding as the frame step of _step1.c: per frame the
 * pre-activation row starts from P[n] (dense part computed outside, bias included) or
 * from the bias, then adds the rows of the non-zero inputs x_j[n] (rows of W_i') and,
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
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SEQ1_STACK_WIDTH 4096 /* pre-activations kept on the stack up to this width */

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
/* One frame: a (scratch, W) from base and the gathered rows, then the state update. */ \
static void seq1_frame_##SUFFIX(const pks_layer *L, const T *base, const T *x, T *st,   \
                                T *a)                                                   \
{                                                                                       \
    const int h = L->h, width = (L->kind == 0 ? 1 : 2) * h;                             \
    const T *w_in = (const T *)L->w_in, *w_rec = (const T *)L->w_rec;                   \
    const T *alpha = (const T *)L->alpha, *beta = (const T *)L->beta;                   \
    const T step = (T)L->step, thr = (T)L->thr, top = (T)L->top;                        \
    T *i = st, *v = st + h, *y = st + 2 * h;                                            \
    memcpy(a, base, (size_t)width * sizeof(T));                                         \
    if (x && w_in)                                                                      \
        for (int j = 0; j < L->n_x; ++j)                                                \
            if (x[j] != 0)                                                              \
                seq1_axpy_##SUFFIX(a, x[j], w_in + (size_t)j * width, width);           \
    if (L->kind == 2 && w_rec)                                                          \
        for (int j = 0; j < h; ++j)                                                     \
            if (y[j] != 0)                                                              \
                seq1_axpy_##SUFFIX(a, y[j], w_rec + (size_t)j * width, width);          \
    for (int k = 0; k < h; ++k) {                                                       \
        T cur;                                                                          \
        if (L->kind == 0) {                                                             \
            cur = beta[k] * i[k] + a[k];                                                \
        } else {                                                                        \
            const T f = (T)1 / ((T)1 + EXP(-a[k]));                                     \
            const T c = a[h + k] > 0 ? a[h + k] : (T)0;                                 \
            cur = f * i[k] + ((T)1 - f) * c;                                            \
        }                                                                               \
        const T vn = alpha[k] * v[k] + cur - y[k];                                      \
        T yn;                                                                           \
        if (L->levels == 0) {                                                           \
            yn = vn > 0 ? vn : (T)0;                                                    \
        } else if (vn > thr) {                                                          \
            T q = FLOOR(vn / step);                                                     \
            q = q > top ? top : (q < 0 ? (T)0 : q);                                     \
            yn = q * step;                                                              \
        } else {                                                                        \
            yn = 0;                                                                     \
        }                                                                               \
        i[k] = cur;                                                                     \
        v[k] = vn;                                                                      \
        y[k] = yn;                                                                      \
    }                                                                                   \
}                                                                                       \
                                                                                        \
/* Frames 0..t_len-1 of one layer: pre [T, W] (or NULL: the bias), x [T, n_x] input     \
 * events (or NULL: none beyond pre), state [3, H] in/out, y_out [T, H]. Returns 0, 1   \
 * for bad sizes, 2 when the scratch cannot be allocated. */                            \
int pks_seq1_layer_##SUFFIX(const pks_layer *L, int t_len, const T *pre, const T *x,    \
                            T *state, T *y_out)                                         \
{                                                                                       \
    const int width = (L->kind == 0 ? 1 : 2) * L->h;                                    \
    T on_stack[SEQ1_STACK_WIDTH];                                                       \
    T *a = on_stack;                                                                    \
    if (L->kind < 0 || L->kind > 2 || L->h < 0 || L->n_x < 0 || t_len < 0)              \
        return 1;                                                                       \
    if (width > SEQ1_STACK_WIDTH && !(a = malloc((size_t)width * sizeof(T))))           \
        return 2;                                                                       \
    for (int n = 0; n < t_len; ++n) {                                                   \
        const T *base = pre ? pre + (size_t)n * width : (const T *)L->bias;             \
        seq1_frame_##SUFFIX(L, base, x ? x + (size_t)n * L->n_x : NULL, state, a);      \
        memcpy(y_out + (size_t)n * L->h, state + 2 * L->h, (size_t)L->h * sizeof(T));   \
    }                                                                                   \
    if (a != on_stack)                                                                  \
        free(a);                                                                        \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* One frame of a stack: x [n_x of layer 0] -> y_out [H of the last layer]; state is   \
 * the layers' [3, H] blocks one after another, updated in place. */                    \
int pks_seq1_frame_##SUFFIX(int n_layers, const pks_layer *layers, const T *x,          \
                            T *state, T *y_out)                                         \
{                                                                                       \
    T on_stack[SEQ1_STACK_WIDTH];                                                       \
    T *a = on_stack;                                                                    \
    int width = 0;                                                                      \
    for (int l = 0; l < n_layers; ++l) {                                                \
        const int w = (layers[l].kind == 0 ? 1 : 2) * layers[l].h;                      \
        if (layers[l].kind < 0 || layers[l].kind > 2 || layers[l].h < 0)                \
            return 1;                                                                   \
        width = w > width ? w : width;                                                  \
    }                                                                                   \
    if (width > SEQ1_STACK_WIDTH && !(a = malloc((size_t)width * sizeof(T))))           \
        return 2;                                                                       \
    const T *in = x;                                                                    \
    T *st = state;                                                                      \
    for (int l = 0; l < n_layers; ++l) {                                                \
        seq1_frame_##SUFFIX(&layers[l], (const T *)layers[l].bias, in, st, a);          \
        in = st + 2 * layers[l].h;                                                      \
        st += 3 * (size_t)layers[l].h;                                                  \
    }                                                                                   \
    if (n_layers > 0)                                                                   \
        memcpy(y_out, in, (size_t)layers[n_layers - 1].h * sizeof(T));                  \
    if (a != on_stack)                                                                  \
        free(a);                                                                        \
    return 0;                                                                           \
}                                                                                       \
                                                                                        \
/* P = bias + X W for t_len frames of sparse X [T, n_x] (W: [n_x, width]), in column   \
 * blocks so that a block of W stays in cache across the frames; the same sum order    \
 * as the in-loop gather. idx: scratch of t_len * n_x ints, cnt: t_len ints. */         \
int pks_seq1_project_##SUFFIX(int t_len, int n_x, int width, const T *x, const T *w,    \
                              const T *bias, T *p, int block, int *idx, int *cnt)       \
{                                                                                       \
    if (t_len < 0 || n_x < 0 || width < 0 || block <= 0)                                \
        return 1;                                                                       \
    for (int n = 0; n < t_len; ++n) {                                                   \
        int c = 0;                                                                      \
        for (int j = 0; j < n_x; ++j)                                                   \
            if (x[(size_t)n * n_x + j] != 0)                                            \
                idx[(size_t)n * n_x + c++] = j;                                         \
        cnt[n] = c;                                                                     \
    }                                                                                   \
    for (int c0 = 0; c0 < width; c0 += block) {                                         \
        const int len = width - c0 < block ? width - c0 : block;                        \
        for (int n = 0; n < t_len; ++n) {                                               \
            T *row = p + (size_t)n * width + c0;                                        \
            const T *xn = x + (size_t)n * n_x;                                          \
            const int *in = idx + (size_t)n * n_x;                                      \
            memcpy(row, bias + c0, (size_t)len * sizeof(T));                            \
            for (int q = 0; q < cnt[n]; ++q)                                            \
                seq1_axpy_##SUFFIX(row, xn[in[q]], w + (size_t)in[q] * width + c0,      \
                                   len);                                                \
        }                                                                               \
    }                                                                                   \
    return 0;                                                                           \
}

DEFINE_SEQ1(float, f32, expf, floorf)
DEFINE_SEQ1(double, f64, exp, floor)

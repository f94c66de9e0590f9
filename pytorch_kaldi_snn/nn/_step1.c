/* One batch-1 frame of an event-driven spiking layer (float32).
 *
 * Built at first use by pytorch_kaldi_snn/nn/cstep.py with the system C compiler and
 * called through ctypes from StreamingSNN(sparse=True) for float32 streams (any batch).
 * The torch implementation in streaming.py (_SparseLayer.step1) is the reference; this
 * file does the same arithmetic in one call instead of about twenty small tensor ops.
 *
 * table: rows of width G*H (G = 1 traditional, 2 v1/v2; forget half first):
 *   n_x rows of the folded input weights W_i' (one per input feature),
 *   H rows of the recurrent weights W_r (v2 only),
 *   one row holding the folded bias b'.
 * Only the rows of non-zero inputs x_j and (v2) non-zero previous outputs y_j are read.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STACK_WIDTH 4096 /* pre-activations kept on the stack up to this width */

static void axpy(float *a, float s, const float *row, int width)
{
    for (int k = 0; k < width; ++k)
        a[k] += s * row[k];
}

/* One stream's frame; a: scratch of G*H floats. */
static void step_row(int kind, int n_x, int h, const float *x, const float *table,
                     float *a, const float *i_prev, const float *v_prev,
                     const float *y_prev, float *i_out, float *v_out, float *y_out,
                     const float *alpha, const float *beta, float step, float thr,
                     float top, int levels)
{
    const int width = (kind == 0 ? 1 : 2) * h;
    const int rec_rows = kind == 2 ? h : 0;
    memcpy(a, table + (size_t)(n_x + rec_rows) * width, (size_t)width * sizeof(float));
    for (int j = 0; j < n_x; ++j)
        if (x[j] != 0.0f)
            axpy(a, x[j], table + (size_t)j * width, width);
    for (int j = 0; j < rec_rows; ++j)
        if (y_prev[j] != 0.0f)
            axpy(a, y_prev[j], table + (size_t)(n_x + j) * width, width);
    for (int k = 0; k < h; ++k) {
        float cur;
        if (kind == 0) {
            cur = beta[k] * i_prev[k] + a[k];
        } else {
            const float f = 1.0f / (1.0f + expf(-a[k]));
            const float c = a[h + k] > 0.0f ? a[h + k] : 0.0f;
            cur = f * i_prev[k] + (1.0f - f) * c;
        }
        const float v = alpha[k] * v_prev[k] + cur - y_prev[k];
        float y;
        if (levels == 0) {
            y = v > 0.0f ? v : 0.0f;
        } else if (v > thr) {
            float q = floorf(v / step);
            q = q > top ? top : (q < 0.0f ? 0.0f : q);
            y = q * step;
        } else {
            y = 0.0f;
        }
        i_out[k] = cur;
        v_out[k] = v;
        y_out[k] = y;
    }
}

/* One frame of `batch` independent streams: x [batch, n_x], the state and the outputs
 * [batch, H] (row-major). Returns 0, or 1 for bad sizes, 2 when the scratch cannot be
 * allocated. The outputs may not alias the previous state. Thread-safe (no globals). */
int pks_step1_f32(int kind, int n_x, int h, int batch, const float *x,
                  const float *table, const float *i_prev, const float *v_prev,
                  const float *y_prev, float *i_out, float *v_out, float *y_out,
                  const float *alpha, const float *beta, float step, float thr,
                  float top, int levels)
{
    const int width = (kind == 0 ? 1 : 2) * h;
    float on_stack[STACK_WIDTH];
    float *a = on_stack;
    if (kind < 0 || kind > 2 || n_x < 0 || h < 0 || batch < 0)
        return 1;
    if (width > STACK_WIDTH && !(a = malloc((size_t)width * sizeof(float))))
        return 2;
    for (int b = 0; b < batch; ++b) {
        const size_t o = (size_t)b * h;
        step_row(kind, n_x, h, x + (size_t)b * n_x, table, a, i_prev + o, v_prev + o,
                 y_prev + o, i_out + o, v_out + o, y_out + o, alpha, beta, step, thr,
                 top, levels);
    }
    if (a != on_stack)
        free(a);
    return 0;
}

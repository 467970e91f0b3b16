/* The C ABI of the Microsoft.ML.Mamba native kernels: the only contract between C# and native code.
 *
 * Conventions
 * - Every function returns MAMBA_OK (0) or a negative error code; mamba_last_error() then gives a
 *   message for the calling thread.
 * - Tensors are raw device or host pointers with explicit element strides, so views need no copy.
 *   Strides must be non-negative; a tensor the call writes may not have stride 0 on an axis longer than 1
 *   (its elements would alias); sizes and the offset of a tensor's last element must fit int64. Calls that break
 *   these return MAMBA_ERR_INVALID_ARGUMENT before touching memory. Buffer lengths cannot be checked here:
 *   the caller guarantees each pointer covers what its sizes and strides address.
 * - CUDA entry points take a stream (cudaStream_t as void*); NULL means the legacy default stream,
 *   which keeps them ordered with libtorch's own work on that device.
 */
#ifndef MAMBA_NATIVE_H
#define MAMBA_NATIVE_H

#include <stdint.h>

#ifdef __cplusplus
#define MAMBA_EXTERN extern "C"
#else
#define MAMBA_EXTERN
#endif
#if defined(_WIN32)
#define MAMBA_API MAMBA_EXTERN __declspec(dllexport)
#else
#define MAMBA_API MAMBA_EXTERN __attribute__((visibility("default")))
#endif

/* Bumped whenever a signature in this header changes; C# checks it before calling anything else. */
#define MAMBA_ABI_VERSION 6

enum mamba_status {
  MAMBA_OK = 0,
  MAMBA_ERR_INVALID_ARGUMENT = -1,
  MAMBA_ERR_UNSUPPORTED = -2,
  MAMBA_ERR_CUDA = -3,
  MAMBA_ERR_OUT_OF_MEMORY = -4,
  MAMBA_ERR_NOT_BUILT = -5
};

enum mamba_dtype { MAMBA_F32 = 0, MAMBA_F16 = 1, MAMBA_BF16 = 2, MAMBA_F64 = 3 };

MAMBA_API int32_t mamba_abi_version(void);
/* 1 when the library was built with its CUDA kernels. */
MAMBA_API int32_t mamba_has_cuda(void);
/* Message of the last error on this thread, or "" when there was none. Valid until the next call. */
MAMBA_API const char* mamba_last_error(void);


/* ---------------------------------------------------------------------------------------------
 * Selective scan (Gu & Dao 2023, Algorithm 2), fused. For each batch b, channel d, time t:
 *   dt      = delta[b,d,t] + delta_bias[d];  if (delta_softplus) dt = softplus(dt)   (log1p(exp), x>20 -> x)
 *   h[n]    = exp(dt * A[d,n]) * h[n] + dt * B[b,g,n,t] * u[b,d,t]        (g = d / (dim / groups))
 *   y       = sum_n C[b,g,n,t] * h[n] + D[d] * u[b,d,t]
 *   out     = z ? y * silu(z[b,d,t]) : y
 * h starts at initial_state[b,d,:] (zeros when NULL); final_state[b,d,:] receives h after the last step.
 * The (batch, dim, length, state) tensor of states is never materialised; backward recomputes it.
 *
 * Element strides are given per axis, so views (for example a (batch, length, dim) projection seen as
 * (batch, dim, length)) need no copy. u, delta, z, out, dout, du, ddelta, dz share `dtype`; so do B, C,
 * dB, dC. A, D, delta_bias, states and their gradients are always fp32; accumulation is fp32.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_scan_args {
  int64_t batch, dim, length, state, groups;  /* dim % groups == 0; 1 <= state <= 256 */
  int32_t dtype;                              /* enum mamba_dtype of u, delta, z, out (and grads) */
  int32_t bc_dtype;                           /* enum mamba_dtype of B and C (and dB, dC) */
  int32_t delta_softplus;                     /* 1: dt = softplus(delta + delta_bias) */
  int32_t deterministic;                      /* backward: 1 = no atomics, bitwise reproducible */
  const void* u;      int64_t u_stride[3];     /* (batch, dim, length) */
  const void* delta;  int64_t delta_stride[3]; /* (batch, dim, length) */
  const float* A;     int64_t A_stride[2];     /* (dim, state) */
  const void* B;      int64_t B_stride[4];     /* (batch, groups, state, length) */
  const void* C;      int64_t C_stride[4];     /* (batch, groups, state, length) */
  const float* D;                              /* (dim) contiguous, or NULL */
  const void* z;      int64_t z_stride[3];     /* (batch, dim, length), or NULL: no gate */
  const float* delta_bias;                     /* (dim) contiguous, or NULL */
  const float* initial_state;                  /* (batch, dim, state) contiguous, or NULL */
} mamba_scan_args;

/* Forward. out: (batch, dim, length) with out_stride; final_state: (batch, dim, state) contiguous or NULL. */
typedef struct mamba_scan_outputs {
  void* out;          int64_t out_stride[3];
  float* final_state;
  /* Optional (CUDA): mamba_scan_checkpoint_floats_cuda(args) floats, or NULL. The forward then also stores
   * the states the backward starts its time chunks from; handing the same buffer, unchanged, to the backward
   * of the same args saves it a recomputation pass over the whole sequence. The CPU kernels ignore it. */
  float* checkpoints;
} mamba_scan_outputs;

/* Backward: dout in, gradients out. Every gradient buffer is written (not accumulated into), except
 * that a NULL pointer skips that gradient (dz when z is NULL, dD when D is NULL, ...).
 * dfinal_state (may be NULL) is the gradient flowing into final_state; dinitial_state receives the
 * gradient of initial_state when both are non-NULL. */
typedef struct mamba_scan_grads {
  const void* dout;   int64_t dout_stride[3];
  const float* dfinal_state;                   /* (batch, dim, state) contiguous, or NULL */
  void* du;           int64_t du_stride[3];
  void* ddelta;       int64_t ddelta_stride[3];
  float* dA;                                   /* (dim, state) contiguous */
  void* dB;           int64_t dB_stride[4];
  void* dC;           int64_t dC_stride[4];
  float* dD;                                   /* (dim), or NULL */
  void* dz;           int64_t dz_stride[3];    /* or NULL */
  float* ddelta_bias;                          /* (dim), or NULL */
  float* dinitial_state;                       /* (batch, dim, state), or NULL */
  const float* checkpoints;                    /* what the forward wrote to outputs->checkpoints, or NULL */
} mamba_scan_grads;

MAMBA_API int32_t mamba_scan_fwd_cpu(const mamba_scan_args* args, const mamba_scan_outputs* outputs);
MAMBA_API int32_t mamba_scan_bwd_cpu(const mamba_scan_args* args, const mamba_scan_grads* grads);
/* CUDA: all pointers on one device; stream is a cudaStream_t (NULL = legacy default stream). The channel and
 * time strides of the (batch, dim, length) tensors must be below 2^23 elements (MAMBA_ERR_UNSUPPORTED otherwise). */
MAMBA_API int32_t mamba_scan_fwd_cuda(const mamba_scan_args* args, const mamba_scan_outputs* outputs, void* stream);
MAMBA_API int32_t mamba_scan_bwd_cuda(const mamba_scan_args* args, const mamba_scan_grads* grads, void* stream);
/* Floats the CUDA forward needs in outputs->checkpoints for these args; 0 when the backward would not use
 * them (long sequences split into time segments recompute instead), when args are invalid, or without CUDA. */
MAMBA_API int64_t mamba_scan_checkpoint_floats_cuda(const mamba_scan_args* args);

/* ---------------------------------------------------------------------------------------------
 * Causal depthwise conv1d with optional SiLU, per channel d:
 *   out[b,d,t] = act(bias[d] + sum_{k<width} weight[d,k] * x[b,d,t-width+1+k])   (x before t=0 is 0)
 * x, out: (batch, dim, length) with strides; weight (dim, width) contiguous; bias (dim) or NULL.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_conv_args {
  int64_t batch, dim, length, width;          /* width <= 8 */
  int32_t dtype;                              /* of x, out, dout, dx */
  int32_t silu;                               /* 1: apply SiLU after the bias */
  const void* x;      int64_t x_stride[3];
  const float* weight;                        /* (dim, width) */
  const float* bias;                          /* (dim) or NULL */
} mamba_conv_args;

MAMBA_API int32_t mamba_conv1d_fwd_cpu(const mamba_conv_args* args, void* out, const int64_t out_stride[3]);
/* dweight, dbias (fp32) are written, not accumulated; dbias may be NULL. */
MAMBA_API int32_t mamba_conv1d_bwd_cpu(const mamba_conv_args* args, const void* dout, const int64_t dout_stride[3],
                                       void* dx, const int64_t dx_stride[3], float* dweight, float* dbias);
MAMBA_API int32_t mamba_conv1d_fwd_cuda(const mamba_conv_args* args, void* out, const int64_t out_stride[3], void* stream);
MAMBA_API int32_t mamba_conv1d_bwd_cuda(const mamba_conv_args* args, const void* dout, const int64_t dout_stride[3],
                                        void* dx, const int64_t dx_stride[3], float* dweight, float* dbias, void* stream);

/* ---------------------------------------------------------------------------------------------
 * One decoding step of the Mamba mixer, fused: everything between in_proj and out_proj for one new
 * token per sequence. For each batch b and channel d (E = dim, R = dt_rank, N = state):
 *   window     = conv_state[b,d,1:] ++ x[b,d]                       (conv_state updated in place)
 *   xc[d]      = silu(conv_bias[d] + sum_k conv_weight[d,k] * window[k])
 *   p[j]       = sum_d x_proj_weight[j,d] * xc[d]                   j < R + 2N: (dt_low | B | C)
 *   dt         = softplus(sum_r dt_proj_weight[d,r] * p[r] + dt_bias[d])
 *   h[n]       = exp(dt * A[d,n]) * h[n] + dt * B[n] * xc[d],  A = -exp(A_log)   (ssm_state in place)
 *   out[b,d]   = (sum_n C[n] * h[n] + D[d] * xc[d]) * (z ? silu(z[b,d]) : 1)
 * This is the recurrent form of the scan above (Gu & Dao 2023, Sec. 3.3) for decoding; the reference
 * is MambaMixer.Step in TorchSharp. x, z, out, conv_state, x_proj_weight and dt_proj_weight share
 * `dtype`; everything else is fp32, and so is all arithmetic.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_step_args {
  int64_t batch, dim, state, dt_rank, width;  /* 1 <= state <= 256, 1 <= width <= 8 */
  int32_t dtype;                              /* enum mamba_dtype: f32, f16 or bf16 */
  int32_t reserved;                           /* 0 */
  const void* x;        int64_t x_stride[2];  /* (batch, dim): the conv input half of in_proj */
  const void* z;        int64_t z_stride[2];  /* (batch, dim) gate, or NULL */
  void* conv_state;     int64_t conv_state_stride[3]; /* (batch, dim, width), oldest input first */
  const float* conv_weight;                   /* (dim, width) contiguous */
  const float* conv_bias;                     /* (dim) or NULL */
  const void* x_proj_weight;                  /* (dt_rank + 2 * state, dim) contiguous */
  const void* dt_proj_weight;                 /* (dim, dt_rank) contiguous */
  const float* dt_bias;                       /* (dim) or NULL */
  const float* A_log;                         /* (dim, state) contiguous */
  const float* D;                             /* (dim) or NULL */
  float* ssm_state;                           /* (batch, dim, state) contiguous */
  float* workspace;                           /* batch * (dim + dt_rank + 2 * state) floats, on the device */
  void* out;            int64_t out_stride[2]; /* (batch, dim) */
} mamba_step_args;

MAMBA_API int32_t mamba_decode_step_cpu(const mamba_step_args* args);
MAMBA_API int32_t mamba_decode_step_cuda(const mamba_step_args* args, void* stream);

/* ---------------------------------------------------------------------------------------------
 * Mamba-2's state space dual (SSD; Dao & Gu 2024), the scan of a Mamba2 mixer. H heads of P channels share
 * one scalar decay per head; G groups of B and C (head h reads group g = h / (H / G)). For each batch b,
 * head h, channel p, time t:
 *   dt      = dt_in[b,t,h] + dt_bias[h];  if (dt_softplus) dt = softplus(dt);  dt = clamp(dt, dt_min, dt_max)
 *   h[p,n]  = exp(dt * A[h]) * h[p,n] + dt * x[b,t,h,p] * B[b,t,g,n]
 *   y       = sum_n C[b,t,g,n] * h[p,n] + D[h] * x[b,t,h,p]
 * h starts at initial_state[b,h,:,:] (zeros when NULL); final_state[b,h,:,:] receives h after the last step.
 * Kernels may evaluate it in the chunked (matrix) form with chunks of `chunk` steps: the result is the same
 * up to rounding for every chunk >= 1. Tensors are (batch, length, heads, head_dim) like in_proj's output, so
 * views need no copy. x, dt, B, C, y and their gradients share `dtype`; A, D, dt_bias, states and their
 * gradients are fp32; accumulation is fp32. The gate (silu(z)) is not part of it: Mamba-2 applies it in
 * its gated RMSNorm.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_ssd_args {
  int64_t batch, length, heads, head_dim, groups, state;  /* heads % groups == 0; state, head_dim <= 256 */
  int64_t chunk;                              /* 1 <= chunk <= 1024; a hint, not a semantic */
  int32_t dtype;                              /* enum mamba_dtype of x, dt, B, C, y (and grads) */
  int32_t dt_softplus;                        /* 1: dt = softplus(dt_in + dt_bias) */
  float dt_min, dt_max;                       /* clamp after softplus: 0 and INFINITY clamp nothing */
  int32_t deterministic;                      /* backward: 1 = no atomics, bitwise reproducible */
  int32_t reserved;                           /* 0 */
  const void* x;      int64_t x_stride[4];     /* (batch, length, heads, head_dim) */
  const void* dt;     int64_t dt_stride[3];    /* (batch, length, heads), before bias and softplus */
  const float* A;                              /* (heads) contiguous, negative (A = -exp(A_log)) */
  const void* B;      int64_t B_stride[4];     /* (batch, length, groups, state) */
  const void* C;      int64_t C_stride[4];     /* (batch, length, groups, state) */
  const float* D;                              /* (heads) contiguous, or NULL */
  const float* dt_bias;                        /* (heads) contiguous, or NULL */
  const float* initial_state;                  /* (batch, heads, head_dim, state) contiguous, or NULL */
} mamba_ssd_args;

typedef struct mamba_ssd_outputs {
  void* y;            int64_t y_stride[4];     /* (batch, length, heads, head_dim) */
  float* final_state;                          /* (batch, heads, head_dim, state) contiguous, or NULL */
  /* Optional (CUDA): mamba_ssd_checkpoint_floats_cuda(args) floats, or NULL. The forward then also stores what
   * its backward would otherwise recompute (dt after softplus, its cumulative sums, C.B per chunk and the state
   * entering every chunk); handing the same buffer, unchanged, to the backward of the same args and the same
   * MAMBA_SSD_* settings spares it those kernels. The CPU kernels ignore it. */
  float* checkpoints;
} mamba_ssd_outputs;

/* Backward: dy in, gradients out. Every gradient buffer is written (not accumulated into); a NULL pointer
 * skips that gradient (dD when D is NULL, ddt_bias when dt_bias is NULL, ...). ddt is the gradient of dt_in
 * (through bias, softplus and clamp: zero where the clamp was active). dfinal_state (may be NULL) flows
 * into final_state; dinitial_state receives the gradient of initial_state when both are non-NULL. */
typedef struct mamba_ssd_grads {
  const void* dy;     int64_t dy_stride[4];
  const float* dfinal_state;                   /* (batch, heads, head_dim, state) contiguous, or NULL */
  void* dx;           int64_t dx_stride[4];
  void* ddt;          int64_t ddt_stride[3];
  float* dA;                                   /* (heads) */
  void* dB;           int64_t dB_stride[4];
  void* dC;           int64_t dC_stride[4];
  float* dD;                                   /* (heads), or NULL */
  float* ddt_bias;                             /* (heads), or NULL */
  float* dinitial_state;                       /* (batch, heads, head_dim, state), or NULL */
  const float* checkpoints;                    /* what the forward wrote to outputs->checkpoints, or NULL */
} mamba_ssd_grads;

MAMBA_API int32_t mamba_ssd_fwd_cpu(const mamba_ssd_args* args, const mamba_ssd_outputs* outputs);
MAMBA_API int32_t mamba_ssd_bwd_cpu(const mamba_ssd_args* args, const mamba_ssd_grads* grads);
/* CUDA: all pointers on one device; stream is a cudaStream_t (NULL = legacy default stream). */
MAMBA_API int32_t mamba_ssd_fwd_cuda(const mamba_ssd_args* args, const mamba_ssd_outputs* outputs, void* stream);
MAMBA_API int32_t mamba_ssd_bwd_cuda(const mamba_ssd_args* args, const mamba_ssd_grads* grads, void* stream);
/* Floats the CUDA forward needs in outputs->checkpoints for these args (about (batch, heads, chunks + 1,
 * head_dim, state) states in the input dtype); 0 when the backward would not use them (kernel versions other
 * than the default, MAMBA_SSD_PASS=separate), when args are invalid, or without CUDA. */
MAMBA_API int64_t mamba_ssd_checkpoint_floats_cuda(const mamba_ssd_args* args);

/* ---------------------------------------------------------------------------------------------
 * One decoding step of the Mamba-2 mixer, fused: from in_proj's xBC and dt to the input of the gated
 * RMSNorm, for one new token per sequence (the recurrent form of the SSD above). K = heads*head_dim +
 * 2*groups*state conv channels (x | B | C):
 *   window   = conv_state[b,k,1:] ++ xBC[b,k]                      (conv_state updated in place)
 *   v[k]     = silu(conv_bias[k] + sum_w conv_weight[k,w] * window[w]);  x | B | C = v
 *   dt       = clamp(softplus?(dt_in[b,h] + dt_bias[h]), dt_min, dt_max);  A = -exp(A_log[h])
 *   h[p,n]   = exp(dt * A) * h[p,n] + dt * x[h,p] * B[g,n]          (ssm_state in place)
 *   out[b,h*P+p] = sum_n C[g,n] * h[p,n] + D[h] * x[h,p]
 * xBC, dt_in, out and conv_state share `dtype`; everything else is fp32, and so is all arithmetic.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_ssd_step_args {
  int64_t batch, heads, head_dim, groups, state, width;  /* heads % groups == 0; state, head_dim <= 256; width <= 8 */
  int32_t dtype;                              /* enum mamba_dtype: f32, f16 or bf16 */
  int32_t dt_softplus;
  float dt_min, dt_max;
  const void* xBC;      int64_t xBC_stride[2];  /* (batch, K) */
  const void* dt;       int64_t dt_stride[2];   /* (batch, heads) */
  void* conv_state;     int64_t conv_state_stride[3]; /* (batch, K, width), oldest input first */
  const float* conv_weight;                   /* (K, width) contiguous */
  const float* conv_bias;                     /* (K) or NULL */
  const float* dt_bias;                       /* (heads) or NULL */
  const float* A_log;                         /* (heads) */
  const float* D;                             /* (heads) or NULL */
  float* ssm_state;                           /* (batch, heads, head_dim, state) contiguous */
  void* out;            int64_t out_stride[2]; /* (batch, heads * head_dim) */
} mamba_ssd_step_args;

MAMBA_API int32_t mamba_ssd_step_cpu(const mamba_ssd_step_args* args);
MAMBA_API int32_t mamba_ssd_step_cuda(const mamba_ssd_step_args* args, void* stream);

/* ---------------------------------------------------------------------------------------------
 * RMSNorm of rows, forward only (decoding runs without autograd; training uses TorchSharp's ops):
 *   out[r,:] = x[r,:] / sqrt(mean(x[r,:]^2) + eps) * weight
 * x, weight and out share `dtype`; the mean is accumulated in fp32. Rows have element strides; the
 * last axis is contiguous.
 * ------------------------------------------------------------------------------------------- */
MAMBA_API int32_t mamba_rms_norm_cpu(int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                                     const void* weight, float eps, void* out, int64_t out_row_stride);
MAMBA_API int32_t mamba_rms_norm_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x, int64_t x_row_stride,
                                      const void* weight, float eps, void* out, int64_t out_row_stride, void* stream);

/* Training pair (CUDA): contiguous rows, x, weight, out, dout, dx and dweight of `dtype`. The forward also
 * writes rstd[row] = 1 / sqrt(mean(x^2) + eps) (fp32) for the backward:
 *   n = x * rstd;  dx = rstd * (dout*w - n * mean(dout*w*n));  dweight = sum over rows of dout * n
 * dweight is summed in a fixed order (bitwise reproducible). size <= 12288. */
MAMBA_API int32_t mamba_rms_norm_train_fwd_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x,
                                                const void* weight, float eps, void* out, float* rstd, void* stream);
MAMBA_API int32_t mamba_rms_norm_train_bwd_cuda(int64_t rows, int64_t size, int32_t dtype, const void* x,
                                                const void* weight, const float* rstd, const void* dout, void* dx,
                                                void* dweight, void* stream);

/* ---------------------------------------------------------------------------------------------
 * Gated RMSNorm, Mamba-2's norm before out_proj (mamba_ssm's RMSNormGated with norm_before_gate=False,
 * transformers' MambaRMSNormGated), as a training pair. Each row of `size` values falls into `groups` equal
 * groups; for group g of row r, with all math in fp32:
 *   h = y * silu(z);  rstd[r * groups + g] = 1 / sqrt(mean over the group of h^2 + eps)
 *   out = round(weight * round(h * rstd))      (round: to `dtype`; the inner one is transformers' normed.to(dtype))
 * Backward, per group, with n = h * rstd and g = dout * weight:
 *   dh = rstd * (g - n * mean(g * n));  dy = dh * silu(z);  dz = dh * y * s * (1 + z * (1 - s)),  s = sigmoid(z)
 *   dweight = sum over rows of dout * n, in a fixed order: bitwise the same for any thread count or schedule.
 * y, z, out, dout, dy and dz are contiguous (rows, size) of `dtype` (f32, f16 or bf16); weight and dweight are fp32
 * (size); rstd is fp32 (rows * groups) and may be NULL in the forward (inference). 1 <= size <= 12288, groups
 * divides size. The CPU pair runs on mamba_set_num_threads threads.
 * ------------------------------------------------------------------------------------------- */
MAMBA_API int32_t mamba_gated_rms_norm_fwd_cpu(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                               const void* z, const float* weight, float eps, void* out, float* rstd);
MAMBA_API int32_t mamba_gated_rms_norm_bwd_cpu(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                               const void* z, const float* weight, const float* rstd, const void* dout,
                                               void* dy, void* dz, float* dweight);
MAMBA_API int32_t mamba_gated_rms_norm_fwd_cuda(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                                const void* z, const float* weight, float eps, void* out, float* rstd,
                                                void* stream);
MAMBA_API int32_t mamba_gated_rms_norm_bwd_cuda(int64_t rows, int64_t size, int64_t groups, int32_t dtype, const void* y,
                                                const void* z, const float* weight, const float* rstd, const void* dout,
                                                void* dy, void* dz, float* dweight, void* stream);

/* Number of threads the CPU kernels use (0 = hardware concurrency). */
MAMBA_API void mamba_set_num_threads(int32_t threads);

/* ---------------------------------------------------------------------------------------------
 * Weight-only quantized projections for CPU decoding, where a step is bound by reading weights:
 *   y[b,o] = add[b,o] + bias[o] + sum_i x[b,i] * W[o,i]
 * W (out, in) is stored as int8 with one fp32 scale per output row (W[o,i] ~ scales[o] * q[o,i]), as bf16, or as
 * fp32; x, bias, add, y, the accumulation and the result are fp32. Each output is summed by one thread in a fixed
 * order, so results do not depend on the thread count. y may be `add` itself (in-place residual) but must not
 * overlap x. Large products run on mamba_set_num_threads threads, split over output rows.
 * ------------------------------------------------------------------------------------------- */
enum mamba_weight_format { MAMBA_WEIGHTS_F32 = 0, MAMBA_WEIGHTS_BF16 = 2, MAMBA_WEIGHTS_INT8 = 8 };

/* Symmetric per-row int8 quantization of a (rows, cols) fp32 matrix whose rows start weight_row_stride elements
 * apart (last axis contiguous): scales[r] = max_i |W[r,i]| / 127 (0 for an all-zero row) and
 * q[r,i] = round(W[r,i] / scales[r]) to nearest, ties to even, in -127..127. q is (rows, cols) contiguous, scales (rows).
 * Infinite or NaN weights are invalid arguments (checked before anything is written). */
MAMBA_API int32_t mamba_quantize_int8_cpu(int64_t rows, int64_t cols, const float* weight, int64_t weight_row_stride,
                                          int8_t* q, float* scales);

typedef struct mamba_gemv_args {
  int64_t batch, in, out;                     /* all >= 1 */
  int32_t weight_format;                      /* enum mamba_weight_format */
  int32_t reserved;                           /* 0 */
  const float* x;       int64_t x_row_stride;   /* (batch, in), last axis contiguous */
  const void* weight;                         /* (out, in) contiguous: int8_t, bf16 bits (uint16_t) or float */
  const float* scales;                        /* (out) for MAMBA_WEIGHTS_INT8; NULL for the other formats */
  const float* bias;                          /* (out) or NULL */
  const float* add;     int64_t add_row_stride; /* (batch, out), last axis contiguous, or NULL */
  float* y;             int64_t y_row_stride;   /* (batch, out), last axis contiguous */
} mamba_gemv_args;

MAMBA_API int32_t mamba_gemv_cpu(const mamba_gemv_args* args);

/* mamba_decode_step_cpu with x_proj_weight in another weight format than args->dtype, which must be f32 here:
 * int8 ((dt_rank + 2 * state, dim) int8_t with x_proj_scales (dt_rank + 2 * state) fp32) or bf16 (x_proj_scales NULL).
 * Everything else is as in mamba_decode_step_cpu. */
MAMBA_API int32_t mamba_decode_step_wq_cpu(const mamba_step_args* args, int32_t x_proj_format, const float* x_proj_scales);

/* ---------------------------------------------------------------------------------------------
 * AdamW (Loshchilov & Hutter), one call for many parameter tensors, in the order TorchSharp's AdamW
 * applies it, per element, computed in fp32:
 *   p  *= decay                                   (decay = 1 - lr * weight_decay)
 *   m   = beta1 * m + one_minus_beta1 * g
 *   v   = beta2 * v + one_minus_beta2 * g * g
 *   p  -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
 * with step_size = lr / (1 - beta1^step) and bias_correction2_sqrt = sqrt(1 - beta2^step) for the tensor's
 * own step count. The 1 - beta terms come precomputed (in fp64, then rounded): 1 - 0.999f in fp32 is 1.3e-5 off.
 * Every tensor is contiguous; p, m and v share `dtype`, g has `grad_dtype`.
 * ------------------------------------------------------------------------------------------- */
typedef struct mamba_adamw_tensor {
  void* param;
  const void* grad;
  void* exp_avg;
  void* exp_avg_sq;
  int64_t numel;
  int32_t dtype;       /* of param, exp_avg and exp_avg_sq: f32, f16 or bf16 */
  int32_t grad_dtype;  /* f32, f16 or bf16 */
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, bias_correction2_sqrt;
} mamba_adamw_tensor;

/* tensors: a host array of `count` entries whose pointers are host (CPU) or device (CUDA) memory. */
MAMBA_API int32_t mamba_adamw_step_cpu(const mamba_adamw_tensor* tensors, int64_t count);
MAMBA_API int32_t mamba_adamw_step_cuda(const mamba_adamw_tensor* tensors, int64_t count, void* stream);

#include "mamba_decoder.h"  /* whole-model CUDA decoding (Mamba-1) */

#endif /* MAMBA_NATIVE_H */

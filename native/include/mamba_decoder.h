/* Whole-model decoding of a Mamba-1 or Mamba-2 language model on CUDA: one native call per token.
 *
 * A decoder is made once per generation from device pointers to every weight (the caller keeps them alive and
 * unchanged) and to its own state and token buffers. Each step runs, for every sequence of the batch:
 *   embedding lookup -> for each layer: RMSNorm, in_proj, conv/SSM step (mamba_decode_step's math), out_proj,
 *   residual -> final RMSNorm -> lm_head -> greedy choice (argmax over ids < sample_vocab, ties to the lowest id)
 * The first step captures that work in a CUDA graph, later steps replay it: one launch per token instead of
 * ~100. Matrices are read in `dtype` (f32 or bf16) and accumulated in fp32; activations are rounded to `dtype`
 * where the TorchSharp step rounds them (norm outputs, in_proj, the step output, out_proj, logits), so greedy
 * decoding chooses what that path chooses up to ties within rounding. SSM states are fp32.
 * Included by mamba_native.h; not a separate library.
 */
#ifndef MAMBA_DECODER_H
#define MAMBA_DECODER_H

#include <stdint.h>

/* One layer's weights and decoding state. All device pointers on the decoder's device. E = inner, H = hidden,
 * N = state, R = dt_rank, W = width. "fp32" tensors are fp32 whatever `dtype` is (copies of bf16 parameters are
 * exact); matrices are row-major and contiguous. */
typedef struct mamba_decoder_layer {
  const float* norm_weight;       /* (H) fp32: the block's pre-norm */
  const void* in_proj_weight;     /* (2E, H) dtype, or (E, H) when not gated */
  const float* in_proj_bias;      /* (2E) or (E) fp32, or NULL */
  const float* conv_weight;       /* (E, W) fp32 */
  const float* conv_bias;         /* (E) fp32, or NULL */
  const void* x_proj_weight;      /* (R + 2N, E) dtype */
  const void* dt_proj_weight;     /* (E, R) dtype */
  const float* dt_bias;           /* (E) fp32, or NULL */
  const float* A_log;             /* (E, N) fp32 */
  const float* D;                 /* (E) fp32, or NULL */
  const void* out_proj_weight;    /* (H, E) dtype */
  const float* out_proj_bias;     /* (H) fp32, or NULL */
  void* conv_state;               /* (batch, E, W) dtype, contiguous, oldest input first; updated every step */
  float* ssm_state;               /* (batch, E, N) fp32, contiguous; updated every step */
} mamba_decoder_layer;

typedef struct mamba_decoder_desc {
  int64_t batch;                  /* 1..4096 sequences, stepped together */
  int64_t layers, hidden, inner, state, dt_rank, width, vocab;  /* 1 <= state <= 256, 1 <= width <= 8 */
  int64_t sample_vocab;           /* the greedy choice considers ids < sample_vocab (1..vocab) */
  int32_t dtype;                  /* enum mamba_dtype of matrices, embeddings and conv_state: MAMBA_F32 or MAMBA_BF16 */
  int32_t gated;                  /* 1: in_proj gives x and the gate z (Mamba); 0: x only */
  int32_t residual_in_fp32;       /* 1: the residual stream stays fp32; 0: it is rounded to dtype after each layer */
  int32_t use_graph;              /* 1: capture the step in a CUDA graph on first use and replay it; 0: launch each time */
  float norm_eps;                 /* RMSNorm epsilon, >= 0 */
  int32_t reserved;               /* 0 */
  const void* embedding;          /* (vocab, H) dtype */
  const void* lm_head;            /* (vocab, H) dtype; may be `embedding` (tied) */
  const float* norm_f_weight;     /* (H) fp32 */
  const mamba_decoder_layer* layer_weights;  /* host array of `layers` entries, read during create only */
  int64_t* token_ids;             /* (batch) int64: each step's input tokens; the step overwrites them with its choice */
  int64_t* next_ids;              /* (batch) int64: the step's greedy choice, -1 where the chosen logit is NaN or
                                     infinite, -2 where the input token was outside 0..vocab-1 */
  float* logits;                  /* (batch, vocab) fp32, rounded to dtype like the TorchSharp path's; or NULL */
} mamba_decoder_desc;

typedef struct mamba_decoder mamba_decoder;

/* Validates every argument (pointers must be device memory of one device), allocates the decoder's scratch
 * (about batch * (4E + 2H + R + 2N) floats) and returns it in *decoder. Nothing runs on the device yet. */
MAMBA_API int32_t mamba_decoder_create_cuda(const mamba_decoder_desc* desc, mamba_decoder** decoder);
/* One token for every sequence: reads token_ids, updates the states, writes next_ids, token_ids and logits.
 * stream: a cudaStream_t (NULL = legacy default stream). host_next_ids: NULL, or `batch` int64 of host memory
 * that receive next_ids; the call then waits for the step to finish. */
MAMBA_API int32_t mamba_decoder_step_cuda(mamba_decoder* decoder, void* stream, int64_t* host_next_ids);
/* Waits for the decoder's work, frees it; NULL is allowed. */
MAMBA_API int32_t mamba_decoder_destroy(mamba_decoder* decoder);

/* ---- Mamba-2 ------------------------------------------------------------------------------------------------
 * The same one-call-per-token decoding for Mamba-2 layers (mamba2_decoder_create_cuda); the decoder it makes is
 * stepped and destroyed with mamba_decoder_step_cuda and mamba_decoder_destroy. Per layer and sequence:
 *   RMSNorm -> in_proj to z | x B C | dt -> depthwise conv step over x B C + SiLU -> SSD step per head
 *   (dt = clamp(softplus(dt + dt_bias), dt_min, dt_max), A = -exp(A_log), the D skip; mamba_ssd_step's math) ->
 *   gated RMSNorm norm(y * SiLU(z)) * weight over the whole inner width or each of norm_groups parts ->
 *   out_proj -> residual
 * then the final RMSNorm, lm_head and the greedy choice as above. Rounding follows the TorchSharp step (Mamba2Mixer
 * with the native SSD step): in_proj, the SSD output, the gated norm's output, out_proj and logits in dtype; the
 * conv output, B, C and dt in fp32. E = heads * head_dim (inner), K = E + 2 * groups * state (conv channels),
 * NH = heads, P = head_dim, N = state, W = width. */
typedef struct mamba2_decoder_layer {
  const float* norm_weight;       /* (H) fp32: the block's pre-norm */
  const void* in_proj_weight;     /* (E + K + NH, H) dtype: rows z | x B C | dt */
  const float* in_proj_bias;      /* (E + K + NH) fp32, or NULL */
  const float* conv_weight;       /* (K, W) fp32 */
  const float* conv_bias;         /* (K) fp32, or NULL */
  const float* dt_bias;           /* (NH) fp32, or NULL */
  const float* A_log;             /* (NH) fp32 */
  const float* D;                 /* (NH) fp32, or NULL */
  const float* gate_norm_weight;  /* (E) fp32: the gated RMSNorm's scale */
  const void* out_proj_weight;    /* (H, E) dtype */
  const float* out_proj_bias;     /* (H) fp32, or NULL */
  void* conv_state;               /* (batch, K, W) dtype, contiguous, oldest input first; updated every step */
  float* ssm_state;               /* (batch, NH, P, N) fp32, contiguous; updated every step */
} mamba2_decoder_layer;

typedef struct mamba2_decoder_desc {
  int64_t batch;                  /* 1..4096 sequences, stepped together */
  int64_t layers, hidden, heads, head_dim, groups, state, width, vocab;
                                  /* 1 <= head_dim <= 256, 1 <= state <= 256, groups divides heads, 1 <= width <= 8 */
  int64_t sample_vocab;           /* the greedy choice considers ids < sample_vocab (1..vocab) */
  int64_t norm_groups;            /* parts of the inner width E the gated norm normalises on their own; divides E */
  int32_t dtype;                  /* MAMBA_F32 or MAMBA_BF16: matrices, embeddings and conv_state */
  int32_t residual_in_fp32;       /* 1: the residual stream stays fp32; 0: it is rounded to dtype after each layer */
  int32_t use_graph;              /* 1: capture the step in a CUDA graph on first use and replay it; 0: launch each time */
  int32_t reserved;               /* 0 */
  float norm_eps;                 /* the pre-norms' and the final norm's epsilon, >= 0 */
  float gate_norm_eps;            /* the gated norm's epsilon, >= 0 */
  float dt_min, dt_max;           /* dt's clamp (time_step_limit): 0 <= dt_min <= dt_max; dt_max may be +inf */
  const void* embedding;          /* (vocab, H) dtype */
  const void* lm_head;            /* (vocab, H) dtype; may be `embedding` (tied) */
  const float* norm_f_weight;     /* (H) fp32 */
  const mamba2_decoder_layer* layer_weights;  /* host array of `layers` entries, read during create only */
  int64_t* token_ids;             /* (batch) int64, as in mamba_decoder_desc */
  int64_t* next_ids;              /* (batch) int64, as in mamba_decoder_desc */
  float* logits;                  /* (batch, vocab) fp32, or NULL, as in mamba_decoder_desc */
} mamba2_decoder_desc;

/* Validates every argument (pointers must be device memory of one device), allocates the decoder's scratch
 * (about batch * (H + 3E + 2GN + NH) floats) and returns it in *decoder, for mamba_decoder_step_cuda and
 * mamba_decoder_destroy. Nothing runs on the device yet. */
MAMBA_API int32_t mamba2_decoder_create_cuda(const mamba2_decoder_desc* desc, mamba_decoder** decoder);

/* Peak DRAM bandwidth of a CUDA device from its properties (2 * memory clock * bus width), in bytes/s; 0 without
 * CUDA or for an invalid device. For benchmarks that report achieved bandwidth as a fraction of the peak. */
MAMBA_API double mamba_cuda_peak_bandwidth(int32_t device);

#endif /* MAMBA_DECODER_H */

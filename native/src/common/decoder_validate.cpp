#include "common/decoder_validate.h"

#include <cmath>
#include <string>
#include "common/errors.h"

namespace mamba {
namespace {
int invalid(const std::string& m) { return fail(MAMBA_ERR_INVALID_ARGUMENT, "decoder: " + m); }

bool in(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }
}  // namespace

int check_decoder_desc(const mamba_decoder_desc* d) {
  if (!d) return invalid("desc is NULL");
  // Bounds keep every element count and offset well inside int64 and every grid inside CUDA's limits.
  if (!in(d->batch, 1, 4096)) return invalid("batch must be in 1..4096, got " + std::to_string(d->batch));
  if (!in(d->layers, 1, 1024)) return invalid("layers must be in 1..1024, got " + std::to_string(d->layers));
  if (!in(d->hidden, 1, 16384)) return invalid("hidden must be in 1..16384, got " + std::to_string(d->hidden));
  if (!in(d->inner, 1, 65536)) return invalid("inner must be in 1..65536, got " + std::to_string(d->inner));
  if (!in(d->state, 1, 256)) return invalid("state must be in 1..256, got " + std::to_string(d->state));
  if (!in(d->dt_rank, 1, d->inner) || d->dt_rank > 4096)
    return invalid("dt_rank must be in 1..min(inner, 4096), got " + std::to_string(d->dt_rank));
  if (!in(d->width, 1, 8)) return invalid("width must be in 1..8, got " + std::to_string(d->width));
  if (!in(d->vocab, 1, int64_t{1} << 24)) return invalid("vocab must be in 1..2^24, got " + std::to_string(d->vocab));
  if (!in(d->sample_vocab, 1, d->vocab))
    return invalid("sample_vocab must be in 1..vocab (" + std::to_string(d->vocab) + "), got " + std::to_string(d->sample_vocab));
  if (d->dtype != MAMBA_F32 && d->dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, "decoder: dtype must be f32 or bf16, got " + std::to_string(d->dtype));
  if ((d->gated != 0 && d->gated != 1) || (d->residual_in_fp32 != 0 && d->residual_in_fp32 != 1) ||
      (d->use_graph != 0 && d->use_graph != 1))
    return invalid("gated, residual_in_fp32 and use_graph must be 0 or 1");
  if (!(d->norm_eps >= 0.f && d->norm_eps < 1.f)) return invalid("norm_eps must be in [0, 1)");
  if (d->reserved != 0) return invalid("reserved must be 0");
  if (!d->embedding || !d->lm_head || !d->norm_f_weight || !d->layer_weights || !d->token_ids || !d->next_ids)
    return invalid("embedding, lm_head, norm_f_weight, layer_weights, token_ids and next_ids are required");
  for (int64_t i = 0; i < d->layers; ++i) {
    const mamba_decoder_layer& l = d->layer_weights[i];
    if (!l.norm_weight || !l.in_proj_weight || !l.conv_weight || !l.x_proj_weight || !l.dt_proj_weight || !l.A_log ||
        !l.out_proj_weight || !l.conv_state || !l.ssm_state)
      return invalid("layer " + std::to_string(i) +
                     ": norm_weight, in_proj_weight, conv_weight, x_proj_weight, dt_proj_weight, A_log, out_proj_weight, "
                     "conv_state and ssm_state are required");
  }
  return MAMBA_OK;
}
int check_mamba2_decoder_desc(const mamba2_decoder_desc* d) {
  if (!d) return invalid("desc is NULL");
  const auto str = [](int64_t v) { return std::to_string(v); };
  if (!in(d->batch, 1, 4096)) return invalid("batch must be in 1..4096, got " + str(d->batch));
  if (!in(d->layers, 1, 1024)) return invalid("layers must be in 1..1024, got " + str(d->layers));
  if (!in(d->hidden, 1, 16384)) return invalid("hidden must be in 1..16384, got " + str(d->hidden));
  if (!in(d->head_dim, 1, 256)) return invalid("head_dim must be in 1..256, got " + str(d->head_dim));
  if (!in(d->heads, 1, 65536 / d->head_dim))
    return invalid("heads must be in 1..65536 / head_dim (inner = heads * head_dim at most 65536), got " + str(d->heads));
  if (!in(d->groups, 1, d->heads) || d->heads % d->groups != 0)
    return invalid("groups must divide heads (" + str(d->heads) + "), got " + str(d->groups));
  if (!in(d->state, 1, 256)) return invalid("state must be in 1..256, got " + str(d->state));
  if (!in(d->width, 1, 8)) return invalid("width must be in 1..8, got " + str(d->width));
  if (!in(d->vocab, 1, int64_t{1} << 24)) return invalid("vocab must be in 1..2^24, got " + str(d->vocab));
  if (!in(d->sample_vocab, 1, d->vocab))
    return invalid("sample_vocab must be in 1..vocab (" + str(d->vocab) + "), got " + str(d->sample_vocab));
  const int64_t inner = d->heads * d->head_dim;
  if (!in(d->norm_groups, 1, inner) || inner % d->norm_groups != 0)
    return invalid("norm_groups must divide the inner width heads * head_dim (" + str(inner) + "), got " + str(d->norm_groups));
  if (d->dtype != MAMBA_F32 && d->dtype != MAMBA_BF16)
    return fail(MAMBA_ERR_UNSUPPORTED, "decoder: dtype must be f32 or bf16, got " + str(d->dtype));
  if ((d->residual_in_fp32 != 0 && d->residual_in_fp32 != 1) || (d->use_graph != 0 && d->use_graph != 1))
    return invalid("residual_in_fp32 and use_graph must be 0 or 1");
  if (d->reserved != 0) return invalid("reserved must be 0");
  if (!(d->norm_eps >= 0.f && d->norm_eps < 1.f)) return invalid("norm_eps must be in [0, 1)");
  if (!(d->gate_norm_eps >= 0.f && d->gate_norm_eps < 1.f)) return invalid("gate_norm_eps must be in [0, 1)");
  // NaN fails both comparisons; dt_max may be +inf (no upper clamp), dt_min must be finite.
  if (!(d->dt_min >= 0.f && d->dt_min <= d->dt_max) || d->dt_min == INFINITY)
    return invalid("dt_min and dt_max must satisfy 0 <= dt_min <= dt_max with dt_min finite");
  if (!d->embedding || !d->lm_head || !d->norm_f_weight || !d->layer_weights || !d->token_ids || !d->next_ids)
    return invalid("embedding, lm_head, norm_f_weight, layer_weights, token_ids and next_ids are required");
  for (int64_t i = 0; i < d->layers; ++i) {
    const mamba2_decoder_layer& l = d->layer_weights[i];
    if (!l.norm_weight || !l.in_proj_weight || !l.conv_weight || !l.A_log || !l.gate_norm_weight || !l.out_proj_weight ||
        !l.conv_state || !l.ssm_state)
      return invalid("layer " + str(i) +
                     ": norm_weight, in_proj_weight, conv_weight, A_log, gate_norm_weight, out_proj_weight, conv_state "
                     "and ssm_state are required");
  }
  return MAMBA_OK;
}
}  // namespace mamba

// Stand-ins for the CUDA entry points when the library is built without a CUDA compiler.
#include "common/decoder_validate.h"
#include "common/errors.h"

namespace {
int not_built() { return mamba::fail(MAMBA_ERR_NOT_BUILT, "mamba_native was built without CUDA"); }
}  // namespace

MAMBA_API int32_t mamba_scan_fwd_cuda(const mamba_scan_args*, const mamba_scan_outputs*, void*) { return not_built(); }
MAMBA_API int32_t mamba_scan_bwd_cuda(const mamba_scan_args*, const mamba_scan_grads*, void*) { return not_built(); }
MAMBA_API int64_t mamba_scan_checkpoint_floats_cuda(const mamba_scan_args*) { return 0; }
MAMBA_API int32_t mamba_conv1d_fwd_cuda(const mamba_conv_args*, void*, const int64_t*, void*) { return not_built(); }
MAMBA_API int32_t mamba_conv1d_bwd_cuda(const mamba_conv_args*, const void*, const int64_t*, void*, const int64_t*,
                                        float*, float*, void*) { return not_built(); }
MAMBA_API int32_t mamba_decode_step_cuda(const mamba_step_args*, void*) { return not_built(); }
MAMBA_API int32_t mamba_adamw_step_cuda(const mamba_adamw_tensor*, int64_t, void*) { return not_built(); }
MAMBA_API int32_t mamba_rms_norm_train_fwd_cuda(int64_t, int64_t, int32_t, const void*, const void*, float, void*, float*,
                                                void*) { return not_built(); }
MAMBA_API int32_t mamba_rms_norm_train_bwd_cuda(int64_t, int64_t, int32_t, const void*, const void*, const float*,
                                                const void*, void*, void*, void*) { return not_built(); }
MAMBA_API int32_t mamba_gated_rms_norm_fwd_cuda(int64_t, int64_t, int64_t, int32_t, const void*, const void*, const float*,
                                                float, void*, float*, void*) { return not_built(); }
MAMBA_API int32_t mamba_gated_rms_norm_bwd_cuda(int64_t, int64_t, int64_t, int32_t, const void*, const void*, const float*,
                                                const float*, const void*, void*, void*, float*, void*) { return not_built(); }
MAMBA_API int32_t mamba_rms_norm_cuda(int64_t, int64_t, int32_t, const void*, int64_t, const void*, float, void*, int64_t,
                                      void*) { return not_built(); }
MAMBA_API int32_t mamba_ssd_fwd_cuda(const mamba_ssd_args*, const mamba_ssd_outputs*, void*) { return not_built(); }
MAMBA_API int32_t mamba_ssd_bwd_cuda(const mamba_ssd_args*, const mamba_ssd_grads*, void*) { return not_built(); }
MAMBA_API int64_t mamba_ssd_checkpoint_floats_cuda(const mamba_ssd_args*) { return 0; }
MAMBA_API int32_t mamba_ssd_step_cuda(const mamba_ssd_step_args*, void*) { return not_built(); }
// The decoder's descriptor is checked even here, so callers see argument errors the same way in every build.
MAMBA_API int32_t mamba_decoder_create_cuda(const mamba_decoder_desc* desc, mamba_decoder** decoder) {
  mamba::clear_error();
  if (!decoder) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "decoder: the decoder out-pointer is NULL");
  *decoder = nullptr;
  if (const int rc = mamba::check_decoder_desc(desc)) return rc;
  return not_built();
}
MAMBA_API int32_t mamba2_decoder_create_cuda(const mamba2_decoder_desc* desc, mamba_decoder** decoder) {
  mamba::clear_error();
  if (!decoder) return mamba::fail(MAMBA_ERR_INVALID_ARGUMENT, "decoder: the decoder out-pointer is NULL");
  *decoder = nullptr;
  if (const int rc = mamba::check_mamba2_decoder_desc(desc)) return rc;
  return not_built();
}
MAMBA_API int32_t mamba_decoder_step_cuda(mamba_decoder*, void*, int64_t*) { return not_built(); }
MAMBA_API int32_t mamba_decoder_destroy(mamba_decoder*) { return MAMBA_OK; }
MAMBA_API double mamba_cuda_peak_bandwidth(int32_t) { return 0.0; }

using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

// Mirrors of the structs in native/include/mamba_native.h. Field order and types must match exactly;
// the fixed arrays are the per-axis element strides.

internal enum NativeStatus
{
    Ok = 0,
    InvalidArgument = -1,
    Unsupported = -2,
    Cuda = -3,
    OutOfMemory = -4,
    NotBuilt = -5,
}

internal enum NativeDType
{
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    F64 = 3,
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeScanArgs
{
    public long batch, dim, length, state, groups;
    public int dtype, bc_dtype, delta_softplus, deterministic;
    public IntPtr u; public fixed long u_stride[3];
    public IntPtr delta; public fixed long delta_stride[3];
    public IntPtr A; public fixed long A_stride[2];
    public IntPtr B; public fixed long B_stride[4];
    public IntPtr C; public fixed long C_stride[4];
    public IntPtr D;
    public IntPtr z; public fixed long z_stride[3];
    public IntPtr delta_bias;
    public IntPtr initial_state;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeScanOutputs
{
    public IntPtr @out; public fixed long out_stride[3];
    public IntPtr final_state;
    public IntPtr checkpoints;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeScanGrads
{
    public IntPtr dout; public fixed long dout_stride[3];
    public IntPtr dfinal_state;
    public IntPtr du; public fixed long du_stride[3];
    public IntPtr ddelta; public fixed long ddelta_stride[3];
    public IntPtr dA;
    public IntPtr dB; public fixed long dB_stride[4];
    public IntPtr dC; public fixed long dC_stride[4];
    public IntPtr dD;
    public IntPtr dz; public fixed long dz_stride[3];
    public IntPtr ddelta_bias;
    public IntPtr dinitial_state;
    public IntPtr checkpoints;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeConvArgs
{
    public long batch, dim, length, width;
    public int dtype, silu;
    public IntPtr x; public fixed long x_stride[3];
    public IntPtr weight;
    public IntPtr bias;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeStepArgs
{
    public long batch, dim, state, dt_rank, width;
    public int dtype, reserved;
    public IntPtr x; public fixed long x_stride[2];
    public IntPtr z; public fixed long z_stride[2];
    public IntPtr conv_state; public fixed long conv_state_stride[3];
    public IntPtr conv_weight;
    public IntPtr conv_bias;
    public IntPtr x_proj_weight;
    public IntPtr dt_proj_weight;
    public IntPtr dt_bias;
    public IntPtr A_log;
    public IntPtr D;
    public IntPtr ssm_state;
    public IntPtr workspace;
    public IntPtr @out; public fixed long out_stride[2];
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeAdamWTensor
{
    public IntPtr param, grad, exp_avg, exp_avg_sq;
    public long numel;
    public int dtype, grad_dtype;
    public float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, bias_correction2_sqrt;
}

using System.Runtime.InteropServices;

namespace Microsoft.ML.Mamba.Interop;

// Mirrors of the Mamba-2 (SSD) structs in native/include/mamba_native.h. Field order and types must match exactly
// (NativeSsdStructsTests checks the sizes and offsets); the fixed arrays are the per-axis element strides.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeSsdArgs
{
    public long batch, length, heads, head_dim, groups, state;
    public long chunk;
    public int dtype, dt_softplus;
    public float dt_min, dt_max;
    public int deterministic, reserved;
    public IntPtr x; public fixed long x_stride[4];
    public IntPtr dt; public fixed long dt_stride[3];
    public IntPtr A;
    public IntPtr B; public fixed long B_stride[4];
    public IntPtr C; public fixed long C_stride[4];
    public IntPtr D;
    public IntPtr dt_bias;
    public IntPtr initial_state;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeSsdOutputs
{
    public IntPtr y; public fixed long y_stride[4];
    public IntPtr final_state;
    public IntPtr checkpoints;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeSsdGrads
{
    public IntPtr dy; public fixed long dy_stride[4];
    public IntPtr dfinal_state;
    public IntPtr dx; public fixed long dx_stride[4];
    public IntPtr ddt; public fixed long ddt_stride[3];
    public IntPtr dA;
    public IntPtr dB; public fixed long dB_stride[4];
    public IntPtr dC; public fixed long dC_stride[4];
    public IntPtr dD;
    public IntPtr ddt_bias;
    public IntPtr dinitial_state;
    public IntPtr checkpoints;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeSsdStepArgs
{
    public long batch, heads, head_dim, groups, state, width;
    public int dtype, dt_softplus;
    public float dt_min, dt_max;
    public IntPtr xBC; public fixed long xBC_stride[2];
    public IntPtr dt; public fixed long dt_stride[2];
    public IntPtr conv_state; public fixed long conv_state_stride[3];
    public IntPtr conv_weight;
    public IntPtr conv_bias;
    public IntPtr dt_bias;
    public IntPtr A_log;
    public IntPtr D;
    public IntPtr ssm_state;
    public IntPtr @out; public fixed long out_stride[2];
}

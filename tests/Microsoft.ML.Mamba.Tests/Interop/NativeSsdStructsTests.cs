using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Mamba.Interop;

namespace Microsoft.ML.Mamba.Tests.Interop;

/// <summary>The C# mirrors of the SSD structs against the layout of native/include/mamba_native.h (x86-64 / arm64,
/// LP64): sizes and the offsets of fields after each run of strides, as offsetof reports them there.</summary>
public class NativeSsdStructsTests
{
    [Fact]
    public void LayoutsMatchTheHeader()
    {
        Assert.Equal(264, Unsafe.SizeOf<NativeSsdArgs>());
        Assert.Equal(80, (int)Marshal.OffsetOf<NativeSsdArgs>(nameof(NativeSsdArgs.x)));
        Assert.Equal(120, (int)Marshal.OffsetOf<NativeSsdArgs>(nameof(NativeSsdArgs.dt)));
        Assert.Equal(152, (int)Marshal.OffsetOf<NativeSsdArgs>(nameof(NativeSsdArgs.A)));
        Assert.Equal(256, (int)Marshal.OffsetOf<NativeSsdArgs>(nameof(NativeSsdArgs.initial_state)));
        Assert.Equal(56, Unsafe.SizeOf<NativeSsdOutputs>());
        Assert.Equal(40, (int)Marshal.OffsetOf<NativeSsdOutputs>(nameof(NativeSsdOutputs.final_state)));
        Assert.Equal(48, (int)Marshal.OffsetOf<NativeSsdOutputs>(nameof(NativeSsdOutputs.checkpoints)));
        Assert.Equal(240, Unsafe.SizeOf<NativeSsdGrads>());
        Assert.Equal(48, (int)Marshal.OffsetOf<NativeSsdGrads>(nameof(NativeSsdGrads.dx)));
        Assert.Equal(120, (int)Marshal.OffsetOf<NativeSsdGrads>(nameof(NativeSsdGrads.dA)));
        Assert.Equal(224, (int)Marshal.OffsetOf<NativeSsdGrads>(nameof(NativeSsdGrads.dinitial_state)));
        Assert.Equal(232, (int)Marshal.OffsetOf<NativeSsdGrads>(nameof(NativeSsdGrads.checkpoints)));
        Assert.Equal(216, Unsafe.SizeOf<NativeSsdStepArgs>());
        Assert.Equal(64, (int)Marshal.OffsetOf<NativeSsdStepArgs>(nameof(NativeSsdStepArgs.xBC)));
        Assert.Equal(144, (int)Marshal.OffsetOf<NativeSsdStepArgs>(nameof(NativeSsdStepArgs.conv_weight)));
        Assert.Equal(192, (int)Marshal.OffsetOf<NativeSsdStepArgs>(nameof(NativeSsdStepArgs.@out)));
    }
}

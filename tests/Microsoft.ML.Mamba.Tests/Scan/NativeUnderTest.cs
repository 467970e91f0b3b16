using Microsoft.ML.Mamba.Scan;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>The native kernels as the tests use them: required to be built, and never silently falling back.</summary>
internal static class NativeUnderTest
{
    public static NativeKernels Kernels()
    {
        Assert.True(NativeKernels.IsAvailable, "libmamba_native should be built and copied next to the tests by dotnet build");
        return new NativeKernels(fallback: new ThrowingKernels());
    }
}

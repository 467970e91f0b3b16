using Microsoft.ML.Mamba.Interop;

namespace Microsoft.ML.Mamba.Tests.Interop;

public class GlibcAllocatorTests
{
    [Fact]
    public void OnLinuxGlibcKeepsLargeBuffersAndTheSettingIsMadeOnce()
    {
        string first = GlibcAllocator.KeepLargeBuffers();
        if (OperatingSystem.IsLinux()) Assert.StartsWith("glibc malloc: buffers up to 32 MB recycled", first);
        Assert.Same(first, GlibcAllocator.KeepLargeBuffers());
    }
}

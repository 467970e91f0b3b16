using TorchSharp;
using Xunit;

namespace Microsoft.ML.Mamba.Tests.Infrastructure;

/// <summary>Fails when libtorch or LibTorchSharp cannot be loaded (for example the GLIBCXX problem on Debian 12).</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void TorchSharpInitialisesAndComputes()
    {
        var a = torch.tensor(new float[] { 1, 2, 3 });
        var b = (a * a).sum();
        Assert.Equal(14f, b.item<float>());
    }
}

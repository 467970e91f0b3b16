using Microsoft.ML.Mamba.Modeling;

/// <summary>The benchmarked model's shape, shared by the decode modes: mamba-130m's (the config's defaults) with the
/// given depth and width, or for <c>mamba2</c> mamba2-130m's mixer (heads of 64 channels, state 128, one group).</summary>
internal static class BenchmarkConfig
{
    public static MambaConfig Create(string architecture, int layers, int hidden)
    {
        var config = new MambaConfig { NumHiddenLayers = layers, HiddenSize = hidden };
        if (architecture == "mamba2")
        {
            config.Architecture = MambaArchitecture.Mamba2;
            config.StateSize = 128;
            config.HeadDim = 64;
        }
        else if (architecture != "mamba1") throw new ArgumentException($"--architecture must be mamba1 or mamba2, not '{architecture}'");
        return config;
    }
}

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Which defaults an example starts from: "cpu" (reduced sizes that finish in minutes on the TorchSharp reference
/// scan) or "paper" (the sizes of Gu &amp; Dao 2023, Appendix E.1, meant for a GPU with the fused kernels).
/// Individual flags override either.
/// </summary>
public enum Preset { Cpu, Paper }

public static class PresetFlag
{
    public static Preset Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cpu" => Preset.Cpu,
        "paper" => Preset.Paper,
        _ => throw new ArgumentException($"unknown preset '{text}'; expected cpu or paper"),
    };
}

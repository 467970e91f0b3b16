using System.Diagnostics;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Refuses ML.NET's ONNX export of a Mamba stage. The exporter (Microsoft.ML.OnnxConverter) transforms the input
/// through the pipeline and walks the resulting data views; a stage it cannot export ends the walk, and it then writes
/// that stage's output columns (Score, PredictedLabel...) as graph inputs passed through Identity, without an error.
/// No ML.NET hook tells a transformer it is being exported, so Transform looks for the exporter on the call stack
/// (one stack walk per Transform call, not per row).
/// </summary>
internal static class OnnxExportGuard
{
    private const string ExporterType = "Microsoft.ML.OnnxExportExtensions";

    /// <summary>Throws <see cref="NotSupportedException"/> naming <paramref name="stage"/> when called from ConvertToOnnx.</summary>
    public static void ThrowIfExporting(string stage)
    {
        if (!IsExporting(new StackTrace(1, false))) return;
        throw new NotSupportedException(
            $"{stage} cannot be exported to ONNX: mlContext.Model.ConvertToOnnx would write a graph that passes its inputs " +
            "through instead of running the Mamba network. Score with the ML.NET model (mlContext.Model.Save / Load), or " +
            "export the network alone with SaveNetwork / SavePretrained (Hugging Face layout).");
    }

    internal static bool IsExporting(StackTrace trace)
    {
        foreach (var frame in trace.GetFrames())
            if (frame.GetMethod()?.DeclaringType?.FullName == ExporterType) return true;
        return false;
    }
}

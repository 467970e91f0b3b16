using System.Diagnostics;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>ConvertToOnnx used to return a graph passing Score/PredictedLabel through as inputs; it must refuse instead.</summary>
public class OnnxExportTests(TrainedTopicModel trained) : IClassFixture<TrainedTopicModel>
{
    [Fact]
    public void ConvertToOnnxOfAPipelineWithAMambaStageFailsNamingTheStage()
    {
        var stream = new MemoryStream();
        var error = Assert.Throws<NotSupportedException>(() => trained.MLContext.Model.ConvertToOnnx(trained.Model, trained.Test, stream));
        Assert.Contains("MambaTransformer cannot be exported to ONNX", error.Message);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void OrdinaryTransformIsNotMistakenForAnExport()
    {
        Assert.False(OnnxExportGuard.IsExporting(new StackTrace()));
        Assert.NotNull(trained.Model.Transform(trained.Test).Schema.GetColumnOrNull("Score"));
    }
}

using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The Hugging Face checkpoint bridge used by the ML.NET surface (fine-tuning from a checkpoint folder and
/// exporting the trained network). Waiting for MambaForSequenceClassification.FromPretrained/SavePretrained
/// from the Modeling work; until they are merged both calls throw <see cref="NotSupportedException"/>.
/// </summary>
internal static class MambaCheckpoint
{
    public static MambaForSequenceClassification LoadForClassification(string directory, int numLabels, SequencePooling pooling) =>
        throw new NotSupportedException($"Fine-tuning from the Hugging Face checkpoint '{directory}' is not available in this build yet (MambaForSequenceClassification.FromPretrained has not been merged).");

    public static void Save(MambaForSequenceClassification network, string directory) =>
        throw new NotSupportedException("Exporting in the Hugging Face layout is not available in this build yet (MambaForSequenceClassification.SavePretrained has not been merged).");
}

using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// <c>Trainers.Mamba(...)</c> for the multiclass, binary and regression catalogs of <see cref="MLContext"/>.
/// </summary>
public static class MambaCatalog
{
    /// <summary>Predicts one of several classes (a key label) from a text column.</summary>
    /// <param name="catalog">mlContext.MulticlassClassification.Trainers.</param>
    /// <param name="labelColumnName">Key label column (see MapValueToKey).</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Passes over the data.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="modelSize">Network size when training from scratch.</param>
    public static MambaMulticlassTrainer Mamba(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 3, int batchSize = 32,
        int maxSequenceLength = 256, MambaModelSize modelSize = MambaModelSize.Tiny)
        => new(ContextOf(catalog), Simple(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, modelSize));

    /// <summary>Predicts one of several classes (a key label) with full control over the settings.</summary>
    public static MambaMulticlassTrainer Mamba(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    /// <summary>Predicts a Boolean label from a text column.</summary>
    /// <param name="catalog">mlContext.BinaryClassification.Trainers.</param>
    /// <param name="labelColumnName">Boolean label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Passes over the data.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="modelSize">Network size when training from scratch.</param>
    public static MambaBinaryTrainer Mamba(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 3, int batchSize = 32,
        int maxSequenceLength = 256, MambaModelSize modelSize = MambaModelSize.Tiny)
        => new(ContextOf(catalog), Simple(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, modelSize));

    /// <summary>Predicts a Boolean label with full control over the settings.</summary>
    public static MambaBinaryTrainer Mamba(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    /// <summary>Predicts a Single label from a text column.</summary>
    /// <param name="catalog">mlContext.Regression.Trainers.</param>
    /// <param name="labelColumnName">Single label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Passes over the data.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="modelSize">Network size when training from scratch.</param>
    public static MambaRegressionTrainer Mamba(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 3, int batchSize = 32,
        int maxSequenceLength = 256, MambaModelSize modelSize = MambaModelSize.Tiny)
        => new(ContextOf(catalog), Simple(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, modelSize));

    /// <summary>Predicts a Single label with full control over the settings.</summary>
    public static MambaRegressionTrainer Mamba(this RegressionCatalog.RegressionTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    private static MambaTrainerOptions Simple(string label, string text, int epochs, int batchSize, int maxLength, MambaModelSize size) => new()
    {
        LabelColumnName = label,
        TextColumnNames = [text],
        NumberOfEpochs = epochs,
        BatchSize = batchSize,
        MaxSequenceLength = maxLength,
        ModelSize = size,
    };

    private static IHostEnvironment ContextOf(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return MLNetInternalsBridge.GetEnvironment(catalog);
    }
}

using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// <c>Trainers.Mamba(...)</c> for the multiclass, binary and regression catalogs of <see cref="MLContext"/>.
/// </summary>
public static class MambaCatalog
{
    /// <summary>
    /// Predicts one of several classes (a key label) from a text column, with the settings measured to work: fine-tunes
    /// the English base that comes with the package (<see cref="MambaPretrainedModels.EnglishBase"/>), holds out a tenth of the rows for early stopping and
    /// probability calibration, and pools over every token. <paramref name="pretrainedModel"/> null trains a tiny
    /// network from scratch instead (GPT-2 tokens). The options overload reaches every other setting.
    /// </summary>
    /// <param name="catalog">mlContext.MulticlassClassification.Trainers.</param>
    /// <param name="labelColumnName">Key label column (see MapValueToKey).</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Most passes over the data (early stopping may end sooner).</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="pretrainedModel">A model to fine-tune: a name from <see cref="MambaPretrainedModels"/> or a checkpoint folder; null trains from scratch.</param>
    /// <exception cref="DirectoryNotFoundException">At Fit: the named pretrained model is not found (the message says where it looked).</exception>
    public static MambaMulticlassTrainer Mamba(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 4, int batchSize = 32,
        int maxSequenceLength = 256, string? pretrainedModel = MambaPretrainedModels.EnglishBase)
        => new(ContextOf(catalog), SimpleRecipe.Options(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, pretrainedModel));

    /// <summary>Predicts one of several classes (a key label) with full control over the settings.</summary>
    public static MambaMulticlassTrainer Mamba(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    /// <summary>
    /// Predicts a Boolean label from a text column, with the settings measured to work: fine-tunes
    /// the English base that comes with the package (<see cref="MambaPretrainedModels.EnglishBase"/>), holds out a tenth of the rows for early stopping and
    /// probability calibration, and pools over every token. <paramref name="pretrainedModel"/> null trains a tiny
    /// network from scratch instead (GPT-2 tokens). The options overload reaches every other setting.
    /// </summary>
    /// <param name="catalog">mlContext.BinaryClassification.Trainers.</param>
    /// <param name="labelColumnName">Boolean label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Most passes over the data (early stopping may end sooner).</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="pretrainedModel">A model to fine-tune: a name from <see cref="MambaPretrainedModels"/> or a checkpoint folder; null trains from scratch.</param>
    /// <exception cref="DirectoryNotFoundException">At Fit: the named pretrained model is not found (the message says where it looked).</exception>
    public static MambaBinaryTrainer Mamba(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 4, int batchSize = 32,
        int maxSequenceLength = 256, string? pretrainedModel = MambaPretrainedModels.EnglishBase)
        => new(ContextOf(catalog), SimpleRecipe.Options(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, pretrainedModel));

    /// <summary>Predicts a Boolean label with full control over the settings.</summary>
    public static MambaBinaryTrainer Mamba(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    /// <summary>
    /// Predicts a Single label from a text column, with the settings measured to work: fine-tunes
    /// the English base that comes with the package (<see cref="MambaPretrainedModels.EnglishBase"/>), holds out a tenth of the rows for early stopping and
    /// probability calibration, and pools over every token. <paramref name="pretrainedModel"/> null trains a tiny
    /// network from scratch instead (GPT-2 tokens). The options overload reaches every other setting.
    /// </summary>
    /// <param name="catalog">mlContext.Regression.Trainers.</param>
    /// <param name="labelColumnName">Single label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="numberOfEpochs">Most passes over the data (early stopping may end sooner).</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="maxSequenceLength">Tokens kept per row (the first ones).</param>
    /// <param name="pretrainedModel">A model to fine-tune: a name from <see cref="MambaPretrainedModels"/> or a checkpoint folder; null trains from scratch.</param>
    /// <exception cref="DirectoryNotFoundException">At Fit: the named pretrained model is not found (the message says where it looked).</exception>
    public static MambaRegressionTrainer Mamba(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int numberOfEpochs = 4, int batchSize = 32,
        int maxSequenceLength = 256, string? pretrainedModel = MambaPretrainedModels.EnglishBase)
        => new(ContextOf(catalog), SimpleRecipe.Options(labelColumnName, textColumnName, numberOfEpochs, batchSize, maxSequenceLength, pretrainedModel));

    /// <summary>Predicts a Single label with full control over the settings.</summary>
    public static MambaRegressionTrainer Mamba(this RegressionCatalog.RegressionTrainers catalog, MambaTrainerOptions options)
        => new(ContextOf(catalog), options);

    private static IHostEnvironment ContextOf(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return MLNetInternalsBridge.GetEnvironment(catalog);
    }
}

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Trains a Mamba sequence model to predict a Boolean label from text and other columns.
/// Create it with the catalog extension <c>Trainers.Mamba(...)</c> (see <see cref="MambaCatalog"/>).
/// </summary>
public sealed class MambaBinaryTrainer : MambaTrainerBase
{
    internal MambaBinaryTrainer(MLContext mlContext, MambaTrainerOptions options)
        : base(mlContext, options, MambaTask.BinaryClassification)
    {
    }
}

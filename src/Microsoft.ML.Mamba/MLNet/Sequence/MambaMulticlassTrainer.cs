namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Trains a Mamba sequence model to predict a key label (one of several classes) from text and other columns.
/// Create it with the catalog extension <c>Trainers.Mamba(...)</c> (see <see cref="MambaCatalog"/>).
/// </summary>
public sealed class MambaMulticlassTrainer : MambaTrainerBase
{
    internal MambaMulticlassTrainer(Microsoft.ML.Runtime.IHostEnvironment environment, MambaTrainerOptions options)
        : base(environment, options, MulticlassClassificationTask.Instance)
    {
    }
}

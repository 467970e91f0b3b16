namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Trains a Mamba sequence model to predict a Boolean label from text and other columns.
/// Create it with the catalog extension <c>Trainers.Mamba(...)</c> (see <see cref="MambaCatalog"/>).
/// </summary>
public sealed class MambaBinaryTrainer : MambaTrainerBase
{
    internal MambaBinaryTrainer(Microsoft.ML.Runtime.IHostEnvironment environment, MambaTrainerOptions options)
        : base(environment, options, BinaryClassificationTask.Instance)
    {
    }
}

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Trains a Mamba sequence model to predict a Single label from text and other columns.
/// Create it with the catalog extension <c>Trainers.Mamba(...)</c> (see <see cref="MambaCatalog"/>).
/// </summary>
public sealed class MambaRegressionTrainer : MambaTrainerBase
{
    internal MambaRegressionTrainer(Microsoft.ML.Runtime.IHostEnvironment environment, MambaTrainerOptions options)
        : base(environment, options, RegressionTask.Instance)
    {
    }
}

namespace Microsoft.ML.Mamba.Tests.Infrastructure;

/// <summary>
/// Tests that train from <c>torch.manual_seed</c> and expect exact results: the same weights for the same seed.
/// That seed is libtorch's global generator, so a test running in parallel that draws random numbers between the
/// seeding and the weights' initialisation would change them, and the trained models' accuracies with them (the CI
/// comparison is that sensitive: computing RMSNorm's square as x * x instead of x.pow(2) moved its copying run from 99.6% to 80.5%).
/// These tests run alone, after the parallel ones.
/// </summary>
[CollectionDefinition(nameof(SeededTraining), DisableParallelization = true)]
public class SeededTraining;

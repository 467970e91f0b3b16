using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling;

public class LanguageModelTrainerTests
{
    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void AWarmupFractionOutsideZeroToOneIsRefusedByName(double fraction)
    {
        using var model = new MambaForCausalLM(new MambaConfig { VocabSize = 16, HiddenSize = 8, StateSize = 2, NumHiddenLayers = 1 });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new LanguageModelTrainer(model, new LanguageModelTrainingOptions { WarmupFraction = fraction }));
        Assert.Equal(nameof(LanguageModelTrainingOptions.WarmupFraction), error.ParamName);
    }
}

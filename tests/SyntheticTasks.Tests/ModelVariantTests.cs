using Microsoft.ML.Mamba.Examples.SyntheticTasks;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks.Tests;

public class ModelVariantTests
{
    [Fact]
    public void ConfigIsThePapersTwoLayerDimension64Model()
    {
        var config = ModelVariant.Mamba.Config(vocabSize: 16);
        Assert.Equal((16, 2, 64), (config.VocabSize, config.NumHiddenLayers, config.HiddenSize));
        Assert.False(config.TimeInvariantSsm);
        Assert.False(config.Ungated);
    }

    [Fact]
    public void SwitchesReachTheMixer()
    {
        MambaMixer Mixer(ModelVariant v) => (MambaMixer)new MambaForCausalLM(v.Config(16, layers: 1, modelDimension: 8, stateSize: 4)).Backbone.layers[0].mixer;
        var selective = Mixer(ModelVariant.Mamba);
        Assert.NotNull(selective.x_proj);                                  // Δ, B, C computed from the input
        Assert.Equal(2 * 16, selective.in_proj.weight!.shape[0]);          // x and the gate z
        var timeInvariant = Mixer(ModelVariant.TimeInvariant);
        Assert.Null(timeInvariant.x_proj);
        Assert.NotNull(timeInvariant.B_lti);
        Assert.Equal(16, Mixer(ModelVariant.NoGate).in_proj.weight!.shape[0]); // no z
        var neither = Mixer(ModelVariant.TimeInvariantUngated);
        Assert.Null(neither.x_proj);
        Assert.Equal(16, neither.in_proj.weight!.shape[0]);
    }

    [Fact]
    public void ParsesNamesListsAndAll()
    {
        Assert.Same(ModelVariant.TimeInvariant, ModelVariant.Parse("Time-Invariant"));
        Assert.Equal(new[] { ModelVariant.Mamba, ModelVariant.NoGate }, ModelVariant.ParseList("mamba, ungated"));
        Assert.Equal(4, ModelVariant.ParseList("all").Count);
        Assert.DoesNotContain(ModelVariant.Mamba2, ModelVariant.ParseList("all"));   // "all" stays the Table 1 ablations
        Assert.Same(ModelVariant.Mamba2, ModelVariant.Parse("Mamba2"));
        Assert.Throws<ArgumentException>(() => ModelVariant.Parse("s4"));
    }

    [Fact]
    public void Mamba2SaysClearlyThatThisBuildCannotMakeIt()
    {
        Assert.Equal(MixerFamily.Mamba1, ModelVariant.Mamba.Family);
        var e = Assert.Throws<NotSupportedException>(() => ModelVariant.Mamba2.Config(vocabSize: 16));
        Assert.Contains("mamba2", e.Message);
        Assert.Contains("Mamba-2", e.Message);
    }

    [Fact]
    public void AnExampleReportsAModelItCannotMakeAsAOneLineError()
    {
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, ExampleEntryPoint.Run(() => { ModelVariant.Mamba2.Config(16); return 0; }));
        }
        finally
        {
            Console.SetError(saved);
        }
        Assert.Contains("error: variant mamba2: ", error.ToString());
    }

    [Fact]
    public void ModelSizeSplitsOffTheTiedEmbedding()
    {
        using var model = new MambaForCausalLM(ModelVariant.Mamba.Config(vocabSize: 32, layers: 1, modelDimension: 8, stateSize: 4));
        var size = ModelSize.Of(model);
        Assert.Equal(32 * 8, size.Embedding);
        Assert.Equal(model.parameters().Sum(p => p.numel()), size.Total);
        Assert.Equal(size.Total - 32 * 8, size.NonEmbedding);
    }
}

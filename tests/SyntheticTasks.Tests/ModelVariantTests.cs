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
    public void Mamba2BuildsAMamba2ModelWithHeadsThatDivideItsInnerWidth()
    {
        Assert.Equal(MambaArchitecture.Mamba1, ModelVariant.Mamba.Config(16).Architecture);
        var config = ModelVariant.Mamba2.Config(vocabSize: 16, layers: 1, modelDimension: 48, stateSize: 8);
        Assert.Equal(MambaArchitecture.Mamba2, config.Architecture);
        Assert.Equal(32, config.HeadDim);                                   // inner width 96: 64 would not divide it
        Assert.Equal(64, ModelVariant.Mamba2.Config(16, modelDimension: 128).HeadDim);
        using var model = new MambaForCausalLM(config);
        Assert.IsType<Mamba2Mixer>(model.Backbone.layers[0].mixer);
    }

    [Fact]
    public void AnExampleReportsAModelItCannotMakeAsAOneLineError()
    {
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, ExampleEntryPoint.Run(() => throw new NotSupportedException("variant x: not in this build")));
        }
        finally
        {
            Console.SetError(saved);
        }
        Assert.Contains("error: variant x: not in this build", error.ToString());
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

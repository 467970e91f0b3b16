using System.IO.Compression;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>
/// Hosts that create their own MLContext (PredictionEnginePool, generated code, services) cannot call
/// MambaModelLoader.Register: a saved model must load with a plain mlContext.Model.Load.
/// </summary>
public class ModelLoadingWithoutRegisterTests(TrainedTopicModel trained) : IClassFixture<TrainedTopicModel>
{
    private static float[][] Scores(IDataView scored) =>
        scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();

    private byte[] Saved()
    {
        var stream = new MemoryStream();
        trained.MLContext.Model.Save(trained.Model, trained.Train.Schema, stream);
        return stream.ToArray();
    }

    [Fact]
    public void AFreshMLContextThatNeverSawATrainerLoadsTheModelWithoutRegister()
    {
        var fresh = new MLContext(seed: 7);
        var loaded = fresh.Model.Load(new MemoryStream(Saved()), out var schema);
        Assert.NotNull(schema.GetColumnOrNull(nameof(TopicRow.Text)));
        Assert.Equal(Scores(trained.Model.Transform(trained.Test)), Scores(loaded.Transform(trained.Test)));
    }

    [Fact]
    public void TheModelNamesTheLoaderAssemblyThatCarriesTheLoadableClassAttributes()
    {
        using var zip = new ZipArchive(new MemoryStream(Saved()));
        // Each model entry's header holds its loader assembly's name (UTF-16 in ML.NET's string table).
        int naming = zip.Entries.Where(e => e.Name == "Model.key").Count(e =>
        {
            using var reader = new StreamReader(e.Open(), System.Text.Encoding.Latin1);
            return reader.ReadToEnd().Replace("\0", "").Contains(MLNetInternalsBridge.ModelLoadersAssemblyName);
        });
        Assert.Equal(1, naming);
        Assert.NotNull(MLNetInternalsBridge.ModelLoadersAssembly);
    }

    [Fact]
    public void RegisterBeforeOrAfterLoadingAndTwiceStillWorks()
    {
        var bytes = Saved();
        var ml = new MLContext(seed: 7);
        MambaModelLoader.Register(ml);
        MambaModelLoader.Register(ml);
        ml.Model.Load(new MemoryStream(bytes), out _);
        ml.Model.Load(new MemoryStream(bytes), out _);
        MambaModelLoader.Register(ml);
        var other = new MLContext(seed: 8);
        other.Model.Load(new MemoryStream(bytes), out _);
        MambaModelLoader.Register(other);
        Assert.Equal(3, Scores(MambaModelLoader.Load(other, new MemoryStream(bytes), out _).Transform(trained.Test)).First().Length);
    }

    [Fact]
    public void TheLanguageModelLoadsWithoutRegisterToo()
    {
        var ml = new MLContext(seed: 1);
        var options = new MambaLanguageModelOptions { ModelSize = MambaModelSize.Tiny, ValidationFraction = 0.1, Seed = 1 };
        options.Training.BlockLength = 16;
        options.Training.BatchSize = 4;
        options.Training.MaxSteps = 2;
        var docs = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(_ => new Doc { Text = "the cat sat on the mat. " }));
        using var lm = ml.Transforms.Text.MambaLanguageModel(options).Fit(docs);
        var stream = new MemoryStream();
        ml.Model.Save(lm, docs.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext().Model.Load(stream, out _);
        Assert.IsType<MambaLanguageModelTransformer>(loaded);
    }

    private sealed class Doc { public string Text { get; set; } = ""; }
}

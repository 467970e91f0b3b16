using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>Hugging Face export of a trained network and fine-tuning from a checkpoint folder.</summary>
public class MambaCheckpointTests
{
    private static readonly string HfTinyMamba = Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba");

    [Fact]
    public void ExportedNetworkFineTunesWithFrozenEmbeddingsAndLowerLayers()
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(32, 5).Select(r => new { r.Text, Label = r.Flag }));
        var options = new MambaTrainerOptions
        {
            TextColumnNames = ["Text"], NumberOfEpochs = 1, BatchSize = 8, MaxSequenceLength = 32,
            NetworkConfig = new() { HiddenSize = 32, StateSize = 4, NumHiddenLayers = 2, Expand = 2, ConvKernel = 4 },
        };
        using var first = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
        string directory = Directory.CreateTempSubdirectory("mamba-export-").FullName;
        try
        {
            first.SaveNetwork(directory);
            Assert.True(File.Exists(Path.Combine(directory, "config.json")));
            Assert.True(File.Exists(Path.Combine(directory, "model.safetensors")));

            options.PretrainedModelDirectory = directory;
            options.NetworkConfig = null;
            options.FreezeEmbeddings = true;
            options.FrozenLayerCount = 1;
            options.LearningRate = 1e-2;
            using var tuned = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);

            var before = first.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
            foreach (var (name, p) in tuned.Network.named_parameters())
            {
                bool frozen = name.Contains("embeddings") || name.Contains("layers.0.");
                Assert.True(frozen == p.allclose(before[name], rtol: 0, atol: 0), $"{name}: frozen={frozen}");
            }
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    [Fact]
    public void ACheckpointWhoseVocabularyIsTooSmallForTheTokenizerIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(8, 1).Select(r => new { r.Text, Label = r.Flag }));
        var options = new MambaTrainerOptions { TextColumnNames = ["Text"], PretrainedModelDirectory = HfTinyMamba, Tokenizer = MambaTokenizerKind.Bytes };
        var error = Assert.Throws<InvalidOperationException>(() => ml.BinaryClassification.Trainers.Mamba(options).Fit(data));
        Assert.Contains("101 embeddings", error.Message); // the fixture has vocab_size 101, bytes need 259
    }
}

/// <summary>A Hugging Face tokenizer's files travel inside the saved model.</summary>
public class MambaHuggingFaceTokenizerPersistenceTests
{
    [Fact]
    public void AModelWithAHuggingFaceTokenizerReloadsWithoutTheOriginalFiles()
    {
        string directory = Directory.CreateTempSubdirectory("mamba-hf-tokenizer-").FullName;
        var ml = new MLContext(seed: 3);
        var data = ml.Data.LoadFromEnumerable(TopicRows.Make(16, 3).Select(r => new { Text = "hello world " + r.Text, Label = r.Flag }));
        var stream = new MemoryStream();
        float[] before;
        try
        {
            Microsoft.ML.Mamba.Tests.Text.TinyByteLevelBpeFiles.WriteTokenizerJson(directory);
            var options = new MambaTrainerOptions
            {
                TextColumnNames = ["Text"], NumberOfEpochs = 1, BatchSize = 8, MaxSequenceLength = 32,
                Tokenizer = MambaTokenizerKind.HuggingFace, TokenizerPath = directory,
                NetworkConfig = TrainedTopicModel.TinyNetwork(),
            };
            var model = ml.BinaryClassification.Trainers.Mamba(options).Fit(data);
            before = model.Transform(data).GetColumn<float>("Score").ToArray();
            ml.Model.Save(model, data.Schema, stream);
        }
        finally { Directory.Delete(directory, recursive: true); }

        stream.Position = 0;
        var loaded = MambaModelLoader.Load(new MLContext(seed: 9), stream, out _);
        Assert.Equal(before, loaded.Transform(data).GetColumn<float>("Score").ToArray());
    }
}

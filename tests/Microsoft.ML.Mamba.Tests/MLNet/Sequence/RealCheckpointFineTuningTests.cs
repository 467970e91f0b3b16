using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Tests.Text;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>
/// The path a user takes with a real checkpoint: a Hugging Face Mamba folder (the tiny fixture, written by transformers)
/// with a tokenizer.json next to it is fine-tuned into a classifier, saved, reloaded in a new MLContext and asked to predict.
/// </summary>
public class RealCheckpointFineTuningTests
{
    private static readonly string Fixture = Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba");

    private sealed class Review
    {
        public string Text { get; set; } = "";
        public bool Label { get; set; }
    }

    private sealed class Verdict
    {
        public bool PredictedLabel { get; set; }
        public float Probability { get; set; }
    }

    // A byte-level BPE whose alphabet is the lower-case letters, digits, space and a little punctuation, so that with
    // its merges and special tokens it fits the fixture's 101 embeddings (a full byte alphabet would need 256).
    private static int WriteSmallByteLevelTokenizer(string directory)
    {
        string[] merges = ["Ġ t", "h e", "Ġt he", "Ġ g", "o o", "Ġg oo", "Ġgoo d", "Ġ b", "a d", "Ġb ad"];
        var vocab = new Dictionary<string, int> { ["<|padding|>"] = 0, ["<|endoftext|>"] = 1 };
        foreach (char c in " abcdefghijklmnopqrstuvwxyz0123456789.,!'".Select(c => TinyByteLevelBpeFiles.ByteToChar(c))) vocab[c.ToString()] = vocab.Count + 1;
        foreach (var m in merges) vocab[m.Replace(" ", "")] = vocab.Count + 1;
        object Added(int id, string content) => new { id, content, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true };
        var byteLevel = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true };
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new[] { Added(0, "<|padding|>"), Added(1, "<|endoftext|>") },
            ["normalizer"] = null, ["pre_tokenizer"] = byteLevel, ["post_processor"] = null, ["decoder"] = byteLevel,
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = merges.Select(m => m.Split(' ')).ToArray(),
            },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), JsonSerializer.Serialize(json));
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"),
            """{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|padding|>"}""");
        return vocab.Values.Max() + 1;
    }

    private static List<Review> Reviews(int count, int seed)
    {
        string[] good = ["good", "great", "lovely", "tasty"], bad = ["bad", "awful", "stale", "bland"], filler = ["the", "soup", "was", "and", "it"];
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            bool positive = i % 2 == 0;
            var words = Enumerable.Range(0, 6).Select(_ => random.Next(3) == 0 ? filler[random.Next(filler.Length)]
                : (positive ? good : bad)[random.Next(4)]);
            return new Review { Text = string.Join(' ', words) + ".", Label = positive };
        }).ToList();
    }

    [Fact]
    public void TheShippedBaseIsFoundByNameAboveTheApplicationAndAMissingOneIsReportedWhereLookedFor()
    {
        using var folder = new TempDirectory();
        string model = Path.Combine(folder.Path, "models", "mamba-english-base");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");
        string app = Path.Combine(folder.Path, "bin", "app");
        Directory.CreateDirectory(app);
        Assert.Equal(model, MambaPretrainedModels.Resolve(MambaPretrainedModels.EnglishBase, [app]));
        Assert.Equal("some/folder", MambaPretrainedModels.Resolve("some/folder", [app]));
        File.Delete(Path.Combine(model, "config.json"));
        var e = Assert.Throws<DirectoryNotFoundException>(() => MambaPretrainedModels.Resolve(MambaPretrainedModels.EnglishBase, [app]));
        Assert.Contains("english-base", e.Message);
        Assert.Contains(Path.Combine(app, "models", "mamba-english-base"), e.Message);
    }

    [Fact]
    public void AHuggingFaceCheckpointWithItsTokenizerFineTunesSavesReloadsAndPredicts()
    {
        using var folder = new TempDirectory();
        foreach (var file in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(Fixture, file), folder.File(file));
        int vocabulary = WriteSmallByteLevelTokenizer(folder.Path);
        Assert.True(vocabulary <= 101, $"the tokenizer's {vocabulary} ids must fit the fixture's 101 embeddings");
        var tokenizer = MambaTokenizers.FromHuggingFace(folder.Path);
        Assert.Equal("the good soup.", tokenizer.Decode(tokenizer.Encode("the good soup.")));

        var ml = new MLContext(seed: 5);
        var train = ml.Data.LoadFromEnumerable(Reviews(32, 1));
        var options = new MambaTrainerOptions
        {
            TextColumnNames = ["Text"], PretrainedModelDirectory = folder.Path,   // its tokenizer.json is used: no Tokenizer setting needed
            FrozenLayerCount = 1, Pooling = SequencePooling.Mean, NumberOfEpochs = 2, BatchSize = 8, MaxSequenceLength = 24,
            LearningRate = 1e-2, Seed = 3,
        };
        using var model = ml.BinaryClassification.Trainers.Mamba(options).Fit(train);

        // It started from the checkpoint: the frozen lowest layer holds the fixture's weights.
        using var checkpoint = MambaForCausalLM.FromPretrained(Fixture);
        var expected = checkpoint.backbone.named_parameters().Where(p => p.name.StartsWith("layers.0.", StringComparison.Ordinal)).ToList();
        var tuned = model.Network.backbone.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.NotEmpty(expected);
        foreach (var (name, p) in expected) Assert.True(p.allclose(tuned[name], rtol: 0, atol: 0), name);

        var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 9);
        var reloaded = MambaModelLoader.Load(fresh, stream, out _);
        var test = Reviews(16, 2);
        var engine = fresh.Model.CreatePredictionEngine<Review, Verdict>(reloaded);
        var verdicts = test.Select(engine.Predict).ToList();
        var original = ml.Data.CreateEnumerable<Verdict>(model.Transform(ml.Data.LoadFromEnumerable(test)), reuseRowObject: false).ToList();
        // One row at a time and in a padded batch agree up to float rounding.
        Assert.All(original.Zip(verdicts), pair => Assert.Equal(pair.First.Probability, pair.Second.Probability, 5));
        int right = test.Zip(verdicts).Count(pair => pair.First.Label == pair.Second.PredictedLabel);
        Assert.True(right >= 12, $"{right} of {test.Count} test reviews right");
    }
}

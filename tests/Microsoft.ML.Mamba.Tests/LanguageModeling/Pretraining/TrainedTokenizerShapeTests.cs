using System.Text.Json;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Tests.Text;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling.Pretraining;

/// <summary>
/// tools/pretraining/train_tokenizer.py cannot run here (no `tokenizers`): these files are written by hand in the shape
/// tokenizers 0.2x saves for that script's settings, so a change to our reader that would refuse its output fails here.
/// </summary>
public class TrainedTokenizerShapeTests
{
    private static readonly string[] Merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n"];

    private static void WriteLikeTrainTokenizerPy(string directory)
    {
        // Special tokens first (ids 0, 1), then the 256-symbol byte alphabet, then one token per merge.
        var vocab = new Dictionary<string, int> { ["<|endoftext|>"] = 0, ["<|padding|>"] = 1 };
        foreach (char c in Enumerable.Range(0, 256).Select(TinyByteLevelBpeFiles.ByteToChar).Order()) vocab[c.ToString()] = vocab.Count;
        foreach (var m in Merges) vocab[m.Replace(" ", "")] = vocab.Count;
        object Added(int id, string content) => new { id, content, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true };
        var byteLevel = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true };
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new[] { Added(0, "<|endoftext|>"), Added(1, "<|padding|>") },
            ["normalizer"] = null, ["pre_tokenizer"] = byteLevel, ["post_processor"] = null, ["decoder"] = byteLevel,
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = Merges.Select(m => m.Split(' ')).ToArray(),
            },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), JsonSerializer.Serialize(json));
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"),
            """{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|padding|>"}""");
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"),
            """{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|padding|>", "tokenizer_class": "PreTrainedTokenizerFast", "add_prefix_space": false, "clean_up_tokenization_spaces": false, "model_max_length": 1000000}""");
    }

    [Fact]
    public void OurReaderLoadsWhatTheTrainingScriptWrites()
    {
        using var folder = new TempDirectory();
        WriteLikeTrainTokenizerPy(folder.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(folder.Path);
        Assert.Equal(2 + 256 + Merges.Length, tokenizer.VocabularySize);
        Assert.Equal(0, tokenizer.BosTokenId);
        Assert.Equal(0, tokenizer.EosTokenId);
        Assert.Equal(1, tokenizer.PadTokenId);
        const string text = "in the attic, the ünïcode text";
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Contains(2 + 256 + 2, ids);           // " the" is one token (the third merge)
        Assert.Equal("<|endoftext|>", tokenizer.Decode([0]));

        // The identity a corpus records names the file's hash, so a retrained tokenizer does not pass for this one.
        string identity = PretrainingData.TokenizerIdentity(tokenizer, folder.Path);
        Assert.StartsWith($"huggingface/{tokenizer.VocabularySize}/sha256:", identity);
    }

    [Fact]
    public void AModelPretrainedWithSuchATokenizerSavesItAndLoadsAsAGenerator()
    {
        using var folder = new TempDirectory();
        string tokenizerDir = folder.File("tokenizer");
        Directory.CreateDirectory(tokenizerDir);
        WriteLikeTrainTokenizerPy(tokenizerDir);
        string tokenizerFile = Path.Combine(tokenizerDir, "tokenizer.json");
        var tokenizer = MambaTokenizers.FromHuggingFace(tokenizerFile);
        string identity = PretrainingData.TokenizerIdentity(tokenizer, tokenizerFile);
        var data = PretrainingData.Prepare(Enumerable.Range(0, 200).Select(i => $"in the attic {i} the cat sat"), tokenizer, folder.File("data"),
            new PretrainingDataOptions { Workers = 2, HeldOutFraction = 0.1, TokenizerIdentity = identity });
        using var train = PackedTokenFile.Open(data.TrainPath);
        Assert.Equal(identity, train.TokenizerIdentity);

        var model = TorchGlobalRandom.Seeded(3, () => new MambaForCausalLM(TinyConfigs.Tiny((tokenizer.VocabularySize + 7) / 8 * 8)));
        var result = new Pretrainer(model, new PretrainingOptions { BlockLength = 8, BatchSize = 2, MaxSteps = 2, WarmupFraction = 0 }).Train(train);
        Pretrainer.SaveModel(folder.File("model"), model, tokenizer, result, tokenizerFile);

        Assert.True(File.Exists(Path.Combine(folder.File("model"), "tokenizer.json")));
        var generator = MambaLanguageModelFolder.LoadGenerator(folder.File("model"));
        Assert.Equal(tokenizer.VocabularySize, generator.Tokenizer.VocabularySize);
        Assert.Equal(1, generator.Tokenizer.PadTokenId);
        var generated = generator.Generate("in the", new SamplingOptions { Temperature = 0, MaxNewTokens = 5, StopAtEndOfSequence = false }, TestContext.Current.CancellationToken);
        Assert.Equal(5, generated.TokenIds.Count);
    }
}

using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Tests.Generation;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Tests.Text;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.AI;

public class MambaLanguageModelFolderTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void AFolderSavedWithItsTokenizerLoadsAsTheSameGenerator()
    {
        using var folder = new TempDirectory();
        var model = GenerationModels.Tiny(61, vocab: Bytes.VocabularySize);
        MambaLanguageModelFolder.Save(folder.Path, model, Bytes);
        Assert.Equal("bytes", JsonNode.Parse(File.ReadAllText(folder.File(MambaLanguageModelFolder.TokenizerRecordFile)))!["kind"]!.GetValue<string>());

        var loaded = MambaLanguageModelFolder.LoadGenerator(folder.Path);
        Assert.Equal(Bytes.VocabularySize, loaded.Tokenizer.VocabularySize);
        Assert.Equal(Bytes.EosTokenId, loaded.Tokenizer.EosTokenId);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 16, StopAtEndOfSequence = false };
        Assert.Equal(new MambaGenerator(model, Bytes).Generate("hello", options, Ct).Text, loaded.Generate("hello", options, Ct).Text);
    }

    [Fact]
    public void TheGpt2TokenizerIsRecordedByName()
    {
        using var folder = new TempDirectory();
        var gpt2 = MambaTokenizers.Gpt2();
        MambaLanguageModelFolder.Save(folder.Path, GenerationModels.Tiny(60, vocab: gpt2.VocabularySize), gpt2);
        Assert.Equal("gpt2", JsonNode.Parse(File.ReadAllText(folder.File(MambaLanguageModelFolder.TokenizerRecordFile)))!["kind"]!.GetValue<string>());
        var loaded = MambaLanguageModelFolder.LoadTokenizer(folder.Path);
        Assert.Equal(gpt2.VocabularySize, loaded.VocabularySize);
        Assert.Equal(gpt2.Encode("In the beginning"), loaded.Encode("In the beginning"));
    }

    [Fact]
    public void AHuggingFaceTokenizerTravelsAsItsFiles()
    {
        using var source = new TempDirectory();
        using var folder = new TempDirectory();
        TinyByteLevelBpeFiles.WriteTokenizerJson(source.Path);
        var tokenizer = MambaTokenizers.FromHuggingFace(source.Path);
        var model = GenerationModels.Tiny(62, vocab: tokenizer.VocabularySize);
        Assert.Throws<ArgumentException>(() => MambaLanguageModelFolder.Save(folder.Path, model, tokenizer));
        MambaLanguageModelFolder.Save(folder.Path, model, tokenizer, source.Path);

        Assert.True(File.Exists(folder.File("tokenizer.json")));
        var loaded = MambaLanguageModelFolder.LoadTokenizer(folder.Path);
        Assert.Equal(tokenizer.VocabularySize, loaded.VocabularySize);
        Assert.Equal(tokenizer.Encode("hello world"), loaded.Encode("hello world"));
    }

    [Fact]
    public void ATrainedLanguageModelTransformerSavesItsTokenizerRecord()
    {
        using var folder = new TempDirectory();
        var model = GenerationModels.Tiny(63, vocab: Bytes.VocabularySize);
        using var transformer = new MambaLanguageModelTransformer(model, new MambaTokenizerSource(MambaTokenizerKind.Bytes),
            "Prompt", "Generated", SamplingOptions.Greedy(4), null, null);
        transformer.SavePretrained(folder.Path);
        Assert.Equal(Bytes.VocabularySize, MambaLanguageModelFolder.LoadGenerator(folder.Path).Tokenizer.VocabularySize);
    }

    [Fact]
    public void AFolderWithoutATokenizerIsAClearError()
    {
        using var folder = new TempDirectory();
        GenerationModels.Tiny(64, vocab: Bytes.VocabularySize).SavePretrained(folder.Path);
        var e = Assert.Throws<FileNotFoundException>(() => MambaLanguageModelFolder.LoadGenerator(folder.Path));
        Assert.Contains(MambaLanguageModelFolder.TokenizerRecordFile, e.Message);
    }

    [Fact]
    public void ARecordThatDisagreesWithItsTokenizerIsRejected()
    {
        using var folder = new TempDirectory();
        MambaLanguageModelFolder.Save(folder.Path, GenerationModels.Tiny(65, vocab: Bytes.VocabularySize), Bytes);
        File.WriteAllText(folder.File(MambaLanguageModelFolder.TokenizerRecordFile), """{"kind": "bytes", "vocabulary_size": 300}""");
        Assert.Contains("300", Assert.Throws<InvalidDataException>(() => MambaLanguageModelFolder.LoadTokenizer(folder.Path)).Message);
        File.WriteAllText(folder.File(MambaLanguageModelFolder.TokenizerRecordFile), """{"kind": "sentencepiece"}""");
        Assert.Contains("sentencepiece", Assert.Throws<InvalidDataException>(() => MambaLanguageModelFolder.LoadTokenizer(folder.Path)).Message);
    }

    [Fact]
    public void ATokenizerLargerThanTheEmbeddingsIsRejectedNamingBothSizes()
    {
        var model = GenerationModels.Tiny(66, vocab: 37);
        var e = Assert.Throws<ArgumentException>(() => new MambaGenerator(model, Bytes));
        Assert.Contains("259", e.Message);
        Assert.Contains("37", e.Message);
        Assert.Throws<ArgumentException>(() => new MambaEmbeddingGenerator(model, Bytes));
    }

    [Fact]
    public async Task ChatClientFromPretrainedUsesTheFoldersChatTemplate()
    {
        using var folder = new TempDirectory();
        MambaLanguageModelFolder.Save(folder.Path, GenerationModels.Tiny(67, vocab: Bytes.VocabularySize), Bytes);
        File.WriteAllText(folder.File("tokenizer_config.json"), new JsonObject { ["chat_template"] = ChatPromptTemplateTests.ChatMl }.ToJsonString());
        using var client = MambaChatClient.FromPretrained(folder.Path);

        var request = client.Prepare([new ChatMessage(ChatRole.User, "Hi")], null);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", request.Prompt);
        Assert.Equal(Path.GetFileName(folder.Path), client.Metadata.DefaultModelId);
        var response = await client.GetResponseAsync("Hi", new ChatOptions { Temperature = 0, MaxOutputTokens = 3 }, Ct);
        Assert.Equal(request.PromptIds.Count, response.Usage!.InputTokenCount);
    }
}

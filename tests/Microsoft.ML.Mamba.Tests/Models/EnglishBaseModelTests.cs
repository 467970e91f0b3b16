using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Models;

/// <summary>The base model shipped in models/mamba-english-base: intact, loadable with its tokenizer, and an English model.</summary>
public class EnglishBaseModelTests
{
    private static string Folder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "models", "mamba-english-base");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("models/mamba-english-base was not found above the test's folder");
    }

    [Fact]
    public void FilesMatchTheSha256OfTheModelCard()
    {
        string folder = Folder();
        string card = File.ReadAllText(Path.Combine(folder, "README.md"));
        var rows = Regex.Matches(card, @"\| `([^`]+)` \| `([0-9a-f]{64})` \|");
        Assert.True(rows.Count >= 3, "the model card lists the files' sha256");
        foreach (Match row in rows)
        {
            using var stream = File.OpenRead(Path.Combine(folder, row.Groups[1].Value));
            Assert.Equal(row.Groups[2].Value, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
    }

    [Fact]
    public void LoadsWithItsTokenizerAndPredictsEnglish()
    {
        var generator = MambaLanguageModelFolder.LoadGenerator(Folder());
        using var model = generator.Model;
        Assert.Equal(8192, generator.Tokenizer.VocabularySize);
        // Held-out-style text the corpus style makes likely: the per-token loss of a 2.6M-parameter model on it is far
        // below a uniform guess (ln 8192 = 9.0) and below what a random model gives.
        var ids = generator.Tokenizer.Encode("And it came to pass, when the people heard the voice of the trumpet, that they went up into the city.");
        using var _ = no_grad();
        using var input = tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0);
        using var logits = generator.Model.forward(input, null);
        using var loss = nn.functional.cross_entropy(logits[0, ..^1], input[0, 1..]);
        Assert.InRange(loss.item<float>(), 0.5f, 4.5f);
        var text = generator.Generate("It is a truth universally acknowledged", SamplingOptions.Greedy(12), TestContext.Current.CancellationToken).Text;
        Assert.False(string.IsNullOrWhiteSpace(text));
    }
}

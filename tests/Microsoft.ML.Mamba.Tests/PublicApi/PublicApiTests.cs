using System.Reflection;
using System.Xml.Linq;
using Microsoft.ML.Mamba.Generation;

namespace Microsoft.ML.Mamba.Tests.PublicApi;

/// <summary>
/// The public surface is reviewed on purpose: docs/api.md lists it and must match the built assembly, and every
/// public type and member carries a doc comment.
/// </summary>
public sealed class PublicApiTests
{
    private static readonly Assembly s_library = typeof(MambaLog).Assembly;

    [Fact]
    public void DocsApiMdMatchesTheBuiltAssembly()
    {
        string path = Path.Combine(RepositoryRoot(), "docs", "api.md");
        string generated = ApiDocument.Render(s_library, XmlDocumentation.For(s_library));
        if (Environment.GetEnvironmentVariable(ApiDocument.UpdateVariable) == "1")
        {
            File.WriteAllText(path, generated);
            return;
        }
        string current = File.Exists(path) ? File.ReadAllText(path) : "";
        var difference = ApiDocument.Difference(generated, current, "docs/api.md");
        Assert.True(difference is null, difference);
    }

    [Fact]
    public void EveryPublicTypeAndMemberHasADocComment()
    {
        var missing = PublicSurface.Undocumented(s_library, XmlDocumentation.For(s_library));
        Assert.True(missing.Count == 0,
            $"{missing.Count} public types or members have no XML doc comment (add a /// <summary>, or /// <inheritdoc /> on an override):\n  "
            + string.Join("\n  ", missing));
    }

    [Fact]
    public void AMemberWithoutACommentIsReported()
    {
        var noComments = new XmlDocumentation([]);
        var missing = PublicSurface.Undocumented(s_library, noComments);
        Assert.Contains("T:Microsoft.ML.Mamba.Generation.SamplingOptions", missing);
        Assert.Contains("M:Microsoft.ML.Mamba.Generation.SamplingOptions.Validate", missing);
        Assert.Contains("P:Microsoft.ML.Mamba.Generation.SamplingOptions.Temperature", missing);
        Assert.Contains("F:Microsoft.ML.Mamba.Generation.FinishReason.StopToken", missing);
        Assert.Contains("E:Microsoft.ML.Mamba.MambaLog.Message", missing);
        // The implicit parameterless constructor has no comment to give.
        Assert.DoesNotContain("M:Microsoft.ML.Mamba.Generation.SamplingOptions.#ctor", missing);

        var onlySummary = new XmlDocumentation([new XElement("member", new XAttribute("name", "T:Microsoft.ML.Mamba.Generation.SamplingOptions"),
            new XElement("summary", "How tokens are chosen."))]);
        Assert.DoesNotContain("T:Microsoft.ML.Mamba.Generation.SamplingOptions", PublicSurface.Undocumented(s_library, onlySummary));
    }

    [Fact]
    public void DocumentationIdsMatchTheCompilers()
    {
        // Each shape of id the compiler writes: generic arguments, nullable values, arrays, nested types, indexers.
        var docs = XmlDocumentation.For(s_library);
        var members = new MemberInfo[]
        {
            typeof(GenerationLoop).GetMethod(nameof(GenerationLoop.Run))!,
            typeof(GenerationLoop.TokenCallback),
            typeof(SamplingOptions).GetProperty(nameof(SamplingOptions.Seed))!,
            typeof(SamplingOptions).GetField(nameof(SamplingOptions.MaxTopK))!,
            typeof(Microsoft.ML.Mamba.LanguageModeling.TokenBlocks).GetProperty("Item")!,
        };
        foreach (var member in members)
            Assert.True(docs.Documents(DocumentationIds.Of(member)), $"{DocumentationIds.Of(member)} is not in the documentation file.");
        Assert.Equal(
            "M:Microsoft.ML.Mamba.Generation.GenerationLoop.Run(System.Collections.Generic.IReadOnlyList{System.Collections.Generic.IReadOnlyList{System.Int32}},"
            + "Microsoft.ML.Mamba.Generation.SamplingOptions,System.Collections.Generic.IReadOnlyCollection{System.Int32},"
            + "Microsoft.ML.Mamba.Generation.GenerationLoop.TokenCallback,System.Threading.CancellationToken)",
            DocumentationIds.Of(members[0]));
    }

    [Fact]
    public void SignaturesReadLikeCode()
    {
        Assert.Equal("public sealed class SamplingOptions", Signatures.Type(typeof(SamplingOptions)));
        Assert.Equal("public int? Seed { get; set; }", Signatures.Member(typeof(SamplingOptions).GetProperty(nameof(SamplingOptions.Seed))!));
        Assert.Equal("public const float MinTemperature = 0.0001f",
            Signatures.Member(typeof(SamplingOptions).GetField(nameof(SamplingOptions.MinTemperature))!));
        Assert.Equal("public static SamplingOptions Greedy(int maxNewTokens = 64)",
            Signatures.Member(typeof(SamplingOptions).GetMethod(nameof(SamplingOptions.Greedy))!));
        Assert.Equal("public delegate bool GenerationLoop.TokenCallback(int row, int tokenId)", Signatures.Type(typeof(GenerationLoop.TokenCallback)));
        Assert.Equal(
            "public IReadOnlyList<GeneratedSequence> Run(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, "
            + "IReadOnlyCollection<int>? stopTokenIds = null, GenerationLoop.TokenCallback? onToken = null, CancellationToken cancellationToken = default)",
            Signatures.Member(typeof(GenerationLoop).GetMethod(nameof(GenerationLoop.Run))!));
        Assert.Equal("public static event Action<string>? Message", Signatures.Member(typeof(MambaLog).GetEvent(nameof(MambaLog.Message))!));
    }

    [Fact]
    public void ADriftNamesTheLineAndTheCommand()
    {
        Assert.Null(ApiDocument.Difference("a\nb\n", "a\r\nb\r\n", "docs/api.md"));
        var message = ApiDocument.Difference("a\nb\nc\n", "a\nx\nc\n", "docs/api.md");
        Assert.NotNull(message);
        Assert.Contains("line 2", message);
        Assert.Contains("generated: b", message);
        Assert.Contains(ApiDocument.UpdateCommand, message);
    }

    // The folder holding src/Microsoft.ML.Mamba, found upwards from the test binaries.
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "src", "Microsoft.ML.Mamba", "Microsoft.ML.Mamba.csproj"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No repository root (with src/Microsoft.ML.Mamba) above {AppContext.BaseDirectory}.");
    }
}

using System.Diagnostics;
using System.Text;
using Microsoft.ML.Mamba.Checkpoints;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using static Microsoft.ML.Mamba.Tests.Security.HostileFiles;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>Checkpoints whose config promises more than their weights hold fail before the model is built.</summary>
[Collection(nameof(ProcessWideMeasurements))]
public class CheckpointLoadingTests
{
    [Theory]
    // About 600 MB of parameters if built.
    [InlineData("""{"hidden_size": 2048, "num_hidden_layers": 2}""")]
    // Hugging Face's default Mamba2Config (4096 wide, 64 layers, 128 heads): gigabytes if built.
    [InlineData("""{"model_type": "mamba2"}""")]
    public void ABigConfigWithTinyWeightsFailsBeforeBuildingTheModel(string config)
    {
        // The weights file is 10 bytes.
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), config);
        File.WriteAllBytes(directory.File("model.safetensors"), new byte[10]);
        var error = FailsBeforeBuilding<MambaCheckpointException>(directory.Path, "the model");
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void AHostileMamba2ConfigIsInvalidDataNamingTheFile()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), """{"model_type": "mamba2", "hidden_size": 64, "num_heads": 3, "head_dim": 64, "n_groups": 1, "vocab_size": 10, "num_hidden_layers": 1}""");
        File.WriteAllBytes(directory.File("model.safetensors"), new byte[10]);
        var error = Assert.Throws<InvalidDataException>(() => MambaForCausalLM.FromPretrained(directory.Path));
        Assert.Contains("config.json", error.Message);
        Assert.Contains("num_heads", error.Message);
    }

    [Fact]
    public void AnEmptyConfigWithoutWeightsReportsTheMissingFileWithoutBuildingTheDefaultModel()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File("config.json"), "{}");
        // The default config is the 130M model: about 520 MB of fp32 parameters if built.
        FailsBeforeBuilding<FileNotFoundException>(directory.Path, "the 130M model");
    }

    // Loading the folder throws TException within 3 s and without the working set growing by 300 MB: the failure came
    // before the model (hundreds of MB and more) was built.
    private static TException FailsBeforeBuilding<TException>(string folder, string model) where TException : Exception
    {
        long memory = Process.GetCurrentProcess().WorkingSet64;
        var watch = Stopwatch.StartNew();
        var error = Assert.Throws<TException>(() => MambaForCausalLM.FromPretrained(folder));
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}: {model} was built first");
        Assert.True(Process.GetCurrentProcess().WorkingSet64 - memory < 300L << 20, $"{model}'s memory was allocated");
        return error;
    }

    [Fact]
    public void ManyLayersPromisedByTheConfigButAbsentFromTheWeightsFailFast()
    {
        var files = TinyCheckpoint();
        files["config.json"] = Encoding.UTF8.GetBytes("""{"vocab_size": 260, "hidden_size": 8, "state_size": 2, "expand": 2, "conv_kernel": 2, "num_hidden_layers": 1000}""");
        var error = Assert.Throws<MambaCheckpointException>(() => LoadCheckpoint(files));
        Assert.Contains("missing tensor 'backbone.layers.1.", error.Message);
        Assert.Contains("more", error.Message); // thousands of problems, the first few listed
    }

    [Fact]
    public void ALyingHeaderIsRefusedBeforeAnyTensorIsAllocated()
    {
        // The header claims an embedding of the right shape, but its offsets run past the 4 data bytes.
        var files = TinyCheckpoint();
        files["model.safetensors"] = SafeTensors("""{"backbone.embeddings.weight": {"dtype": "F32", "shape": [260, 8], "data_offsets": [0, 8320]}}""", 4);
        Assert.Contains("beyond", Assert.Throws<MambaCheckpointException>(() => LoadCheckpoint(files)).Message);
    }

    [Fact]
    public void ATruncatedWeightsFileIsRefused()
    {
        var files = TinyCheckpoint();
        files["model.safetensors"] = files["model.safetensors"][..^16];
        Assert.Throws<MambaCheckpointException>(() => LoadCheckpoint(files));
    }

    [Fact]
    public void IntegerTensorsInPlaceOfWeightsAreRefused()
    {
        var files = TinyCheckpoint();
        var tensors = SafeTensorsFileFromMemory(files["model.safetensors"]);
        string name = "backbone.norm_f.weight";
        tensors[name] = TorchSharp.torch.ones(8, TorchSharp.torch.ScalarType.Int32);
        using var directory = new TempDirectory();
        SafeTensorsFile.Save(directory.File("model.safetensors"), tensors);
        files["model.safetensors"] = File.ReadAllBytes(directory.File("model.safetensors"));
        var error = Assert.Throws<MambaCheckpointException>(() => LoadCheckpoint(files));
        Assert.Contains(name, error.Message);
        Assert.Contains("I32", error.Message);
    }

    [Fact]
    public void ANonUtf8TensorNameIsACheckpointErrorNamingTheFile()
    {
        using var directory = new TempDirectory();
        var header = Encoding.UTF8.GetBytes("""{"aXb": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""");
        header[Array.IndexOf(header, (byte)'X')] = 0xFF;
        File.WriteAllBytes(directory.File("model.safetensors"), SafeTensors(header, 4));
        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsFile.Load(directory.File("model.safetensors")));
        Assert.Contains(directory.File("model.safetensors"), error.Message);
    }

    [Fact]
    public void ANonUtf8NameInTheShardIndexIsACheckpointError()
    {
        using var directory = new TempDirectory();
        var index = Encoding.UTF8.GetBytes("""{"weight_map": {"aXb": "model-00001-of-00001.safetensors"}}""");
        index[Array.IndexOf(index, (byte)'X')] = 0xFF;
        File.WriteAllBytes(directory.File(SafeTensorsDirectory.IndexFileName), index);
        var error = Assert.Throws<MambaCheckpointException>(() => SafeTensorsDirectory.Load(directory.Path));
        Assert.Contains(SafeTensorsDirectory.IndexFileName, error.Message);
    }

    [Fact]
    public void TheLayoutComputedFromTheConfigMatchesTheBuiltModules()
    {
        var variants = new[]
        {
            TinyConfig(), new MambaConfig { VocabSize = 50, HiddenSize = 12, StateSize = 3, NumHiddenLayers = 3, Expand = 3, ConvKernel = 3, TieWordEmbeddings = false },
            new MambaConfig { VocabSize = 20, HiddenSize = 8, StateSize = 2, NumHiddenLayers = 2, UseBias = true, UseConvBias = false, TimeStepRank = 3, IntermediateSize = 10 },
            new MambaConfig { VocabSize = 20, HiddenSize = 8, StateSize = 2, NumHiddenLayers = 1, TimeInvariantSsm = true, Ungated = true },
            Modeling.TinyConfigs.TinyMamba2(tied: false),
            new MambaConfig { Architecture = MambaArchitecture.Mamba2, VocabSize = 20, HiddenSize = 12, Expand = 1, HeadDim = 3, NGroups = 4, StateSize = 5,
                              NumHiddenLayers = 2, ConvKernel = 3, UseBias = true, UseConvBias = false, NormPerGroup = true },
        };
        foreach (var config in variants)
        {
            using (var lm = new MambaForCausalLM(config))
                Assert.Equal(Describe(lm.named_parameters().Select(p => (p.name, p.parameter.shape))), Describe(MambaParameterLayout.CausalLM(config)));
            using var classifier = new MambaForSequenceClassification(config, 3);
            Assert.Equal(Describe(classifier.named_parameters().Select(p => (p.name, p.parameter.shape))), Describe(MambaParameterLayout.SequenceClassification(config, 3)));
        }

        static string[] Describe(IEnumerable<(string Name, long[] Shape)> items) =>
            items.Select(i => $"{i.Name} ({string.Join(", ", i.Shape)})").Order(StringComparer.Ordinal).ToArray();
    }

    private static Dictionary<string, TorchSharp.torch.Tensor> SafeTensorsFileFromMemory(byte[] bytes)
    {
        using var directory = new TempDirectory();
        File.WriteAllBytes(directory.File("x.safetensors"), bytes);
        return SafeTensorsFile.Load(directory.File("x.safetensors"));
    }
}

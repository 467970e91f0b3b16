using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Infrastructure;
using Microsoft.ML.Mamba.Tests.Modeling;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.Tests.LanguageModeling.Pretraining;

// A resumed run must match an uninterrupted one exactly, and both build Model(1) from libtorch's global generator: a test
// drawing from it in parallel outside TorchGlobalRandom's lock changed those weights in one full-suite run.
[Collection(nameof(SeededTraining))]
public class PretrainerTests
{
    private static readonly IMambaTokenizer Bytes = MambaTokenizers.Bytes();

    private static MambaForCausalLM Model(int seed) => TorchGlobalRandom.Seeded(seed, () => new MambaForCausalLM(TinyConfigs.Tiny(Bytes.VocabularySize)));

    private static PretrainingData Data(TempDirectory folder) =>
        PretrainingData.Prepare(Enumerable.Range(0, 400).Select(i => $"In the beginning {i % 7} the quick brown fox {i}."), Bytes,
            folder.File("data"), new PretrainingDataOptions { Workers = 2, HeldOutFraction = 0.1 });

    private static PretrainingOptions Options(string workingDirectory, IProgress<PretrainingProgress>? progress = null, CancellationToken? cancel = null) => new()
    {
        BlockLength = 16, BatchSize = 4, MaxSteps = 6, WarmupFraction = 2 / 6.0, LearningRate = 3e-3, Seed = 5,
        EvaluateEvery = 3, CheckpointEvery = 2, EvaluationTokens = 200, ReportEvery = 1,
        WorkingDirectory = workingDirectory, Progress = progress, CancellationToken = cancel ?? TestContext.Current.CancellationToken,
    };

    private sealed class Synchronous(Action<PretrainingProgress> report) : IProgress<PretrainingProgress>
    {
        public void Report(PretrainingProgress value) => report(value);
    }

    [Fact]
    public void AResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne()
    {
        using var folder = new TempDirectory();
        var data = Data(folder);
        using var train = PackedTokenFile.Open(data.TrainPath);
        using var heldOut = PackedTokenFile.Open(data.HeldOutPath);

        var straight = Model(1);
        var straightResult = new Pretrainer(straight, Options(folder.File("straight"))).Train(train, heldOut);

        // Stopped after step 3 (between checkpoints: the cancellation saves one), then resumed into a model with other weights.
        using var cancel = new CancellationTokenSource();
        var first = Model(1);
        var reports = new List<PretrainingProgress>();
        var options = Options(folder.File("resumed"), new Synchronous(p => { reports.Add(p); if (p.Step == 3) cancel.Cancel(); }), cancel.Token);
        Assert.Throws<OperationCanceledException>(() => new Pretrainer(first, options).Train(train, heldOut));
        Assert.Equal(3, reports[^1].Step);
        Assert.NotNull(reports[^1].HeldOutLoss);

        var resumed = Model(99);
        var again = Options(folder.File("resumed"));
        again.Resume = true;
        var resumedResult = new Pretrainer(resumed, again).Train(train, heldOut);

        Assert.Equal(3, resumedResult.ResumedFromStep);
        Assert.Equal(6, resumedResult.Steps);
        Assert.Equal(straightResult.Tokens, resumedResult.Tokens);
        Assert.Equal(straightResult.FinalHeldOutLoss, resumedResult.FinalHeldOutLoss);
        Assert.Equal(straightResult.FinalTrainLoss, resumedResult.FinalTrainLoss);
        var expected = straight.named_parameters().ToDictionary(p => p.name, p => TensorData.Flat(p.parameter));
        foreach (var (name, p) in resumed.named_parameters())
            Assert.True(expected[name].SequenceEqual(TensorData.Flat(p)), $"{name} differs after resuming");

        var rows = File.ReadAllLines(Path.Combine(folder.File("resumed"), Pretrainer.LossHistoryFile));
        Assert.Equal(File.ReadAllLines(Path.Combine(folder.File("straight"), Pretrainer.LossHistoryFile)).Length, rows.Length);
        Assert.Equal(Enumerable.Range(1, 6).Select(s => s.ToString()), rows.Skip(1).Select(r => r.Split(',')[0]));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void AWarmupFractionOutsideZeroToOneIsRefused(double fraction)
    {
        var options = new PretrainingOptions { WarmupFraction = fraction };
        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(PretrainingOptions.WarmupFraction), e.ParamName);
    }

    [Fact]
    public void ResumingWithOtherDataSettingsIsRefused()
    {
        using var folder = new TempDirectory();
        var data = Data(folder);
        using var train = PackedTokenFile.Open(data.TrainPath);
        var options = Options(folder.File("run"));
        options.MaxSteps = 2;
        new Pretrainer(Model(1), options).Train(train);
        options.Resume = true;
        options.Seed = 6;
        var e = Assert.Throws<InvalidOperationException>(() => new Pretrainer(Model(1), options).Train(train));
        Assert.Contains("seed 5 vs 6", e.Message);
    }

    [Fact]
    public void ATimeLimitStopsWithACheckpointAndAResumeAfterItTrainsNoFurther()
    {
        using var folder = new TempDirectory();
        var data = Data(folder);
        using var train = PackedTokenFile.Open(data.TrainPath);
        using var heldOut = PackedTokenFile.Open(data.HeldOutPath);
        var options = Options(folder.File("run"));
        options.TimeLimit = TimeSpan.FromTicks(1);
        var first = new Pretrainer(Model(1), options).Train(train, heldOut);
        Assert.Equal(("time limit", 1), (first.StopReason, first.Steps));
        Assert.NotNull(first.FinalHeldOutLoss);

        options.Resume = true;
        var again = new Pretrainer(Model(1), options).Train(train, heldOut);
        Assert.Equal(("time limit", 1, 1), (again.StopReason, again.Steps, again.ResumedFromStep));
        Assert.Equal(first.FinalHeldOutLoss, again.FinalHeldOutLoss);   // the checkpoint's weights

        options.TimeLimit = TimeSpan.FromHours(1);
        var rest = new Pretrainer(Model(1), options).Train(train, heldOut);
        Assert.Equal(("steps", 6), (rest.StopReason, rest.Steps));
    }

    [Fact]
    public void Bf16TrainingKeepsALogAndDInFp32AndSavesBf16Weights()
    {
        using var folder = new TempDirectory();
        var data = Data(folder);
        using var train = PackedTokenFile.Open(data.TrainPath);
        var model = Model(4);
        var options = Options(folder.File("run"));
        options.MaxSteps = 2;
        options.DType = TorchSharp.torch.ScalarType.BFloat16;
        var result = new Pretrainer(model, options).Train(train);
        Assert.True(double.IsFinite(result.FinalTrainLoss));
        foreach (var (name, p) in model.named_parameters())
            Assert.Equal(name.EndsWith(".A_log") || name.EndsWith(".D") ? TorchSharp.torch.ScalarType.Float32 : TorchSharp.torch.ScalarType.BFloat16, p.dtype);

        Pretrainer.SaveModel(folder.File("model"), model, Bytes, result);
        var saved = Microsoft.ML.Mamba.Checkpoints.SafeTensorsFile.Load(Path.Combine(folder.File("model"), "model.safetensors"));
        Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, saved.Single(t => t.Key.EndsWith("in_proj.weight") && t.Key.Contains(".0.")).Value.dtype);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, saved.Single(t => t.Key.EndsWith(".0.mixer.A_log")).Value.dtype);
        foreach (var t in saved.Values) t.Dispose();
        Assert.NotNull(MambaLanguageModelFolder.LoadGenerator(folder.File("model")));
    }

    [Fact]
    public void TheSavedFolderLoadsWithItsTokenizerAndGenerates()
    {
        using var folder = new TempDirectory();
        var data = Data(folder);
        using var train = PackedTokenFile.Open(data.TrainPath);
        using var heldOut = PackedTokenFile.Open(data.HeldOutPath);
        var model = Model(2);
        var trainer = new Pretrainer(model, Options(folder.File("run")));
        double before = trainer.Evaluate(heldOut);
        var result = trainer.Train(train, heldOut);
        Assert.True(result.FinalHeldOutLoss < before, $"held-out loss {before} -> {result.FinalHeldOutLoss}");

        string output = folder.File("model");
        Pretrainer.SaveModel(output, model, Bytes, result, commandLine: "pretrain --steps 6");
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(output, Pretrainer.SummaryFile)))!;
        Assert.Equal(6, summary["steps"]!.GetValue<int>());
        Assert.Equal(result.Tokens, summary["tokens_seen"]!.GetValue<long>());
        Assert.Equal("pretrain --steps 6", summary["command_line"]!.GetValue<string>());

        var loaded = MambaForCausalLM.FromPretrained(output);
        var tokenizer = MambaLanguageModelFolder.LoadTokenizer(output);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 12, StopAtEndOfSequence = false };
        string expected = new MambaGenerator(model, Bytes).Generate("In the", options, TestContext.Current.CancellationToken).Text;
        Assert.Equal(expected, new MambaGenerator(loaded, tokenizer).Generate("In the", options, TestContext.Current.CancellationToken).Text);
        Assert.Equal(12, Bytes.Encode(expected).Count);
    }
}

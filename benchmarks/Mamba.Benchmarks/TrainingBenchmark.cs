using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>One kernel's training run: timed steps and their seconds, or why it could not run.</summary>
public sealed record TrainingResult(string Kernel, ScalarType DType, int Steps, double Seconds, double LastLoss, long TokensPerStep, string? Failure)
{
    public double TokensPerSecond => TokensPerStep * Steps / Seconds;

    public static TrainingResult Failed(string kernel, ScalarType dtype, string why) =>
        new(kernel, dtype, 0, double.NaN, double.NaN, 0, why);
}

/// <summary>
/// The <c>train</c> subcommand: steps of a Mamba causal LM on random tokens (the data does not change
/// the work done), with the native kernels and, with --compare-reference, the reference kernels.
/// </summary>
public static class TrainingBenchmark
{
    public static List<TrainingResult> Run(BenchmarkOptions o, List<string> notes)
    {
        var results = new List<TrainingResult>();
        var dtype = o.TrainDType;
        string? nativeMissing = MachineInfo.NativeUnavailableReason(o.IsCuda);
        results.Add(nativeMissing is null
            ? Train(o, new NativeKernels(), dtype, o.WarmupSteps, o.Steps, notes)
            : TrainingResult.Failed("native", dtype, nativeMissing));
        if (o.CompareReference)
            results.Add(Train(o, MambaKernels.Reference, dtype, o.ReferenceWarmup, o.ReferenceSteps, notes));
        else
            notes.Add("Reference kernels not run (pass --compare-reference).");
        return results;
    }

    private static TrainingResult Train(BenchmarkOptions o, IMambaKernels kernels, ScalarType dtype, int warmup, int steps, List<string> notes)
    {
        Console.Error.WriteLine($"train {kernels.Name}: building the model ...");
        MambaForCausalLM? model = null;
        optim.Optimizer? optimizer = null;
        var batches = new List<Tensor>();
        try
        {
            manual_seed(0);
            if (o.IsCuda) cuda.manual_seed_all(0);
            var config = new MambaConfig
            {
                NumHiddenLayers = o.Layers, HiddenSize = o.Hidden, VocabSize = o.Vocab, StateSize = 16, Expand = 2,
            };
            if (o.Architecture == "mamba2")
            {
                // mamba2-130m's mixer (state-spaces/mamba2-130m): heads of 64 channels, state 128, one group, chunks of 256.
                config.Architecture = MambaArchitecture.Mamba2;
                config.StateSize = 128;
                config.HeadDim = 64;
                config.NGroups = 1;
                config.ChunkSize = 256;
            }
            Console.Error.WriteLine($"train {kernels.Name}: {o.Architecture}, {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, state {config.StateSize}");
            model = new MambaForCausalLM(config, o.Device);
            Console.Error.WriteLine($"train {kernels.Name}: {model.parameters().Sum(p => p.numel()):N0} parameters");
            if (dtype != ScalarType.Float32)
            {
                model.ToMixedPrecision(dtype);
                string counts = string.Join(", ", model.parameters().GroupBy(p => p.dtype)
                    .Select(g => $"{g.Sum(p => p.numel()):N0} {BenchmarkOptions.DTypeName(g.Key)}"));
                string note = $"{BenchmarkOptions.DTypeName(dtype)}: parameters and AdamW state in {BenchmarkOptions.DTypeName(dtype)} (no fp32 master weights), A_log and D kept fp32; parameter elements: {counts}.";
                if (!notes.Contains(note)) notes.Add(note);
            }
            model.Backbone.Kernels = kernels;
            model.train();
            optimizer = o.Optimizer == "torch"
                ? optim.AdamW(model.parameters(), lr: o.LearningRate)
                : new Microsoft.ML.Mamba.Training.FusedAdamW(model.parameters(), lr: o.LearningRate);
            string optimizerNote = $"Optimizer: {(o.Optimizer == "torch" ? "TorchSharp's AdamW" : "FusedAdamW (one native call per step)")}.";
            if (!notes.Contains(optimizerNote)) notes.Add(optimizerNote);
            // Token batches are made up front (on the CPU generator, so every device sees the same data)
            // and copied to the device before timing.
            var generator = new Generator(42);
            for (int i = 0; i < warmup + steps; i++)
                batches.Add(randint(0, o.Vocab, new long[] { o.Batch, o.Length }, dtype: ScalarType.Int64, generator: generator).to(o.Device));
            var clock = new DeviceClock(o.Device);
            double lastLoss = double.NaN;

            for (int i = 0; i < warmup; i++) lastLoss = Step(model, optimizer, o, batches[i]);
            Console.Error.WriteLine($"train {kernels.Name}: {warmup} warm-up steps done, timing {steps} ...");
            clock.Start();
            for (int i = 0; i < steps; i++) lastLoss = Step(model, optimizer, o, batches[warmup + i]);
            double seconds = clock.ElapsedMs() / 1000;
            Console.Error.WriteLine($"train {kernels.Name}: {steps} steps in {seconds:F2} s, loss {lastLoss:F4}");
            if (o.PhaseSteps > 0)
            {
                string phases = TimePhases(model, optimizer, o, batches[^1], clock);
                Console.Error.WriteLine($"train {kernels.Name}: {phases}");
                notes.Add($"{kernels.Name}, {BenchmarkOptions.DTypeName(dtype)}: {phases}");
            }
            return new TrainingResult(kernels.Name, dtype, steps, seconds, lastLoss, (long)o.Batch * o.Length, null);
        }
        catch (Exception e)
        {
            return TrainingResult.Failed(kernels.Name, dtype, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
            (optimizer as IDisposable)?.Dispose();
            model?.Dispose();
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>One optimiser step on a batch of token ids (B, L); returns the loss (reading it synchronises).</summary>
    private static double Step(MambaForCausalLM model, optim.Optimizer optimizer, BenchmarkOptions o, Tensor ids)
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = NextTokenLoss(model.forward(ids, null), ids, o);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }

    // Cross-entropy of each position's logits (B, L, V) against the next token of ids (B, L).
    private static Tensor NextTokenLoss(Tensor logits, Tensor ids, BenchmarkOptions o) =>
        nn.functional.cross_entropy(logits.narrow(1, 0, o.Length - 1).reshape(-1, o.Vocab), ids.narrow(1, 1, o.Length - 1).reshape(-1));

    // The same step as Step, with a device sync after each phase; returns the mean ms of each phase, and of the
    // host's share of it (the time until the phase's calls returned, before the sync waited for the device).
    private static string TimePhases(MambaForCausalLM model, optim.Optimizer optimizer, BenchmarkOptions o, Tensor ids, DeviceClock clock)
    {
        var ms = new double[4];
        var host = new double[4];
        var watch = new System.Diagnostics.Stopwatch();
        void Phase(int k, Action body)
        {
            clock.Start();
            watch.Restart();
            body();
            host[k] += watch.Elapsed.TotalMilliseconds;
            ms[k] += clock.ElapsedMs();
        }
        for (int i = 0; i < o.PhaseSteps; i++)
        {
            using var scope = NewDisposeScope();
            Tensor? logits = null, loss = null;
            Phase(0, () => { optimizer.zero_grad(); logits = model.forward(ids, null); });
            Phase(1, () => loss = NextTokenLoss(logits!, ids, o));
            Phase(2, () => loss!.backward());
            Phase(3, () => optimizer.step());
        }
        string[] names = { "forward", "loss", "backward", "optimizer" };
        int n = o.PhaseSteps;
        return $"phases over {n} synchronised steps, mean ms (host share): " +
               string.Join(", ", names.Select((name, k) => $"{name} {ms[k] / n:F1} ({host[k] / n:F1})")) +
               $" (sum {ms.Sum() / n:F1} ({host.Sum() / n:F1}))";
    }
}

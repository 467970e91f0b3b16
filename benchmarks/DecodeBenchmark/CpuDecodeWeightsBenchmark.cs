// The CPU decode-weights benchmark (issue #20): a 130M-shaped Mamba with random weights decodes with each of the listed
// DecodeWeights in turn (MambaForCausalLM.PrepareDecodeWeights), timed within each repeat so a change in the machine's
// load reaches all of them; printed with the weight bytes one step reads, the bandwidth that achieves and the machine's
// streaming-read bandwidth measured in the same run. Program.cs runs it for `--weights`.
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Quantization;
using TorchSharp;
using static TorchSharp.torch;

internal static class CpuDecodeWeightsBenchmark
{
    public static void Run(string[] args)
    {
        int tokens = IntArg("--tokens", 64), promptLength = IntArg("--prompt", 512), layers = IntArg("--layers", 24);
        int hidden = IntArg("--hidden", 768);   // smaller hidden sizes show the per-token overhead apart from the arithmetic
        int[] batches = StringArg("--batches", "1,16").Split(',').Select(int.Parse).ToArray();
        if (IntArg("--threads", 0) is > 0 and var threads) set_num_threads(threads);
        // The native kernels' own threads (decode step, packed projections); 0 = one per core.
        if (IntArg("--native-threads", 0) is > 0 and var nativeThreads) NativeThreads.mamba_set_num_threads(nativeThreads);

        // Mamba-2 packs in_proj and out_proj; its SSD step and gated norm stay fp32.
        var config = BenchmarkConfig.Create(StringArg("--architecture", "mamba1"), layers, hidden);
        manual_seed(0);
        var device = StringArg("--device", "cpu") == "cuda" ? CUDA : CPU;
        var model = new MambaForCausalLM(config, device);
        string dtypeName = StringArg("--dtype", "fp32");
        if (dtypeName == "bf16") model.to(ScalarType.BFloat16);
        else if (dtypeName != "fp32") throw new ArgumentException($"--dtype must be fp32 or bf16, not '{dtypeName}'");
        model.eval();
        long parameters = model.parameters().Sum(p => p.numel());
        Console.WriteLine($"Machine: {CpuName.Read()}, {Environment.ProcessorCount} logical cores, torch threads {get_num_threads()}, {RuntimeInformation.OSDescription}; on the CPU the generator keeps large buffers (glibc mallopt)");
        Console.WriteLine($"Model: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, state {config.StateSize}, vocab {config.VocabSize}, " +
                          $"{parameters / 1e6:F1}M parameters ({parameters * 4 / 1e6:F0} MB fp32), random weights, {dtypeName}, device {device}");

        var formats = ParseWeights(StringArg("--weights", "fp32"));
        if (device.type == DeviceType.CPU)
            Console.WriteLine($"Memory bandwidth (streaming read of 512 MB with {get_num_threads()} torch threads, best of 5): {StreamingReadGBs():F1} GB/s");

        var loop = new GenerationLoop(model);
        var random = new Random(1);
        int[] Prompt(int length) => Enumerable.Range(0, length).Select(_ => random.Next(config.VocabSize)).ToArray();
        double Seconds(IReadOnlyList<int[]> prompts, int newTokens)
        {
            var watch = Stopwatch.StartNew();
            loop.Run(prompts, SamplingOptions.Greedy(newTokens));
            return watch.Elapsed.TotalSeconds;
        }

        Seconds([Prompt(8)], 4);   // warm-up: first-call costs of libtorch
        // On a shared machine the load changes from second to second, so the generation loop and the bare
        // model.Step loop (argmax only, no sampler or bookkeeping) are timed alternately and the best of 3 is kept.
        // With several --weights, each repeat times every format in turn, so a change in the machine's load reaches all of them.
        int repeats = IntArg("--repeats", 3);
        foreach (int batch in batches)
        {
            var prompts = Enumerable.Range(0, batch).Select(_ => Prompt(16)).ToArray();
            // Best of the long runs minus best of the one-token runs: each minimum is the least disturbed run of its kind.
            var best = new Dictionary<DecodeWeights, (double Long, double Short, double Bare)>();
            for (int repeat = 0; repeat < repeats; repeat++)
                foreach (var format in formats)
                {
                    var used = model.PrepareDecodeWeights(format);
                    double longSeconds = Seconds(prompts, tokens + 1), shortSeconds = Seconds(prompts, 1), bareSeconds = BareSteps(batch);
                    var previous = best.TryGetValue(used, out var seen) ? seen : (Long: double.MaxValue, Short: double.MaxValue, Bare: double.MaxValue);
                    best[used] = (Math.Min(previous.Long, longSeconds), Math.Min(previous.Short, shortSeconds), Math.Min(previous.Bare, bareSeconds));
                }
            foreach (var (used, (longSeconds, shortSeconds, bareSeconds)) in best)
            {
                double loopSeconds = longSeconds - shortSeconds;
                double stepBytes = StepWeightBytes(used);
                Console.WriteLine($"Decode {used,-8} batch {batch,2}: {batch * tokens / loopSeconds,8:F1} tokens/s ({loopSeconds / tokens * 1000:F1} ms per step, {tokens} steps, greedy); " +
                                  $"bare model.Step: {batch * tokens / bareSeconds:F1} tokens/s ({bareSeconds / tokens * 1000:F1} ms); " +
                                  $"{stepBytes / 1e6:F1} MB of weights per step, read at {stepBytes / (loopSeconds / tokens) / 1e9:F1} GB/s");
            }
        }
        model.PrepareDecodeWeights(DecodeWeights.Float32);

        // Bytes of parameters one decoding step reads: every mixer and norm parameter and the vocabulary projection (the
        // embedding table only by one row), with the packed projections at their packed size.
        double StepWeightBytes(DecodeWeights used)
        {
            double elementBytes = model.parameters().First().ElementSize;
            double total = 0;
            foreach (var layer in model.Backbone.layers)
            {
                total += layer.norm.parameters().Sum(p => p.numel()) * elementBytes;
                // Mamba-1 packs in_proj, x_proj and out_proj; Mamba-2 in_proj and out_proj (it has no x_proj).
                foreach (var (name, p) in ((nn.Module)layer.mixer).named_parameters())
                {
                    bool packed = used != DecodeWeights.Float32 && (name.StartsWith("in_proj.weight") || name.StartsWith("x_proj.weight") || name.StartsWith("out_proj.weight"));
                    total += packed ? PackedBytes(p, used) : p.numel() * elementBytes;
                }
            }
            total += model.Backbone.norm_f.parameters().Sum(p => p.numel()) * elementBytes;
            var head = model.OutputEmbeddings;
            return total + (used == DecodeWeights.Float32 ? head.numel() * elementBytes : PackedBytes(head, used));
        }

        static double PackedBytes(Tensor w, DecodeWeights used) =>
            used == DecodeWeights.Int8 ? w.numel() + 4.0 * w.size(0) : 2.0 * w.numel();

        // A streaming read over a buffer far larger than the caches: what the memory system delivers to these cores.
        static double StreamingReadGBs()
        {
            using var buffer = ones(128L << 20, dtype: ScalarType.Float32);
            double best = double.MaxValue;
            for (int i = 0; i < 6; i++)
            {
                var watch = Stopwatch.StartNew();
                using var sum = buffer.sum();
                _ = sum.item<float>();
                if (i > 0) best = Math.Min(best, watch.Elapsed.TotalSeconds);   // the first pass also faults the pages in
            }
            return buffer.numel() * 4.0 / best / 1e9;
        }

        double BareSteps(int batch)
        {
            using var _ = no_grad();
            using var cache = model.Backbone.NewCache(batch);
            var token = zeros(batch, dtype: ScalarType.Int64, device: device);
            var watch = Stopwatch.StartNew();
            for (int i = 0; i < tokens; i++)
                using (NewDisposeScope())
                {
                    var next = model.Step(token, cache).argmax(-1).DetachFromDisposeScope();
                    token.Dispose();
                    token = next;
                }
            token.Dispose();
            return watch.Elapsed.TotalSeconds;
        }
        {
            var prompt = new[] { Prompt(promptLength) };
            double best = double.MaxValue;
            for (int repeat = 0; repeat < 2; repeat++) best = Math.Min(best, Seconds(prompt, 1));
            Console.WriteLine($"Prefill, batch 1 × {promptLength} tokens: {promptLength / best,8:F1} tokens/s ({best:F2} s, kernels: {(model.Backbone.Kernels ?? Microsoft.ML.Mamba.Scan.MambaKernels.Default).GetType().Name})");
        }

        int IntArg(string name, int fallback) => int.Parse(StringArg(name, fallback.ToString()));
        string StringArg(string name, string fallback)
        {
            int at = Array.IndexOf(args, name);
            return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
        }
    }

    internal static DecodeWeights[] ParseWeights(string list) => list.Split(',').Select(w => w switch
    {
        "fp32" => DecodeWeights.Float32,
        "bf16" => DecodeWeights.BFloat16,
        "int8" => DecodeWeights.Int8,
        _ => throw new ArgumentException($"--weights takes fp32, bf16 and int8, not '{w}'"),
    }).ToArray();

    private static class NativeThreads
    {
        [DllImport("mamba_native")] public static extern void mamba_set_num_threads(int threads);
    }
}

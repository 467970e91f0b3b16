// Decode and prefill throughput of a 130M-sized Mamba (24 layers, hidden 768, vocab 50280) with random weights.
// Decode speed is measured through the real generation loop (sampling, host read-back, batch bookkeeping included):
// the time of N+1 generated tokens minus the time of 1, so prefill and the first token cancel out.
//
//   dotnet run -c Release --project benchmarks/DecodeBenchmark -- [--tokens 64] [--batches 1,16] [--prompt 512] [--threads N] [--layers 24] [--hidden 768]
//       [--device cpu|cuda] [--dtype fp32|bf16]
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

int tokens = IntArg("--tokens", 64), promptLength = IntArg("--prompt", 512), layers = IntArg("--layers", 24);
int hidden = IntArg("--hidden", 768);   // smaller hidden sizes show the per-token overhead apart from the arithmetic
int[] batches = StringArg("--batches", "1,16").Split(',').Select(int.Parse).ToArray();
if (IntArg("--threads", 0) is > 0 and var threads) set_num_threads(threads);

var config = new MambaConfig { NumHiddenLayers = layers, HiddenSize = hidden };   // the defaults are mamba-130m's shape
manual_seed(0);
var device = StringArg("--device", "cpu") == "cuda" ? CUDA : CPU;
var model = new MambaForCausalLM(config, device);
string dtypeName = StringArg("--dtype", "fp32");
if (dtypeName == "bf16") model.to(ScalarType.BFloat16);
else if (dtypeName != "fp32") throw new ArgumentException($"--dtype must be fp32 or bf16, not '{dtypeName}'");
model.eval();
long parameters = model.parameters().Sum(p => p.numel());
Console.WriteLine($"Machine: {CpuName()}, {Environment.ProcessorCount} logical cores, torch threads {get_num_threads()}, {RuntimeInformation.OSDescription}; on the CPU the generator keeps large buffers (glibc mallopt)");
Console.WriteLine($"Model: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, state {config.StateSize}, vocab {config.VocabSize}, " +
                  $"{parameters / 1e6:F1}M parameters ({parameters * 4 / 1e6:F0} MB fp32), random weights, {dtypeName}, device {device}");

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
foreach (int batch in batches)
{
    var prompts = Enumerable.Range(0, batch).Select(_ => Prompt(16)).ToArray();
    double best = double.MaxValue, bare = double.MaxValue;
    for (int repeat = 0; repeat < 3; repeat++)
    {
        best = Math.Min(best, Seconds(prompts, tokens + 1) - Seconds(prompts, 1));
        bare = Math.Min(bare, BareSteps(batch));
    }
    Console.WriteLine($"Decode, batch {batch,2}: {batch * tokens / best,8:F1} tokens/s ({best / tokens * 1000:F1} ms per step, {tokens} steps, greedy); " +
                      $"bare model.Step: {batch * tokens / bare:F1} tokens/s ({bare / tokens * 1000:F1} ms)");
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

static string CpuName()
{
    try
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
    }
    catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
}

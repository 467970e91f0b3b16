// Decode and prefill throughput of a 130M-sized Mamba (24 layers, hidden 768, vocab 50280) with random weights.
// Decode speed is measured through the real generation loop (sampling, host read-back, batch bookkeeping included):
// the time of N+1 generated tokens minus the time of 1, so prefill and the first token cancel out. On CUDA both
// decoding paths run in the same process, one after the other: the native whole-model decoder (one graph launch per
// token) and the TorchSharp step (GenerationLoop.UseNativeDecoder = false); their greedy tokens are compared.
// Achieved bandwidth = bytes of weights one step reads (every parameter once: lm_head, each layer's matrices and
// per-channel parameters; the embedding's single rows are left out) / step time, as a fraction of the device's peak
// DRAM bandwidth, which libmamba_native computes from the device's properties (2 x memory clock x bus width).
//
//   dotnet run -c Release --project benchmarks/DecodeBenchmark -- [--tokens 64] [--batches 1,16] [--prompt 512] [--threads N]
//       [--layers 24] [--hidden 768] [--device cpu|cuda] [--dtype fp32|bf16|fp32,bf16] [--paths native,torch] [--repeats 3]
//       [--architecture mamba1|mamba2]
//
// Two CPU modes (CpuDecodeWeightsBenchmark.cs, DecodePerplexity.cs):
//   ... -- --weights fp32,bf16,int8 [--batches 1,16] [--tokens 64] [--repeats 3] [--native-threads N]
// decodes with each DecodeWeights in turn (MambaForCausalLM.PrepareDecodeWeights), with the weight bytes one step reads and
// the bandwidth that achieves next to the machine's streaming-read bandwidth;
//   ... -- --perplexity models/mamba-english-base --text kjv.txt [--every 100] [--block 256] [--weights fp32,bf16,int8]
// measures held-out perplexity through the decoding step with each of them.
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

if (Array.IndexOf(args, "--perplexity") >= 0)
{
    DecodePerplexity.Run(StringArg("--perplexity", ""), StringArg("--text", ""), IntArg("--every", 100), IntArg("--block", 256),
        CpuDecodeWeightsBenchmark.ParseWeights(StringArg("--weights", "fp32,bf16,int8")));
    return;
}
if (Array.IndexOf(args, "--weights") >= 0)
{
    CpuDecodeWeightsBenchmark.Run(args);
    return;
}

bool cuda = StringArg("--device", "cpu") == "cuda";
var device = cuda ? CUDA : CPU;
int tokens = IntArg("--tokens", cuda ? 128 : 64), promptLength = IntArg("--prompt", cuda ? 1024 : 512), layers = IntArg("--layers", 24);
int hidden = IntArg("--hidden", 768);   // smaller hidden sizes show the per-token overhead apart from the arithmetic
int repeats = IntArg("--repeats", 3);
int[] batches = StringArg("--batches", cuda ? "1,16,64" : "1,16").Split(',').Select(int.Parse).ToArray();
string[] dtypes = StringArg("--dtype", "fp32").Split(',');
string[] paths = StringArg("--paths", cuda ? "native,torch" : "torch").Split(',');
if (IntArg("--threads", 0) is > 0 and var threads) set_num_threads(threads);

var config = BenchmarkConfig.Create(StringArg("--architecture", "mamba1"), layers, hidden);
double peak = cuda ? PeakBandwidth() : 0;
Console.WriteLine($"Machine: {CpuName.Read()}, {Environment.ProcessorCount} logical cores, torch threads {get_num_threads()}, {RuntimeInformation.OSDescription}" +
                  (cuda ? $"; GPU peak DRAM bandwidth {(peak > 0 ? $"{peak / 1e12:F2} TB/s (from cudaDeviceProp: 2 x memory clock x bus width)" : "unknown")}" : "; on the CPU the generator keeps large buffers (glibc mallopt)"));

var random = new Random(1);
int[] Prompt(int length) => Enumerable.Range(0, length).Select(_ => random.Next(config.VocabSize)).ToArray();
foreach (var dtypeName in dtypes)
{
    manual_seed(0);
    var model = new MambaForCausalLM(config, device);
    if (dtypeName == "bf16") model.to(ScalarType.BFloat16);
    else if (dtypeName != "fp32") throw new ArgumentException($"--dtype must be fp32 or bf16, not '{dtypeName}'");
    model.eval();
    long parameters = model.parameters().Sum(p => p.numel());
    int elementBytes = dtypeName == "bf16" ? 2 : 4;
    // What one step reads: every parameter once, except the embedding table, of which it reads one row per sequence
    // (with tied embeddings the table is read whole as lm_head, so it stays in).
    long stepBytes = (parameters - (config.TieWordEmbeddings ? 0 : (long)config.VocabSize * config.HiddenSize)) * elementBytes;
    Console.WriteLine($"Model: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, state {config.StateSize}, vocab {config.VocabSize}, " +
                      $"{parameters / 1e6:F1}M parameters, random weights, {dtypeName} ({stepBytes / 1e6:F0} MB of weights read per step), device {device}");
    var loop = new GenerationLoop(model) { NativeDecoderMaxBatch = int.MaxValue };   // measure the native decoder at every batch
    double Seconds(IReadOnlyList<int[]> prompts, int newTokens, out IReadOnlyList<GeneratedSequence> result)
    {
        var watch = Stopwatch.StartNew();
        result = loop.Run(prompts, SamplingOptions.Greedy(newTokens));
        if (cuda) torch.cuda.synchronize();
        return watch.Elapsed.TotalSeconds;
    }
    foreach (var path in paths)
    {
        loop.UseNativeDecoder = path == "native";
        Seconds([Prompt(8)], 4, out _);   // warm-up: first-call costs of libtorch and of the decoder
    }
    foreach (int batch in batches)
    {
        var prompts = Enumerable.Range(0, batch).Select(_ => Prompt(promptLength)).ToArray();
        var outputs = new Dictionary<string, IReadOnlyList<GeneratedSequence>>();
        foreach (var path in paths)
        {
            loop.UseNativeDecoder = path == "native";
            double best = double.MaxValue, first = double.MaxValue;
            for (int repeat = 0; repeat < repeats; repeat++)
            {
                double one = Seconds(prompts, 1, out _);
                double all = Seconds(prompts, tokens + 1, out var result);
                outputs[path] = result;
                first = Math.Min(first, one);
                best = Math.Min(best, all - one);
            }
            double step = best / tokens;
            string bandwidth = peak > 0 ? $", weights at {stepBytes / step / 1e9:F0} GB/s = {stepBytes / step / peak:P0} of peak" : "";
            Console.WriteLine($"{dtypeName} {path,-6} batch {batch,2}: {batch * tokens / best,9:F0} tokens/s ({step * 1e3:F3} ms per step, {tokens} steps, greedy{bandwidth}); " +
                              $"prefill {promptLength} tokens + first token: {first * 1e3:F1} ms");
        }
        if (outputs.Count == 2)
        {
            var a = outputs[paths[0]];
            var b = outputs[paths[1]];
            int same = Enumerable.Range(0, batch).Count(r => a[r].TokenIds.SequenceEqual(b[r].TokenIds));
            // Where the rows part (bf16 Mamba-2: near-tied logits, see CudaMamba2DecoderTests.Rounding.cs).
            var parted = Enumerable.Range(0, batch)
                .Select(r => Enumerable.Range(0, Math.Min(a[r].TokenIds.Count, b[r].TokenIds.Count)).FirstOrDefault(i => a[r].TokenIds[i] != b[r].TokenIds[i], -1))
                .Where(i => i >= 0).Order().ToArray();
            Console.WriteLine($"{dtypeName} batch {batch,2}: greedy tokens of {paths[0]} and {paths[1]} identical in {same} of {batch} rows" +
                              (parted.Length > 0 ? $"; the others first differ at token {string.Join(", ", parted)}" : ""));
        }
    }
    model.Dispose();
}

double PeakBandwidth()
{
    try { return mamba_cuda_peak_bandwidth(0); }
    catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
}

int IntArg(string name, int fallback) => int.Parse(StringArg(name, fallback.ToString()));
string StringArg(string name, string fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

// libmamba_native's device query (mamba_decoder.h); found on the library path like the library's own loads.
[DllImport("mamba_native")]
static extern double mamba_cuda_peak_bandwidth(int device);

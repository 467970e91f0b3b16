using System.Text;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Cuda;

/// <summary>One way to decode a Mamba-2 model a token at a time, compared by <see cref="Mamba2PathComparison"/> with
/// the TorchSharp step: the native CUDA decoder, or (to test the comparison itself) another TorchSharp step.</summary>
internal interface IMamba2DecodePath : IDisposable
{
    /// <summary>Feeds <paramref name="tokens"/> (batch), leaving the logits in <see cref="Logits"/> and the greedy
    /// choice for each row in <paramref name="greedy"/>.</summary>
    void Step(Tensor tokens, long[] greedy);

    /// <summary>(batch, vocab) fp32 logits of the last step.</summary>
    Tensor Logits { get; }

    /// <summary>Layer <paramref name="layer"/>'s conv window (batch, channels, width) in the model's dtype.</summary>
    Tensor ConvState(int layer);

    /// <summary>Layer <paramref name="layer"/>'s SSM state, fp32.</summary>
    Tensor SsmState(int layer);

    /// <summary>Takes the conv and SSM states of <paramref name="cache"/> (same batch) as its own.</summary>
    void LoadState(MambaCache cache);
}

/// <summary>
/// Steps the TorchSharp step and another decoding path from the same prefilled states on the same tokens (the step's
/// greedy choices) and checks, every step, that they agree up to bf16 rounding: the logits within
/// <see cref="LogitUlps"/> bf16 ulps of each row's largest logit, and the other path's greedy choice the step's unless
/// the step's own top two logits are that close. It reports where the two part: per layer the first step where
/// in_proj's x|B|C (the conv window's newest column) differs at all and by more than <see cref="StateUlps"/> ulps,
/// and the SSM states' distance at the end.
/// </summary>
/// <remarks>
/// Why only up to rounding: two paths that add the same products in different orders (the native decoder's GEMVs
/// and cuBLAS) put a value on the other bf16 neighbour now and then, and a deep Mamba-2 model spreads that: a flip in
/// B or C reaches every head of its group, the gated norm every channel. On the deep model of the tests, projections
/// summed in another order (and nothing else) move the logits up to 2.75 ulps within one step from equal states,
/// not far from a misplaced rounding point's 4.5, and on DecodeBenchmark's model change 3 greedy choices in 48 steps
/// from equal states (near ties, logits at most 1.75 ulps apart). There a 1-ulp fp32 change of the SSM states
/// after prefill changes a greedy token by token 38 (its logits tie outright 5-8 times in 128 steps), while its
/// random Mamba-1 model repeats one token with a lead of 5.3 and agrees whatever happens. So greedy tokens can only
/// be compared where the step's choice leads by more than the bound, and a bound tight enough to catch one misplaced
/// rounding point on a deep model holds only from equal states (<c>resync</c>).
/// </remarks>
internal static class Mamba2PathComparison
{
    /// <summary>Logits may differ by this many bf16 ulps of the row's largest logit (each step starting from the same
    /// states). Measured on the CPU with TorchSharp steps whose projections add their sums up in another order (fp32,
    /// rounded once) and nothing else: at most 2.75 in 40 steps on the tests' deep model (batch 2), 1.75 in 48 on
    /// DecodeBenchmark's (batch 1); the gated norm rounded once instead of twice reaches 4.5 on the deep model
    /// (<see cref="Mamba2PathComparisonTests"/>).</summary>
    public const float LogitUlps = 3.5f;

    /// <summary>x|B|C elements further apart than this many ulps (of their row's largest element) are reported.</summary>
    public const float StateUlps = 2f;

    public sealed record Result(string? Failure, string Text);

    /// <summary>Prefills <paramref name="prompts"/> (equal lengths), makes the other path from the prefilled cache and
    /// compares the two for <paramref name="steps"/> steps; stops at the first failure.</summary>
    /// <param name="resync">Give the other path the step's states before every step, so that each step starts from the
    /// same states and only its own rounding shows; without, the paths run on their own states from the prefill on
    /// and the differences carry from step to step.</param>
    public static Result Compare(MambaForCausalLM model, int[][] prompts, int steps, bool resync,
        Func<MambaCache, IMamba2DecodePath> makePath)
    {
        using var _ = no_grad();
        var device = model.OutputEmbeddings.device;
        int batch = prompts.Length, length = prompts[0].Length, layers = model.Backbone.layers.Count;
        var ids = tensor(prompts.SelectMany(p => p).Select(t => (long)t).ToArray(), new long[] { batch, length }, device: device);
        using var cache = model.Backbone.NewCache(batch, device);
        var reference = model.Prefill(ids, null, cache).select(1, length - 1).to_type(ScalarType.Float32);
        using var path = makePath(cache);
        var greedy = new long[batch];
        var text = new StringBuilder();
        var firstDiff = Enumerable.Repeat(-1, layers).ToArray();   // first step where the layer's x|B|C differs at all
        var firstFar = Enumerable.Repeat(-1, layers).ToArray();    // ... by more than StateUlps
        double worstUlps = 0;
        int nearTies = 0, disagreements = 0, worstStep = -1;
        string? failure = null;
        for (int step = 0; step < steps && failure is null; step++)
        {
            using var stepScope = NewDisposeScope();   // (batch, vocab) temporaries: free them as we go
            // Both paths take the step's greedy choice; the logits that follow are compared.
            var token = reference.argmax(-1);
            if (resync) path.LoadState(cache);
            path.Step(token, greedy);
            reference = model.Step(token, cache).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
            var rowMax = reference.abs().amax(new long[] { -1 }).cpu().data<float>().ToArray();
            var rowDiff = (path.Logits - reference).abs().amax(new long[] { -1 }).cpu().data<float>().ToArray();
            var chosen = reference.argmax(-1).cpu().data<long>().ToArray();
            var top = reference.topk(2, -1).values.cpu().data<float>().ToArray();
            for (int r = 0; r < batch; r++)
            {
                float ulp = Bf16Ulp(rowMax[r]);
                double apart = rowDiff[r] / ulp;
                if (apart > worstUlps) (worstUlps, worstStep) = (apart, step);
                if (apart > LogitUlps)
                    failure ??= $"step {step} row {r}: logits {apart:F2} bf16 ulps apart (> {LogitUlps}; largest logit {rowMax[r]})";
                float lead = (top[2 * r] - top[2 * r + 1]) / ulp;
                if (lead <= LogitUlps) nearTies++;
                if (greedy[r] == chosen[r]) continue;
                disagreements++;
                text.AppendLine($"  step {step} row {r}: TorchSharp chose {chosen[r]}, the other path {greedy[r]}; the step's top two {lead:F2} ulps apart");
                if (lead > LogitUlps)
                    failure ??= $"step {step} row {r}: the other path chose {greedy[r]}, TorchSharp {chosen[r]}, whose lead is {lead:F2} bf16 ulps (> {LogitUlps})";
            }
            for (int i = 0; i < layers; i++)
            {
                if (firstFar[i] >= 0) continue;
                var own = Newest(path.ConvState(i));
                var theirs = Newest(((Mamba2LayerState)cache.Layers[i]).ConvState);
                if (!own.ne(theirs).any().item<bool>()) continue;
                if (firstDiff[i] < 0) firstDiff[i] = step;
                var a = own.cpu().data<float>().ToArray();
                var b = theirs.cpu().data<float>().ToArray();
                // In ulps of the row's largest element, as the logits: an element near zero has ulps far finer
                // than the rounding upstream of it.
                int differ = 0, width = a.Length / batch;
                double far = 0;
                for (int r = 0; r < batch; r++)
                {
                    float ulp = Bf16Ulp(b.Skip(r * width).Take(width).Max(Math.Abs));
                    for (int k = r * width; k < (r + 1) * width; k++)
                    {
                        if (a[k] == b[k]) continue;
                        differ++;
                        far = Math.Max(far, Math.Abs(a[k] - b[k]) / ulp);
                    }
                }
                if (far <= StateUlps) continue;
                firstFar[i] = step;
                text.AppendLine($"  step {step} layer {i}: x|B|C up to {far:F1} ulps apart, {differ} of {a.Length} elements differ");
            }
        }
        text.AppendLine($"  logits at most {worstUlps:F2} bf16 ulps apart (step {worstStep}); {disagreements} greedy choices differ; " +
                        $"{nearTies} (step, row)s where the step's top two are within {LogitUlps} ulps");
        text.AppendLine($"  per layer, first step where in_proj's x|B|C differs at all / by more than {StateUlps} ulps: " +
                        string.Join(", ", Enumerable.Range(0, layers).Select(i => $"{i}:{Show(firstDiff[i])}/{Show(firstFar[i])}")));
        text.AppendLine("  SSM state after the last step, max |difference| / max |state| per layer: " + string.Join(", ",
            Enumerable.Range(0, layers).Select(i =>
            {
                var theirs = ((Mamba2LayerState)cache.Layers[i]).SsmState;
                double scale = Math.Max(theirs.abs().max().item<float>(), 1e-30f);
                return $"{(path.SsmState(i) - theirs).abs().max().item<float>() / scale:E1}";
            })));
        return new Result(failure, text.ToString());
    }

    /// <summary>The spacing of bf16 numbers at |x| (8 significant bits).</summary>
    public static float Bf16Ulp(float x) => MathF.Pow(2, MathF.Floor(MathF.Log2(Math.Max(Math.Abs(x), 1e-30f))) - 7);

    // The conv window's newest column, (batch, channels) in fp32: in_proj's x|B|C of the last step.
    private static Tensor Newest(Tensor window) => window.select(2, window.size(2) - 1).to_type(ScalarType.Float32);

    private static string Show(int step) => step < 0 ? "-" : step.ToString();
}

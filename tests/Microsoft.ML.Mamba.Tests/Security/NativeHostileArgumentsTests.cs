using System.Diagnostics;
using Microsoft.ML.Mamba.Scan;
using Microsoft.ML.Mamba.Tests.Scan;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Security;

/// <summary>
/// Hostile kernel arguments (security issue #16): tensors whose shapes, devices or sizes disagree with the main
/// input. Before the checks these read or wrote outside their buffers (garbage, SIGSEGV, heap corruption), so they
/// run in a child process (this test executable again, filtered to <see cref="Child"/>) that a crash cannot take
/// the test run down with; the child writes one line per case and the parent checks every line.
/// </summary>
public class NativeHostileArgumentsTests
{
    private const string OutputVariable = "MAMBA_HOSTILE_PROBE_OUT";

    // Case name -> the argument its ArgumentException must name.
    private static readonly (string Name, string Argument, Action Run)[] Cases =
    [
        ("conv weight (4,4) for 64 channels", "weight", () => Native().CausalConv1d(randn(1, 64, 16), randn(4, 4), null, true)),
        ("conv bias of 1 for 64 channels", "bias", () => Native().CausalConv1d(randn(1, 64, 16), randn(64, 4), randn(1), true)),
        ("conv x (1,2^22,1) with weight (1,4)", "weight", () => Native().CausalConv1d(randn(1, 1 << 22, 1), randn(1, 4), null, false)),
        ("conv backward with weight (2,4) for 64 channels", "weight", ConvBackwardWithSmallWeight),
        ("conv weight on another device", "weight", () => Native().CausalConv1d(randn(1, 4, 8), Meta(4, 4), null, true)),
        ("reference conv weight (4,4) for 64 channels", "weight",
            () => MambaKernels.Reference.CausalConv1d(randn(1, 64, 16), randn(4, 4), null, true)),
        ("scan A on another device", "A", () => Scan(a: Meta(4, 2))),
        ("scan z on another device", "z", () => Scan(z: Meta(1, 4, 8))),
        ("scan empty length", "u", () => Scan(length: 0)),
        ("scan empty batch", "u", () => Scan(batch: 0)),
        ("scan empty state", "A", () => Scan(state: 0)),
        ("scan integer delta", "delta", () => Scan(delta: ones(1, 4, 8, dtype: ScalarType.Int32))),
        ("scan u of shape (0, 2^62, 2^62)", "u", () => Native().SelectiveScan(Huge(0, Big, Big), Huge(0, Big, Big),
            Huge(Big, 1), Huge(0, 1, Big), Huge(0, 1, Big), null, null, null, true)),
        ("reference scan empty length", "u", () => Scan(length: 0, kernels: MambaKernels.Reference)),
        ("rms norm empty last axis", "x", () => Native().RmsNorm(ones(3, 0), ones(0), 1e-5)),
        ("rms norm weight on another device", "weight", () => Native().RmsNorm(ones(3, 4), Meta(4), 1e-5)),
        ("decode step empty batch", "x", () => Step(batch: 0)),
        ("decode step conv state on another device", "convState", () => Step(convState: Meta(1, 4, 2))),
        ("decode step A_log on another device", "A_log", () => Step(aLog: Meta(4, 3))),
        ("fused AdamW exp_avg smaller than its parameter", "exp_avg", AdamWWithShrunkenState),
    ];

    [Fact]
    public async Task EveryHostileCaseThrowsArgumentExceptionNamingTheArgumentAndTheChildSurvives()
    {
        using var dir = new Infrastructure.TempDirectory();
        var output = Path.Combine(dir.Path, "results.txt");
        var (fileName, prefix) = Environment.ProcessPath is { } path && !Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (path, "")
            : ("dotnet", $"\"{typeof(NativeHostileArgumentsTests).Assembly.Location}\" ");
        var start = new ProcessStartInfo(fileName, prefix + $"--filter-method \"{typeof(NativeHostileArgumentsTests).FullName}.{nameof(Child)}\"")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment[OutputVariable] = output;
        using var child = Process.Start(start)!;
        var stdout = child.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(child.WaitForExit(120_000), "the child probe did not finish in 2 minutes");
        await child.WaitForExitAsync(TestContext.Current.CancellationToken);
        string childOutput = await stdout, childErrors = await stderr;
        var lines = File.Exists(output) ? File.ReadAllLines(output) : [];
        Assert.True(child.ExitCode == 0 && lines.Length == Cases.Length,
            $"child exit code {child.ExitCode}, {lines.Length} of {Cases.Length} results:\n{string.Join("\n", lines)}\n{childOutput}\n{childErrors}");
        for (int i = 0; i < Cases.Length; i++)
        {
            var parts = lines[i].Split('|', 4);
            Assert.True(parts.Length == 4 && parts[0] == Cases[i].Name && parts[1] == nameof(ArgumentException)
                && parts[2] == Cases[i].Argument && parts[3].Contains(Cases[i].Argument),
                $"case '{Cases[i].Name}' should throw ArgumentException naming {Cases[i].Argument}, got: {lines[i]}");
        }
    }

    /// <summary>The child's side: runs every case, one flushed line each, so a crash shows which case it was.</summary>
    [Fact]
    public void Child()
    {
        var output = Environment.GetEnvironmentVariable(OutputVariable);
        if (output is null) return;  // only in the child process
        foreach (var (name, _, run) in Cases)
        {
            string line;
            try
            {
                using var scope = NewDisposeScope();
                run();
                line = $"{name}|no exception||";
            }
            catch (Exception e)
            {
                var param = (e as ArgumentException)?.ParamName ?? "";
                line = $"{name}|{e.GetType().Name}|{param}|{e.Message.ReplaceLineEndings(" ")}";
            }
            File.AppendAllText(output, line + "\n");
        }
    }

    private static NativeKernels Native() => NativeUnderTest.Kernels();

    private static Tensor Meta(params long[] shape) => empty(shape, device: new Device(DeviceType.META));

    private const long Big = 1L << 62;

    // A view of one element with sizes whose product overflows int64 (numel 0 when an axis is 0): consistent with each
    // other, so only the emptiness and size checks can stop them before libtorch's stride computation overflows.
    private static Tensor Huge(params long[] shape) => zeros(1).as_strided(shape, new long[shape.Length]);

    private static void ConvBackwardWithSmallWeight()
    {
        var x = randn(1, 64, 16).requires_grad_();
        var weight = randn(2, 4).requires_grad_();
        Native().CausalConv1d(x, weight, null, true).sum().backward();
    }

    // A corrupt optimizer state: the moment buffer of a 4096-element parameter replaced by a 1-element one.
    private static void AdamWWithShrunkenState()
    {
        var p = new TorchSharp.Modules.Parameter(randn(4096));
        var optimizer = new Microsoft.ML.Mamba.Training.FusedAdamW(new[] { p });
        p.grad = ones(4096);
        var field = typeof(TorchSharp.Modules.OptimizerHelper).GetField("_state",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var states = (TorchSharp.Utils.OrderedDict<IntPtr, TorchSharp.Modules.OptimizerState>)field.GetValue(optimizer)!;
        var state = (TorchSharp.Modules.AdamW.State)states[p.Handle];
        state.exp_avg = zeros(1);
        optimizer.step();
    }

    private static void Scan(long batch = 1, long length = 8, long state = 2, Tensor? a = null, Tensor? z = null,
        Tensor? delta = null, IMambaKernels? kernels = null) =>
        (kernels ?? Native()).SelectiveScan(randn(batch, 4, length), delta ?? randn(batch, 4, length), a ?? -ones(4, state),
            randn(batch, state, length), randn(batch, state, length), ones(4), z, null, true);

    private static void Step(long batch = 1, Tensor? convState = null, Tensor? aLog = null)
    {
        using var _ = no_grad();
        var weights = new DecodeStepWeights(ones(4, 2), null, ones(1 + 2 * 3, 4), ones(4, 1), null, aLog ?? zeros(4, 3), null);
        Native().DecodeStep(ones(batch, 4), null, convState ?? zeros(batch, 4, 2), zeros(batch, 4, 3), weights);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Interop;

/// <summary>
/// Tensor arithmetic that keeps its <see cref="Scalar"/> arguments alive through the native call.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns numbers into <see cref="Scalar"/> objects implicitly (<c>x.pow(2)</c>, <c>x.square()</c>, which calls it,
/// <c>x + 1e-5</c>, and the hidden <c>alpha = 1</c> of every <c>a + b</c> and <c>a - b</c>). Nothing references such an object once its
/// handle has been read, and no dispose scope tracks it. A garbage collection triggered by another thread can then
/// finalise it while libtorch is still reading it, and libtorch fails: "Expected false to be true" or "INTERNAL ASSERT
/// FAILED at c10/core/Scalar.h". On this machine, <c>(x.pow(2) + 1e-5).rsqrt()</c> with a thread calling
/// <c>GC.Collect</c> in a loop failed within 32–47 K iterations, <c>(x + x).rsqrt()</c> within 109 K, and the same
/// with explicit, live scalars ran 1.6 M iterations cleanly. A CPU training run of the synthetic tasks hit it after 19 minutes, in RMSNorm.
/// The code that runs every step goes through these helpers; the scalars here are static or disposed after the call.
/// </remarks>
internal static class TorchScalars
{
    // Static, so always reachable: never finalised under a running call.
    private static readonly Scalar One = 1.ToScalar();
    private static readonly Scalar Two = 2.ToScalar();

    /// <summary><c>a + b</c> with an alpha that stays alive.</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a + value</c>.</summary>
    public static Tensor Add(Tensor a, double value)
    {
        using var scalar = value.ToScalar();   // disposed after the call, so alive during it
        return a.add(scalar, One);
    }

    /// <summary><c>accumulator + tensor1 · tensor2</c> (torch.addcmul with value 1).</summary>
    public static Tensor AddProduct(Tensor accumulator, Tensor tensor1, Tensor tensor2) => addcmul(accumulator, tensor1, tensor2, One);

    /// <summary>
    /// <c>x²</c> as <c>x.pow(2)</c> (TorchSharp's <c>square()</c> is the same call with an implicit scalar). Not
    /// <c>x * x</c>: training with it is not bit-identical, and in RMSNorm that moved a seeded CI training run from 99.6% to 80.5%.
    /// </summary>
    public static Tensor Square(Tensor x) => x.pow(Two);

    // TorchSharp's softplus(beta, threshold) turns both doubles into temporary scalars (the same race); the module's
    // constructor takes them as plain doubles, and its forward is the same libtorch softplus (beta 1, threshold 20).
    private static readonly TorchSharp.Modules.Softplus SoftplusModule = nn.Softplus();

    /// <summary><c>nn.functional.softplus(x)</c>: log(1 + eˣ), linear above 20 as in torch and mamba_ssm.</summary>
    public static Tensor Softplus(Tensor x) => SoftplusModule.forward(x);

    /// <summary><c>a.clamp_min(min)</c>.</summary>
    public static Tensor ClampMin(Tensor a, double min)
    {
        using var scalar = min.ToScalar();
        return a.clamp_min(scalar);
    }
}

using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>
/// Argument checks shared by every kernel implementation, with messages that name the tensor: shapes here, dtype,
/// device and emptiness in <see cref="KernelArguments"/>. Empty tensors (any zero-size axis, batch and length
/// included) are an <see cref="ArgumentException"/> in every implementation, never a silent empty result.
/// </summary>
internal static class ScanShapes
{
    // size(i) and dim() throughout: shape is a native round trip that allocates an array (~2.5 µs), and this runs
    // on every scan call; Shape(t) is only built for the error message.
    public static void Check(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z,
        Tensor? deltaBias, Tensor? initialState)
    {
        if (u.dim() != 3) throw new ArgumentException($"u must be (batch, dim, length), got {Shape(u)}", nameof(u));
        KernelArguments.Check(u, nameof(u), u, nameof(u));
        long batch = u.size(0), dim = u.size(1), length = u.size(2);
        Same(delta, nameof(delta), batch, dim, length);
        if (z is not null) Same(z, nameof(z), batch, dim, length);
        if (A.dim() != 2 || A.size(0) != dim)
            throw new ArgumentException($"A must be ({dim}, state), got {Shape(A)}", nameof(A));
        long state = A.size(1);
        CheckStateInput(B, nameof(B), batch, dim, state, length);
        CheckStateInput(C, nameof(C), batch, dim, state, length);
        if (D is not null && (D.dim() != 1 || D.size(0) != dim))
            throw new ArgumentException($"D must be ({dim}), got {Shape(D)}", nameof(D));
        if (deltaBias is not null && (deltaBias.dim() != 1 || deltaBias.size(0) != dim))
            throw new ArgumentException($"deltaBias must be ({dim}), got {Shape(deltaBias)}", nameof(deltaBias));
        if (initialState is not null && !Is(initialState, batch, dim, state))
            throw new ArgumentException($"initialState must be ({batch}, {dim}, {state}), got {Shape(initialState)}", nameof(initialState));
        KernelArguments.Check(u, nameof(u), delta, nameof(delta));
        KernelArguments.Check(u, nameof(u), A, nameof(A));
        KernelArguments.Check(u, nameof(u), B, nameof(B));
        KernelArguments.Check(u, nameof(u), C, nameof(C));
        KernelArguments.Check(u, nameof(u), D, nameof(D));
        KernelArguments.Check(u, nameof(u), z, nameof(z));
        KernelArguments.Check(u, nameof(u), deltaBias, nameof(deltaBias));
        KernelArguments.Check(u, nameof(u), initialState, nameof(initialState));
    }

    /// <summary>Causal conv1d: x (batch, dim, length), weight (dim, width), bias (dim) or null.</summary>
    public static void CheckConv(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.dim() != 3) throw new ArgumentException($"x must be (batch, dim, length), got {Shape(x)}", nameof(x));
        KernelArguments.Check(x, nameof(x), x, nameof(x));
        long dim = x.size(1);
        if (weight.dim() != 2 || weight.size(0) != dim)
            throw new ArgumentException($"weight must be ({dim}, width) for x {Shape(x)}, got {Shape(weight)}", nameof(weight));
        if (bias is not null && (bias.dim() != 1 || bias.size(0) != dim))
            throw new ArgumentException($"bias must be ({dim}) for x {Shape(x)}, got {Shape(bias)}", nameof(bias));
        KernelArguments.Check(x, nameof(x), weight, nameof(weight));
        KernelArguments.Check(x, nameof(x), bias, nameof(bias));
    }

    // B or C: (batch, state, length), or (batch, groups, state, length) with dim divisible by groups.
    private static void CheckStateInput(Tensor m, string name, long batch, long dim, long state, long length)
    {
        bool ok = m.dim() == 3 ? Is(m, batch, state, length)
            : m.dim() == 4 && m.size(0) == batch && m.size(2) == state && m.size(3) == length
              && m.size(1) > 0 && dim % m.size(1) == 0;
        if (!ok)
            throw new ArgumentException(
                $"{name} must be ({batch}, {state}, {length}) or ({batch}, groups, {state}, {length}) with {dim} divisible by groups, got {Shape(m)}", name);
    }

    private static void Same(Tensor t, string name, long batch, long dim, long length)
    {
        if (!Is(t, batch, dim, length))
            throw new ArgumentException($"{name} must be ({batch}, {dim}, {length}) like u, got {Shape(t)}", name);
    }

    private static bool Is(Tensor t, long s0, long s1, long s2) => t.dim() == 3 && t.size(0) == s0 && t.size(1) == s1 && t.size(2) == s2;

    public static string Shape(Tensor t) => "(" + string.Join(", ", t.shape) + ")";
}

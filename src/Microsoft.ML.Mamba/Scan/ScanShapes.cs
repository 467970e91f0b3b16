using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Scan;

/// <summary>Argument checks shared by every kernel implementation, with messages that name the tensor.</summary>
internal static class ScanShapes
{
    public static void Check(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z,
        Tensor? deltaBias, Tensor? initialState)
    {
        if (u.dim() != 3) throw new ArgumentException($"u must be (batch, dim, length), got {Shape(u)}", nameof(u));
        long batch = u.shape[0], dim = u.shape[1], length = u.shape[2];
        Same(delta, nameof(delta), batch, dim, length);
        if (z is not null) Same(z, nameof(z), batch, dim, length);
        if (A.dim() != 2 || A.shape[0] != dim)
            throw new ArgumentException($"A must be ({dim}, state), got {Shape(A)}", nameof(A));
        long state = A.shape[1];
        foreach (var (m, name) in new[] { (B, nameof(B)), (C, nameof(C)) })
        {
            bool ok = m.dim() == 3 ? m.shape[0] == batch && m.shape[1] == state && m.shape[2] == length
                : m.dim() == 4 && m.shape[0] == batch && m.shape[2] == state && m.shape[3] == length
                  && m.shape[1] > 0 && dim % m.shape[1] == 0;
            if (!ok)
                throw new ArgumentException(
                    $"{name} must be ({batch}, {state}, {length}) or ({batch}, groups, {state}, {length}) with {dim} divisible by groups, got {Shape(m)}", name);
        }
        if (D is not null && (D.dim() != 1 || D.shape[0] != dim))
            throw new ArgumentException($"D must be ({dim}), got {Shape(D)}", nameof(D));
        if (deltaBias is not null && (deltaBias.dim() != 1 || deltaBias.shape[0] != dim))
            throw new ArgumentException($"deltaBias must be ({dim}), got {Shape(deltaBias)}", nameof(deltaBias));
        if (initialState is not null && !initialState.shape.SequenceEqual(new[] { batch, dim, state }))
            throw new ArgumentException($"initialState must be ({batch}, {dim}, {state}), got {Shape(initialState)}", nameof(initialState));
    }

    private static void Same(Tensor t, string name, long batch, long dim, long length)
    {
        if (!t.shape.SequenceEqual(new[] { batch, dim, length }))
            throw new ArgumentException($"{name} must be ({batch}, {dim}, {length}) like u, got {Shape(t)}", name);
    }

    public static string Shape(Tensor t) => "(" + string.Join(", ", t.shape) + ")";
}

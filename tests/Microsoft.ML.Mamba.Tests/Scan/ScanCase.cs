using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Scan;

/// <summary>Random inputs for one selective-scan test case, with the options a caller may leave out.</summary>
internal sealed class ScanCase
{
    public Tensor U = null!, Delta = null!, A = null!, B = null!, C = null!;
    public Tensor? D, Z, DeltaBias, Initial;
    public bool Softplus;

    public static ScanCase Make(int batch, int dim, int length, int state, int groups = 0, bool z = true,
        bool dSkip = true, bool deltaBias = true, bool initial = false, bool softplus = true,
        ScalarType dtype = ScalarType.Float64, Device? device = null, int seed = 0)
    {
        var g = new Generator((ulong)(seed + 1000 * length + 17 * dim + state));
        Tensor R(params long[] shape) => randn(shape, dtype: ScalarType.Float64, generator: g);
        // (B, N, L) when groups is 0, else (B, G, N, L).
        long[] bcShape = groups == 0 ? new long[] { batch, state, length } : new long[] { batch, groups, state, length };
        var c = new ScanCase
        {
            U = R(batch, dim, length),
            // Δ around softplus⁻¹(0.05) so decays are realistic; without softplus keep it positive.
            Delta = softplus ? R(batch, dim, length) * 0.5 - 2 : rand(new long[] { batch, dim, length }, dtype: ScalarType.Float64, generator: g) * 0.2 + 0.01,
            A = -(R(dim, state) * 0.5).exp(),
            B = R(bcShape),
            C = R(bcShape),
            D = dSkip ? R(dim) : null,
            Z = z ? R(batch, dim, length) : null,
            DeltaBias = deltaBias ? R(dim) * 0.3 : null,
            Initial = initial ? R(batch, dim, state) : null,
            Softplus = softplus,
        };
        return c.To(dtype, device ?? CPU);
    }

    public ScanCase To(ScalarType dtype, Device device)
    {
        Tensor M(Tensor t, bool keepFloat32) => t.to(keepFloat32 && dtype != ScalarType.Float64 ? ScalarType.Float32 : dtype, device);
        return new ScanCase
        {
            U = M(U, false), Delta = M(Delta, false), A = M(A, true), B = M(B, false), C = M(C, false),
            D = D is null ? null : M(D, true), Z = Z is null ? null : M(Z, false),
            DeltaBias = DeltaBias is null ? null : M(DeltaBias, true), Initial = Initial is null ? null : M(Initial, true),
            Softplus = Softplus,
        };
    }

    public Tensor[] Differentiable()
    {
        var list = new List<Tensor> { U, Delta, A, B, C };
        if (D is not null) list.Add(D);
        if (Z is not null) list.Add(Z);
        if (DeltaBias is not null) list.Add(DeltaBias);
        if (Initial is not null) list.Add(Initial);
        return list.ToArray();
    }
}

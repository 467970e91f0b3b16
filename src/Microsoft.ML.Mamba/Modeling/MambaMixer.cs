using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The selective SSM layer (Gu &amp; Dao 2023, Fig. 3): in_proj → causal depthwise conv → SiLU → x_proj
/// (Δ, B, C from the input: the "selection") → selective scan with D skip and SiLU(z) gate → out_proj.
/// Field names match Hugging Face's parameter names.
/// </summary>
public sealed class MambaMixer : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly int _inner, _state, _dtRank;

    public Linear in_proj;
    public Conv1d conv1d;
    public Linear x_proj;
    public Linear dt_proj;
    public Linear out_proj;
    public Parameter A_log;
    public Parameter D;

    /// <summary>The kernels the scan and conv run on; defaults to <see cref="MambaKernels.Default"/>.</summary>
    public IMambaKernels? Kernels { get; set; }

    public MambaMixer(MambaConfig config, Device? device = null) : base(nameof(MambaMixer))
    {
        _inner = config.InnerSize;
        _state = config.StateSize;
        _dtRank = config.DtRank;
        int hidden = config.HiddenSize;
        in_proj = nn.Linear(hidden, 2L * _inner, hasBias: config.UseBias, device: device);
        conv1d = nn.Conv1d(_inner, _inner, config.ConvKernel, padding: config.ConvKernel - 1, groups: _inner,
            bias: config.UseConvBias, device: device);
        x_proj = nn.Linear(_inner, _dtRank + 2L * _state, hasBias: false, device: device);
        dt_proj = nn.Linear(_dtRank, _inner, hasBias: true, device: device);
        out_proj = nn.Linear(_inner, hidden, hasBias: config.UseBias, device: device);
        // S4D-real initialisation: A = -(1..N) for every channel, stored as log so A stays negative.
        A_log = new Parameter(arange(1, _state + 1, dtype: ScalarType.Float32, device: device)
            .log().unsqueeze(0).repeat(_inner, 1));
        D = new Parameter(ones(_inner, dtype: ScalarType.Float32, device: device));
        InitialiseTimeStep(config);
        RegisterComponents();
    }

    // Δ's projection: weights uniform in ±rank^-1/2·scale; bias = softplus⁻¹ of a log-uniform
    // Δ in [dt_min, dt_max] (floored), so Δ starts spread over the range the paper recommends.
    private void InitialiseTimeStep(MambaConfig config)
    {
        using var _ = no_grad();
        double std = Math.Pow(_dtRank, -0.5) * config.TimeStepScale;
        if (config.TimeStepInitScheme == "constant") dt_proj.weight!.fill_(std);
        else nn.init.uniform_(dt_proj.weight!, -std, std);
        var dt = (rand(_inner) * (Math.Log(config.TimeStepMax) - Math.Log(config.TimeStepMin))
                  + Math.Log(config.TimeStepMin)).exp().clamp_min(config.TimeStepFloor);
        var inverseSoftplus = dt + (-(-dt).expm1()).log();
        dt_proj.bias!.copy_(inverseSoftplus);
    }

    /// <param name="hidden">(batch, length, hidden_size).</param>
    /// <param name="attentionMask">(batch, length), 1 for tokens and 0 for padding, or null.</param>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var kernels = Kernels ?? MambaKernels.Default;
        var xz = in_proj.forward(hidden);                              // (B, L, 2E)
        var x = xz.narrow(-1, 0, _inner).transpose(1, 2);              // (B, E, L), a view
        var z = xz.narrow(-1, _inner, _inner).transpose(1, 2);
        // Padding must not leak into real tokens through the conv, nor its bias into the state.
        Tensor? mask = attentionMask?.unsqueeze(1).to_type(x.dtype);
        if (mask is not null) x = x * mask;
        x = kernels.CausalConv1d(x, conv1d.weight!.squeeze(1), conv1d.bias, silu: true);
        if (mask is not null) x = x * mask;

        var projected = x_proj.forward(x.transpose(1, 2));             // (B, L, R + 2N)
        var dtLow = projected.narrow(-1, 0, _dtRank);
        var B = projected.narrow(-1, _dtRank, _state).transpose(1, 2);           // (B, N, L)
        var C = projected.narrow(-1, _dtRank + _state, _state).transpose(1, 2);  // (B, N, L)
        // Δ's bias is left to the scan, which fuses it with softplus.
        var delta = nn.functional.linear(dtLow, dt_proj.weight!).transpose(1, 2); // (B, E, L)
        var A = -A_log.to_type(ScalarType.Float32).exp();
        var (y, _) = kernels.SelectiveScan(x, delta, A, B, C, D.to_type(ScalarType.Float32), z,
            dt_proj.bias!.to_type(ScalarType.Float32), deltaSoftplus: true);
        return out_proj.forward(y.transpose(1, 2)).MoveToOuterDisposeScope();
    }
}

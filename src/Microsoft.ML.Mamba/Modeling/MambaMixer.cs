using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Quantization;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The selective SSM layer (Gu &amp; Dao 2023, Fig. 3): in_proj → causal depthwise conv → SiLU → x_proj
/// (Δ, B, C from the input: the "selection") → selective scan with D skip and SiLU(z) gate → out_proj.
/// Field names match Hugging Face's parameter names. Two ablations of the paper's Table 1 are switches
/// of <see cref="MambaConfig"/>: a time-invariant SSM and no gate. It is the Mamba-1 family's <see cref="IMixer"/>:
/// its decoding state is a <see cref="MambaLayerState"/> and its kernels an <see cref="IMambaKernels"/>.
/// </summary>
public sealed class MambaMixer : nn.Module<Tensor, Tensor?, Tensor>, IMixer
{
    private readonly int _inner, _state, _dtRank, _convKernel;
    private readonly bool _selective, _gated, _rescalePrenormResidual;

    /// <summary>Projects hidden_size to the inner stream x and, when gated, the gate z.</summary>
    public Linear in_proj;
    /// <summary>The causal depthwise convolution over time.</summary>
    public Conv1d conv1d;
    /// <summary>Projects x to Δ (low rank), B and C; null in the time-invariant ablation.</summary>
    public Linear? x_proj;
    /// <summary>Projects the low-rank Δ to one Δ per inner channel; its bias sets Δ's initial range.</summary>
    public Linear dt_proj;
    /// <summary>Projects the inner stream back to hidden_size.</summary>
    public Linear out_proj;
    /// <summary>log(−A), (inner, state): A stays negative, so the state decays.</summary>
    public Parameter A_log;
    /// <summary>The skip connection's per-channel weight, (inner).</summary>
    public Parameter D;
    /// <summary>Time-invariant ablation only: input-independent B and C, (inner, state).</summary>
    public Parameter? B_lti, C_lti;

    /// <summary>The kernels the scan and conv run on; defaults to <see cref="MambaKernels.Default"/>.</summary>
    public IMambaKernels? Kernels { get; set; }

    /// <summary>Packed projections for CPU decoding (<see cref="MambaForCausalLM.PrepareDecodeWeights"/>), or null.</summary>
    internal PackedMixerStep? PackedStep { get; set; }

    ISharedKernels? IMixer.Kernels
    {
        get => Kernels;
        set => Kernels = value is null or IMambaKernels ? (IMambaKernels?)value : throw new ArgumentException(
            $"the Mamba mixer needs kernels that implement {nameof(IMambaKernels)} (selective scan and decode step); " +
            $"{value.GetType().Name} ('{value.Name}') does not", nameof(value));
    }

    /// <summary>A mixer with freshly initialised weights (S4D-real A, Δ log-uniform in the config's range).</summary>
    /// <param name="config">The sizes and initialisation settings.</param>
    /// <param name="device">Where the weights go.</param>
    public MambaMixer(MambaConfig config, Device? device = null) : base(nameof(MambaMixer))
    {
        _inner = config.InnerSize;
        _state = config.StateSize;
        _dtRank = config.DtRank;
        _convKernel = config.ConvKernel;
        _selective = !config.TimeInvariantSsm;
        _gated = !config.Ungated;
        _rescalePrenormResidual = config.RescalePrenormResidual;
        int hidden = config.HiddenSize;
        in_proj = nn.Linear(hidden, (_gated ? 2L : 1L) * _inner, hasBias: config.UseBias, device: device);
        conv1d = nn.Conv1d(_inner, _inner, config.ConvKernel, padding: config.ConvKernel - 1, groups: _inner,
            bias: config.UseConvBias, device: device);
        if (_selective)
            x_proj = nn.Linear(_inner, _dtRank + 2L * _state, hasBias: false, device: device);
        else
        {
            B_lti = new Parameter(randn(_inner, _state, device: device) / Math.Sqrt(_state));
            C_lti = new Parameter(randn(_inner, _state, device: device) / Math.Sqrt(_state));
        }
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

    /// <summary>
    /// mamba_ssm's _init_weights for this mixer: in_proj's and out_proj's biases zero (Δ's keeps its own
    /// initialisation), and out_proj scaled by 1/sqrt(<paramref name="numLayers"/>) when the config says
    /// rescale_prenorm_residual, so the residual stream's variance does not grow with depth.
    /// </summary>
    public void InitialiseWeights(int numLayers) => MixerProjections.Initialise(in_proj, out_proj, _rescalePrenormResidual, numLayers);

    /// <param name="hidden">(batch, length, hidden_size).</param>
    /// <param name="attentionMask">(batch, length), 1 for tokens and 0 for padding, or null.</param>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask) => Run(hidden, attentionMask, null);

    /// <summary>Runs a whole prompt and leaves in <paramref name="state"/> what decoding continues from.</summary>
    public Tensor Prefill(Tensor hidden, Tensor? attentionMask, MambaLayerState state) => Run(hidden, attentionMask, state);

    /// <summary>
    /// Runs the next chunk of sequences whose earlier part left <paramref name="state"/> (a prefill, step or
    /// continuation), as if the two were one sequence, and leaves the new state there. Gradients reach the weights but
    /// not the earlier state (it is a constant here), as in truncated backpropagation through time.
    /// </summary>
    public Tensor Continue(Tensor hidden, MambaLayerState state) => Run(hidden, null, state ?? throw new ArgumentNullException(nameof(state)), continueFromState: true);

    /// <summary>Fresh (zero) decoding state for <paramref name="batch"/> sequences.</summary>
    /// <remarks>The state owns its tensors (outside any dispose scope); dispose it when done.</remarks>
    public MambaLayerState NewState(long batch, Device device) => new(
        zeros(batch, _inner, _convKernel, dtype: in_proj.weight!.dtype, device: device).DetachFromDisposeScope(),
        zeros(batch, _inner, _state, dtype: ScalarType.Float32, device: device).DetachFromDisposeScope());

    Tensor IMixer.Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state) => Prefill(hidden, attentionMask, Own(state));

    Tensor IMixer.Continue(Tensor hidden, IMixerState state) => Continue(hidden, Own(state));

    Tensor IMixer.Step(Tensor hidden, IMixerState state, Tensor? residual) => Step(hidden, Own(state), residual);

    IMixerState IMixer.NewState(long batch, Device device) => NewState(batch, device);

    // A type test, no allocation: the step runs once per layer per token.
    private static MambaLayerState Own(IMixerState state) => state as MambaLayerState ?? throw new ArgumentException(
        state is null ? "the decoding state is null" :
        $"the Mamba mixer takes a {nameof(MambaLayerState)}, got a {state.GetType().Name} (a state made by another mixer?)", nameof(state));

    private Tensor Run(Tensor hidden, Tensor? attentionMask, MambaLayerState? state, bool continueFromState = false)
    {
        using var scope = NewDisposeScope();
        var kernels = Kernels ?? MambaKernels.Default;
        long batch = hidden.size(0), length = hidden.size(1);
        var xz = in_proj.forward(hidden);                              // (B, L, 2E) or (B, L, E)
        // chunk, not two narrows: its backward writes both gradient halves into one tensor (a concatenation),
        // where each narrow's backward would zero-fill a full (B, L, 2E) tensor and add the two.
        var halves = _gated ? xz.chunk(2, -1) : new[] { xz };
        var x = halves[0].transpose(1, 2);                             // (B, E, L), a view
        Tensor? z = _gated ? halves[1].transpose(1, 2) : null;
        // Padding must not leak into real tokens through the conv, nor the conv's bias into the state.
        Tensor? mask = attentionMask?.unsqueeze(1).to_type(x.dtype);
        if (mask is not null) x = x * mask;
        if (continueFromState)
        {
            // The conv sees the previous chunk's last inputs instead of zeros: prepend them and drop their outputs.
            var earlier = state!.ConvState.narrow(2, 1, _convKernel - 1).to_type(x.dtype);
            var joined = cat(new[] { earlier, x }, 2);
            SaveConvWindow(joined, state);
            x = kernels.CausalConv1d(joined, conv1d.weight!.squeeze(1), conv1d.bias, silu: true).narrow(2, _convKernel - 1, length);
        }
        else
        {
            if (state is not null) SaveConvWindow(x, state);
            x = kernels.CausalConv1d(x, conv1d.weight!.squeeze(1), conv1d.bias, silu: true);
        }
        if (mask is not null) x = x * mask;

        var A = -A_log.to_type(ScalarType.Float32).exp();
        if (!_selective && state is null)  // a prefill needs the final state: that one goes through the scan below
        {
            var lti = TimeInvariantConvolution.Forward(x, dt_proj.bias!, A, B_lti!, C_lti!, D, z);
            return out_proj.forward(lti.transpose(1, 2)).MoveToOuterDisposeScope();
        }
        var (delta, B, C) = SelectionInputs(x, batch, length);
        var (y, final) = kernels.SelectiveScan(x, delta, A, B, C, D.to_type(ScalarType.Float32), z,
            dt_proj.bias!.to_type(ScalarType.Float32), deltaSoftplus: true,
            initialState: continueFromState ? state!.SsmState : null, returnFinalState: state is not null);
        if (state is not null)
        {
            state.SsmState.Dispose();
            state.SsmState = final!.to_type(ScalarType.Float32).detach().DetachFromDisposeScope();
        }
        return out_proj.forward(y.transpose(1, 2)).MoveToOuterDisposeScope();
    }

    // Δ (before its bias), B and C for the scan: projections of x when selective, constants otherwise.
    private (Tensor Delta, Tensor B, Tensor C) SelectionInputs(Tensor x, long batch, long length)
    {
        if (!_selective)
        {
            // Groups = channels, broadcast over batch and time without copying.
            var bConst = B_lti!.to_type(x.dtype).view(1, _inner, _state, 1).expand(batch, _inner, _state, length);
            var cConst = C_lti!.to_type(x.dtype).view(1, _inner, _state, 1).expand(batch, _inner, _state, length);
            return (zeros(1, 1, 1, dtype: x.dtype, device: x.device).expand(batch, _inner, length), bConst, cConst);
        }
        var projected = x_proj!.forward(x.transpose(1, 2));            // (B, L, R + 2N)
        var parts = projected.split(new long[] { _dtRank, _state, _state }, -1);  // one concatenating backward
        var dtLow = parts[0];
        var B = parts[1].transpose(1, 2);                              // (B, N, L)
        var C = parts[2].transpose(1, 2);                              // (B, N, L)
        // Δ's bias is left to the scan, which fuses it with softplus.
        var delta = nn.functional.linear(dtLow, dt_proj.weight!).transpose(1, 2); // (B, E, L)
        return (delta, B, C);
    }

    // The conv's input window for decoding: the last conv_kernel inputs, zeros before the start.
    private void SaveConvWindow(Tensor x, MambaLayerState state)
    {
        long length = x.size(2);
        var window = length >= _convKernel
            ? x.narrow(2, length - _convKernel, _convKernel)
            : nn.functional.pad(x, new long[] { _convKernel - length, 0 });
        state.ConvState.Dispose();
        state.ConvState = window.detach().contiguous().DetachFromDisposeScope();
    }

    // The decode step's weights: per-channel parameters as contiguous fp32 (what the native step takes; copies only
    // for a model in another dtype, owned by the caller's list), the projections as they are.
    private DecodeStepWeights StepWeights(List<Tensor> owned)
    {
        Tensor? Fp32(Tensor? p)
        {
            if (p is null) return null;
            if (p.dtype == ScalarType.Float32 && p.is_contiguous()) return p;
            using var _ = no_grad();
            var copy = p.detach().to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
            owned.Add(copy);
            return copy;
        }
        return new DecodeStepWeights(Fp32(conv1d.weight)!, Fp32(conv1d.bias), x_proj?.weight, dt_proj.weight!, Fp32(dt_proj.bias),
            Fp32(A_log)!, Fp32(D), B_lti, C_lti);
    }

    /// <summary>
    /// One decoding step: the recurrent form of <see cref="forward"/>, O(1) in the sequence length. Everything
    /// between in_proj and out_proj is one fused kernel call (<see cref="IMambaKernels.DecodeStep"/>).
    /// </summary>
    /// <param name="hidden">(batch, hidden_size) for the newest token.</param>
    /// <param name="state">Updated in place.</param>
    /// <param name="residual">(batch, hidden_size) to add to the output, or null.</param>
    /// <returns>(batch, hidden_size): out_proj of the step, plus <paramref name="residual"/> when given.</returns>
    public Tensor Step(Tensor hidden, MambaLayerState state, Tensor? residual = null)
    {
        if (PackedStep is { } packed && packed.Accepts(hidden, state)) return packed.Step(hidden, state, residual);
        using var scope = NewDisposeScope();
        var kernels = Kernels ?? MambaKernels.Default;
        var xz = in_proj.forward(hidden);                              // (B, 2E) or (B, E)
        var x = xz.narrow(-1, 0, _inner);
        Tensor? z = _gated ? xz.narrow(-1, _inner, _inner) : null;
        var weights = state.StepWeightsOr(StepWeights);
        var y = kernels.DecodeStep(x, z, state.ConvState, state.SsmState, weights).to_type(hidden.dtype);
        // residual + y·Wᵀ as one addmm launch when the dtypes allow it (no bias: Mamba's default).
        if (residual is not null && out_proj.bias is null && residual.dtype == y.dtype && out_proj.weight!.dtype == y.dtype)
            return addmm(residual, y, out_proj.weight.t(), 1, 1).MoveToOuterDisposeScope();   // beta, alpha: floats, no Scalar
        var mixed = out_proj.forward(y);
        return (residual is null ? mixed : TorchScalars.Add(residual, mixed)).MoveToOuterDisposeScope();
    }
}

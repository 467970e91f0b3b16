using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Quantization;
using Microsoft.ML.Mamba.Scan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

/// <summary>
/// The Mamba-2 mixer (Dao &amp; Gu 2024, Fig. 6): in_proj to z | x·B·C | Δ in one projection → causal depthwise conv
/// and SiLU over x·B·C → the state space dual scan (H heads of P channels, one scalar decay A per head, G groups of B
/// and C, a D skip per head) → gated RMSNorm norm(y·SiLU(z)) → out_proj. Field names are Hugging Face's and
/// mamba_ssm's (<c>in_proj</c>, <c>conv1d</c>, <c>dt_bias</c>, <c>A_log</c>, <c>D</c>, <c>norm</c>, <c>out_proj</c>).
/// It is the Mamba-2 family's <see cref="IMixer"/>: its decoding state is a <see cref="Mamba2LayerState"/> and its
/// kernels an <see cref="IMamba2Kernels"/>.
/// </summary>
/// <remarks>
/// Attention masks zero padded positions as transformers does: the mixer's input before in_proj and the conv's
/// output, so padding neither drives the state nor reaches real tokens through the conv.
/// </remarks>
public sealed class Mamba2Mixer : nn.Module<Tensor, Tensor?, Tensor>, IMixer
{
    private readonly long _inner, _heads, _headDim, _groups, _state, _convKernel, _convDim;
    private readonly int _chunkSize;
    private readonly double _dtMin, _dtMax;
    private readonly bool _rescalePrenormResidual;

    /// <summary>Projects hidden_size to z (inner), x·B·C (inner + 2·G·N) and Δ (H), in that order.</summary>
    public Linear in_proj;
    /// <summary>The causal depthwise convolution over x·B·C.</summary>
    public Conv1d conv1d;
    /// <summary>Δ's bias per head, added before softplus; it sets Δ's initial range.</summary>
    public Parameter dt_bias;
    /// <summary>log(−A) per head: A stays negative, so the state decays.</summary>
    public Parameter A_log;
    /// <summary>The skip connection's weight per head.</summary>
    public Parameter D;
    /// <summary>The gated RMSNorm before out_proj.</summary>
    public GatedRmsNorm norm;
    /// <summary>Projects the inner stream back to hidden_size.</summary>
    public Linear out_proj;

    /// <summary>The kernels the conv, the scan and the gated norm run on; null means <see cref="MambaKernels.Default"/>
    /// when it has Mamba-2's operations, else <see cref="MambaKernels.Reference"/>.</summary>
    public IMamba2Kernels? Kernels
    {
        get => _kernels;
        set { _kernels = value; norm.Kernels = value; }
    }
    private IMamba2Kernels? _kernels;

    ISharedKernels? IMixer.Kernels
    {
        get => Kernels;
        set => Kernels = value is null or IMamba2Kernels ? (IMamba2Kernels?)value : throw new ArgumentException(
            $"the Mamba-2 mixer needs kernels that implement {nameof(IMamba2Kernels)} (state space dual scan and step); " +
            $"{value.GetType().Name} ('{value.Name}') does not", nameof(value));
    }

    private IMamba2Kernels ChosenKernels => Kernels ?? MambaKernels.Mamba2Default;

    /// <summary>A mixer with freshly initialised weights (mamba_ssm's: A uniform in [1, 16], Δ log-uniform in the config's range).</summary>
    /// <param name="config">A Mamba-2 config (<see cref="MambaConfig.Architecture"/>).</param>
    /// <param name="device">Where the weights go.</param>
    public Mamba2Mixer(MambaConfig config, Device? device = null) : base(nameof(Mamba2Mixer))
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Architecture != MambaArchitecture.Mamba2)
            throw new ArgumentException($"a Mamba-2 mixer needs a mamba2 config, got model_type '{config.ModelType}'", nameof(config));
        config.Validate();
        _inner = config.InnerSize;
        _heads = config.Heads;
        _headDim = config.HeadDim;
        _groups = config.NGroups;
        _state = config.StateSize;
        _convKernel = config.ConvKernel;
        _convDim = _inner + 2 * _groups * _state;
        _chunkSize = config.ChunkSize;
        (_dtMin, _dtMax) = (config.TimeStepLimit[0], config.TimeStepLimit[1]);
        _rescalePrenormResidual = config.RescalePrenormResidual;
        long hidden = config.HiddenSize;
        in_proj = nn.Linear(hidden, _inner + _convDim + _heads, hasBias: config.UseBias, device: device);
        conv1d = nn.Conv1d(_convDim, _convDim, _convKernel, padding: _convKernel - 1, groups: _convDim,
            bias: config.UseConvBias, device: device);
        // Δ's bias: softplus⁻¹ of a Δ log-uniform in [dt_min, dt_max], floored.
        using (no_grad())
        {
            var dt = (rand(_heads, device: device) * (Math.Log(config.TimeStepMax) - Math.Log(config.TimeStepMin))
                      + Math.Log(config.TimeStepMin)).exp().clamp_min(config.TimeStepFloor);
            dt_bias = new Parameter(dt + (-(-dt).expm1()).log());
            // mamba_ssm's A_init_range (1, 16); transformers starts at 1..H, which a checkpoint overwrites anyway.
            A_log = new Parameter((rand(_heads, device: device) * 15 + 1).log());
        }
        D = new Parameter(ones(_heads, dtype: ScalarType.Float32, device: device));
        norm = new GatedRmsNorm(_inner, config.NormPerGroup ? _groups : 1, config.LayerNormEpsilon, device);
        out_proj = nn.Linear(_inner, hidden, hasBias: config.UseBias, device: device);
        RegisterComponents();
    }

    /// <summary>
    /// mamba_ssm's _init_weights for this mixer: in_proj's and out_proj's biases zero, and out_proj scaled by
    /// 1/sqrt(<paramref name="numLayers"/>) when the config says rescale_prenorm_residual.
    /// </summary>
    public void InitialiseWeights(int numLayers) => MixerProjections.Initialise(in_proj, out_proj, _rescalePrenormResidual, numLayers);

    /// <param name="hidden">(batch, length, hidden_size).</param>
    /// <param name="attentionMask">(batch, length), 1 for tokens and 0 for padding, or null.</param>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask) => Run(hidden, attentionMask, null);

    /// <summary>Runs a whole prompt and leaves in <paramref name="state"/> what decoding continues from.</summary>
    public Tensor Prefill(Tensor hidden, Tensor? attentionMask, Mamba2LayerState state) =>
        Run(hidden, attentionMask, state ?? throw new ArgumentNullException(nameof(state)));

    /// <summary>
    /// Runs the next chunk of sequences whose earlier part left <paramref name="state"/>, as if the two were one
    /// sequence, and leaves the new state there. Gradients reach the weights but not the earlier state.
    /// </summary>
    public Tensor Continue(Tensor hidden, Mamba2LayerState state) =>
        Run(hidden, null, state ?? throw new ArgumentNullException(nameof(state)), continueFromState: true);

    /// <summary>Fresh (zero) decoding state for <paramref name="batch"/> sequences.</summary>
    /// <remarks>The state owns its tensors (outside any dispose scope); dispose it when done.</remarks>
    public Mamba2LayerState NewState(long batch, Device device) => new(
        zeros(batch, _convDim, _convKernel, dtype: in_proj.weight!.dtype, device: device).DetachFromDisposeScope(),
        zeros(batch, _heads, _headDim, _state, dtype: ScalarType.Float32, device: device).DetachFromDisposeScope());

    Tensor IMixer.Prefill(Tensor hidden, Tensor? attentionMask, IMixerState state) => Prefill(hidden, attentionMask, Own(state));

    Tensor IMixer.Continue(Tensor hidden, IMixerState state) => Continue(hidden, Own(state));

    Tensor IMixer.Step(Tensor hidden, IMixerState state, Tensor? residual) => Step(hidden, Own(state), residual);

    IMixerState IMixer.NewState(long batch, Device device) => NewState(batch, device);

    private static Mamba2LayerState Own(IMixerState state) => state as Mamba2LayerState ?? throw new ArgumentException(
        state is null ? "the decoding state is null" :
        $"the Mamba-2 mixer takes a {nameof(Mamba2LayerState)}, got a {state.GetType().Name} (a state made by another mixer?)", nameof(state));

    private Tensor Run(Tensor hidden, Tensor? attentionMask, Mamba2LayerState? state, bool continueFromState = false)
    {
        using var scope = NewDisposeScope();
        var kernels = ChosenKernels;
        long batch = hidden.size(0), length = hidden.size(1);
        // Padding is zeroed before in_proj and after the conv, as transformers does, so it neither drives the state
        // nor leaks into real tokens through the conv.
        Tensor? mask = attentionMask?.unsqueeze(-1).to_type(hidden.dtype);
        if (mask is not null) hidden = hidden * mask;
        var projected = in_proj.forward(hidden);                                     // (b, L, inner + K + H)
        var parts = projected.split(new long[] { _inner, _convDim, _heads }, -1);    // one concatenating backward
        var z = parts[0];
        var xBC = parts[1].transpose(1, 2);                                          // (b, K, L), a view
        var dt = parts[2];                                                           // (b, L, H)
        var weight = conv1d.weight!.squeeze(1);
        if (continueFromState)
        {
            // The conv sees the previous chunk's last inputs instead of zeros: prepend them and drop their outputs.
            var earlier = state!.ConvState.narrow(2, 1, _convKernel - 1).to_type(xBC.dtype);
            var joined = cat(new[] { earlier, xBC }, 2);
            SaveConvWindow(joined, state);
            xBC = kernels.CausalConv1d(joined, weight, conv1d.bias, silu: true).narrow(2, _convKernel - 1, length);
        }
        else
        {
            if (state is not null) SaveConvWindow(xBC, state);
            xBC = kernels.CausalConv1d(xBC, weight, conv1d.bias, silu: true);
        }
        xBC = xBC.transpose(1, 2);                                                   // (b, L, K)
        if (mask is not null) xBC = xBC * mask.to_type(xBC.dtype);
        var xbc = xBC.split(new long[] { _inner, _groups * _state, _groups * _state }, -1);
        var x = xbc[0].reshape(batch, length, _heads, _headDim);
        var B = xbc[1].reshape(batch, length, _groups, _state);
        var C = xbc[2].reshape(batch, length, _groups, _state);
        var A = -AtLeastFp32(A_log).exp();
        var (y, final) = kernels.StateSpaceDual(x, dt, A, B, C, AtLeastFp32(D), AtLeastFp32(dt_bias),
            dtSoftplus: true, _dtMin, _dtMax, _chunkSize,
            initialState: continueFromState ? state!.SsmState : null, returnFinalState: state is not null);
        if (state is not null)
        {
            state.SsmState.Dispose();
            state.SsmState = final!.to_type(ScalarType.Float32).detach().contiguous().DetachFromDisposeScope();
        }
        var gated = norm.forward(y.reshape(batch, length, _inner), z);
        return out_proj.forward(gated.to_type(out_proj.weight!.dtype)).MoveToOuterDisposeScope();
    }

    // The per-head parameters in fp32, or fp64 in an fp64 model (where tests take finite differences).
    private static Tensor AtLeastFp32(Tensor p) => p.dtype == ScalarType.Float64 ? p : p.to_type(ScalarType.Float32);

    // The conv's input window for decoding: the last conv_kernel inputs, zeros before the start.
    private void SaveConvWindow(Tensor xBC, Mamba2LayerState state)
    {
        long length = xBC.size(2);
        var window = length >= _convKernel
            ? xBC.narrow(2, length - _convKernel, _convKernel)
            : nn.functional.pad(xBC, new long[] { _convKernel - length, 0 });
        var saved = window.detach().to_type(state.ConvState.dtype).contiguous().DetachFromDisposeScope();
        state.ConvState.Dispose();
        state.ConvState = saved;
    }

    /// <summary>
    /// One decoding step: the recurrent form of <see cref="forward"/>, O(1) in the sequence length. Everything between
    /// in_proj and the gated norm is one kernel call (<see cref="IMamba2Kernels.StateSpaceDualStep"/>).
    /// </summary>
    /// <param name="hidden">(batch, hidden_size) for the newest token.</param>
    /// <param name="state">Updated in place.</param>
    /// <param name="residual">(batch, hidden_size) to add to the output, or null.</param>
    /// <returns>(batch, hidden_size): out_proj of the step, plus <paramref name="residual"/> when given.</returns>
    public Tensor Step(Tensor hidden, Mamba2LayerState state, Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (PackedStep is { } packed && packed.Accepts(hidden, state)) return packed.Step(hidden, state, residual);
        using var scope = NewDisposeScope();
        var gated = StepBetweenProjections(in_proj.forward(hidden), state);
        var mixed = out_proj.forward(gated.to_type(out_proj.weight!.dtype));
        return (residual is null ? mixed : TorchScalars.Add(residual, mixed)).MoveToOuterDisposeScope();
    }

    /// <summary>Packed projections for CPU decoding (<see cref="MambaForCausalLM.PrepareDecodeWeights"/>), or null.</summary>
    internal PackedMamba2Step? PackedStep { get; set; }

    /// <summary>
    /// What one step does between in_proj and out_proj: the conv and SSD step (one kernel call, updating
    /// <paramref name="state"/>) and the gated norm. <paramref name="projected"/> is in_proj's output (b, inner + K + H).
    /// </summary>
    internal Tensor StepBetweenProjections(Tensor projected, Mamba2LayerState state)
    {
        using var scope = NewDisposeScope();
        var z = projected.narrow(-1, 0, _inner);
        var xBC = projected.narrow(-1, _inner, _convDim);
        var dt = projected.narrow(-1, _inner + _convDim, _heads);
        var weights = new Mamba2StepWeights(_heads, _headDim, _groups, _state, conv1d.weight!, conv1d.bias, dt_bias, A_log, D, _dtMin, _dtMax);
        var y = ChosenKernels.StateSpaceDualStep(xBC, dt, state.ConvState, state.SsmState, weights);
        return norm.forward(y, z).MoveToOuterDisposeScope();
    }
}

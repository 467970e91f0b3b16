using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Tests.Cuda;
using Microsoft.ML.Mamba.Tests.Modeling;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Tests.Interop;

/// <summary>
/// The Mamba-2 half of the native decoder without a GPU: mamba2_decoder_create_cuda's argument checks (they run in
/// every build, before any pointer is read), the struct mirrors' layout, and the plan CudaDecoder reads from a model.
/// </summary>
public class Mamba2DecoderArgumentTests
{
    // Valid sizes (6 heads of 13, 3 groups, state 20) and non-null host addresses that are never dereferenced.
    private static readonly DecoderCreateCall<NativeMamba2DecoderDesc, NativeMamba2DecoderLayer> Call = new(Valid, NativeMethods.CreateMamba2Decoder);

    private static (NativeMamba2DecoderDesc Desc, NativeMamba2DecoderLayer[] Layers) Valid(IntPtr fake)
    {
        var layer = new NativeMamba2DecoderLayer
        {
            norm_weight = fake, in_proj_weight = fake, conv_weight = fake, A_log = fake, gate_norm_weight = fake,
            out_proj_weight = fake, conv_state = fake, ssm_state = fake,
        };
        var desc = new NativeMamba2DecoderDesc
        {
            batch = 2, layers = 2, hidden = 44, heads = 6, head_dim = 13, groups = 3, state = 20, width = 4, vocab = 101,
            sample_vocab = 101, norm_groups = 3, dtype = (int)NativeDType.F32, residual_in_fp32 = 1, use_graph = 1,
            norm_eps = 1e-5f, gate_norm_eps = 1e-5f, dt_min = 0f, dt_max = float.PositiveInfinity,
            embedding = fake, lm_head = fake, norm_f_weight = fake, token_ids = fake, next_ids = fake,
        };
        return (desc, new[] { layer, layer });
    }

    public static TheoryData<string, string> BadDescriptors => new()
    {
        { "batch0", "batch" }, { "headDim257", "head_dim" }, { "groupsNotDividingHeads", "groups" }, { "state0", "state" },
        { "width9", "width" }, { "sampleVocabAboveVocab", "sample_vocab" }, { "normGroups5", "norm_groups" },
        { "dtMinAboveMax", "dt_min" }, { "dtMaxNaN", "dt_max" }, { "gateEpsNegative", "gate_norm_eps" },
        { "reserved", "reserved" }, { "graphFlag2", "use_graph" }, { "nullLmHead", "lm_head" },
        { "layer1NullGateNorm", "layer 1" }, { "layer0NullALog", "layer 0" },
    };

    [Theory]
    [MemberData(nameof(BadDescriptors))]
    public void BadDescriptorsAreRejectedBeforeAnyPointerIsRead(string change, string named) =>
        Call.AssertRejected((ref NativeMamba2DecoderDesc desc, NativeMamba2DecoderLayer[] layers) =>
        {
            switch (change)
            {
                case "batch0": desc.batch = 0; break;
                case "headDim257": desc.head_dim = 257; break;
                case "groupsNotDividingHeads": desc.groups = 4; break;
                case "state0": desc.state = 0; break;
                case "width9": desc.width = 9; break;
                case "sampleVocabAboveVocab": desc.sample_vocab = 102; break;
                case "normGroups5": desc.norm_groups = 5; break;   // 78 channels do not split into 5 groups
                case "dtMinAboveMax": desc.dt_min = 0.5f; desc.dt_max = 0.1f; break;
                case "dtMaxNaN": desc.dt_max = float.NaN; break;
                case "gateEpsNegative": desc.gate_norm_eps = -1e-5f; break;
                case "reserved": desc.reserved = 1; break;
                case "graphFlag2": desc.use_graph = 2; break;
                case "nullLmHead": desc.lm_head = IntPtr.Zero; break;
                case "layer1NullGateNorm": layers[1].gate_norm_weight = IntPtr.Zero; break;
                case "layer0NullALog": layers[0].A_log = IntPtr.Zero; break;
            }
        }, named);

    [Fact]
    public void Fp16IsUnsupportedNullArgumentsAreInvalidAndHostPointersAreRefusedOrTheBuildHasNoCuda()
    {
        Call.AssertHostPointersRefusedOrNotBuilt();
        Call.AssertFp16UnsupportedAndNullArgumentsInvalid((desc, dtype) => desc with { dtype = (int)dtype }, NativeDType.BF16);
    }

    [Fact]
    public void StructMirrorsHaveTheCLayout()
    {
        // mamba2_decoder_desc: 11 int64, 4 int32, 4 floats, 7 pointers (x64: no padding anywhere).
        Assert.Equal(13 * 8, Marshal.SizeOf<NativeMamba2DecoderLayer>());
        Assert.Equal(176, Marshal.SizeOf<NativeMamba2DecoderDesc>());
        Assert.Equal(80, (int)Marshal.OffsetOf<NativeMamba2DecoderDesc>(nameof(NativeMamba2DecoderDesc.norm_groups)));
        Assert.Equal(88, (int)Marshal.OffsetOf<NativeMamba2DecoderDesc>(nameof(NativeMamba2DecoderDesc.dtype)));
        Assert.Equal(104, (int)Marshal.OffsetOf<NativeMamba2DecoderDesc>(nameof(NativeMamba2DecoderDesc.norm_eps)));
        Assert.Equal(120, (int)Marshal.OffsetOf<NativeMamba2DecoderDesc>(nameof(NativeMamba2DecoderDesc.embedding)));
        Assert.Equal(64, (int)Marshal.OffsetOf<NativeMamba2DecoderLayer>(nameof(NativeMamba2DecoderLayer.gate_norm_weight)));
    }

    [Fact]
    public void ThePlanComesFromTheConfigInBothGatedNormForms()
    {
        var config = MambaConfig.Load(Path.Combine(AppContext.BaseDirectory, "fixtures", "hf-tiny-mamba2", "config.json"));
        var plan = CudaDecoder.Mamba2Plan.From(config);
        Assert.Equal(new CudaDecoder.Mamba2Plan(6, 16, 2, 16, 4, 1, 1e-5f, 0f, float.PositiveInfinity), plan);
        Assert.Equal(96 + 64, plan.ConvChannels);
        Assert.Equal(96 + 160 + 6, plan.InProjRows);
        var perGroup = TinyConfigs.TinyMamba2(normPerGroup: true);
        perGroup.TimeStepLimit = [0.001, 0.25];
        Assert.Equal(new CudaDecoder.Mamba2Plan(8, 4, 2, 4, 4, 2, 1e-5f, 0.001f, 0.25f), CudaDecoder.Mamba2Plan.From(perGroup));
    }

    [Fact]
    public void Mamba2ModelsAreForTheDecoderInFp32AndBf16ButNotInFp16OrWithShapesUnlikeTheirConfig()
    {
        var model = TorchGlobalRandom.Seeded(1, () => new MambaForCausalLM(TinyConfigs.TinyMamba2()));
        Assert.Null(CudaDecoder.UnsupportedModel(model));
        Assert.Equal("the model is not on a CUDA device", CudaDecoder.Unsupported(model));
        model.to(ScalarType.BFloat16);
        Assert.Null(CudaDecoder.UnsupportedModel(model));
        model.to(ScalarType.Float16);
        Assert.StartsWith("dtype Float16", CudaDecoder.UnsupportedModel(model));

        var config = TinyConfigs.TinyMamba2();
        var other = TorchGlobalRandom.Seeded(1, () => new MambaForCausalLM(config));
        other.Config.NGroups = 1;   // the mixers were made with 2 groups: B and C would be read at the wrong offsets
        Assert.Equal("a Mamba-2 mixer whose parameter shapes are not its config's", CudaDecoder.UnsupportedModel(other));
    }

    [Theory]
    [InlineData("odd")]
    [InlineData("biases")]
    [InlineData("wide")]
    public void TheCudaTestsModelsAreValidAndTakenByTheDecoder(string name)
    {
        // Checked here so a config mistake shows without a GPU, not in the device's few minutes.
        var model = TorchGlobalRandom.Seeded(1, () => new MambaForCausalLM(CudaMamba2DecoderTests.Config(name)));
        Assert.Null(CudaDecoder.UnsupportedModel(model));
        Assert.True(CudaDecoder.Mamba2Plan.From(model.Config) is { Heads: > 1, Groups: > 1 });
    }
}

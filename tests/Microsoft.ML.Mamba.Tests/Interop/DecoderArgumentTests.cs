using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Interop;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.Interop;

/// <summary>
/// The native decoder's argument checks (mamba_decoder_create_cuda): they run before any pointer is touched and in
/// every build (the CPU-only library checks the descriptor, then reports NOT_BUILT), so they run without a GPU.
/// </summary>
public class DecoderArgumentTests
{
    // A descriptor whose sizes are valid and whose pointers are non-null host addresses (never dereferenced: the
    // CUDA build rejects host memory, the CPU build stops at NOT_BUILT).
    private static readonly DecoderCreateCall<NativeDecoderDesc, NativeDecoderLayer> Call = new(Valid, NativeMethods.CreateDecoder);

    private static (NativeDecoderDesc Desc, NativeDecoderLayer[] Layers) Valid(IntPtr fake)
    {
        var layer = new NativeDecoderLayer
        {
            norm_weight = fake, in_proj_weight = fake, conv_weight = fake, x_proj_weight = fake, dt_proj_weight = fake,
            A_log = fake, out_proj_weight = fake, conv_state = fake, ssm_state = fake,
        };
        var desc = new NativeDecoderDesc
        {
            batch = 2, layers = 2, hidden = 48, inner = 96, state = 16, dt_rank = 3, width = 4, vocab = 101, sample_vocab = 101,
            dtype = (int)NativeDType.F32, gated = 1, residual_in_fp32 = 1, use_graph = 1, norm_eps = 1e-5f,
            embedding = fake, lm_head = fake, norm_f_weight = fake, token_ids = fake, next_ids = fake,
        };
        return (desc, new[] { layer, layer });
    }

    public static TheoryData<string, string> BadDescriptors => new()
    {
        { "batch0", "batch" }, { "state257", "state" }, { "width9", "width" }, { "rankAboveInner", "dt_rank" },
        { "sampleVocabAboveVocab", "sample_vocab" }, { "nullEmbedding", "embedding" }, { "nullTokens", "token_ids" },
        { "layer1NullInProj", "layer 1" }, { "layer0NullState", "layer 0" }, { "graphFlag2", "use_graph" },
        { "negativeEps", "norm_eps" }, { "reserved", "reserved" },
    };

    [Theory]
    [MemberData(nameof(BadDescriptors))]
    public void BadDescriptorsAreRejectedBeforeAnyPointerIsRead(string change, string named) =>
        Call.AssertRejected((ref NativeDecoderDesc desc, NativeDecoderLayer[] layers) =>
        {
            switch (change)
            {
                case "batch0": desc.batch = 0; break;
                case "state257": desc.state = 257; break;
                case "width9": desc.width = 9; break;
                case "rankAboveInner": desc.dt_rank = 97; break;
                case "sampleVocabAboveVocab": desc.sample_vocab = 102; break;
                case "nullEmbedding": desc.embedding = IntPtr.Zero; break;
                case "nullTokens": desc.token_ids = IntPtr.Zero; break;
                case "layer1NullInProj": layers[1].in_proj_weight = IntPtr.Zero; break;
                case "layer0NullState": layers[0].ssm_state = IntPtr.Zero; break;
                case "graphFlag2": desc.use_graph = 2; break;
                case "negativeEps": desc.norm_eps = -1f; break;
                case "reserved": desc.reserved = 7; break;
            }
        }, named);

    [Fact]
    public void Fp16IsUnsupportedAndNullArgumentsAreInvalid()
    {
        Call.AssertFp16UnsupportedAndNullArgumentsInvalid((desc, dtype) => desc with { dtype = (int)dtype }, NativeDType.F32);
        Assert.Equal((int)NativeStatus.Ok, NativeMethods.mamba_decoder_destroy(IntPtr.Zero));
        int step = NativeMethods.StepDecoder(IntPtr.Zero, null);
        Assert.Contains(step, new[] { (int)NativeStatus.InvalidArgument, (int)NativeStatus.NotBuilt });
    }

    [Fact]
    public void HostPointersAreRefusedOrTheBuildHasNoCuda() => Call.AssertHostPointersRefusedOrNotBuilt();

    [Fact]
    public void NativeDecoderSettingsDefaultToOnUpToBatch16AndRejectAZeroBatch()
    {
        var model = new MambaForCausalLM(new MambaConfig { VocabSize = 101, HiddenSize = 48, NumHiddenLayers = 1 });
        var loop = new GenerationLoop(model);
        Assert.True(loop.UseNativeDecoder);
        Assert.Equal(16, loop.NativeDecoderMaxBatch);
        Assert.Throws<ArgumentOutOfRangeException>(() => loop.NativeDecoderMaxBatch = 0);
    }

    [Fact]
    public void CpuModelsAreNotForTheCudaDecoder()
    {
        var model = new MambaForCausalLM(new MambaConfig { VocabSize = 101, HiddenSize = 48, NumHiddenLayers = 2 });
        Assert.Equal("the model is not on a CUDA device", CudaDecoder.Unsupported(model));
        Assert.Throws<NotSupportedException>(() => new CudaDecoder(model, 1, 101, withLogits: false));
    }
}

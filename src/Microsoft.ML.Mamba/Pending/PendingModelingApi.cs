// TEMPORARY (branch mlnet only): a stand-in with the announced Microsoft.ML.Mamba.Modeling API so the ML.NET
// surface can be built and tested before the lead's "Modeling:" commits land on main. It is NOT a Mamba
// (no selective scan). Deleted in the merge of main, where the real classes replace it.
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Modeling;

public sealed class MambaConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 50280;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    [JsonPropertyName("state_size")] public int StateSize { get; set; } = 16;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 32;
    [JsonPropertyName("expand")] public int Expand { get; set; } = 2;
    [JsonPropertyName("conv_kernel")] public int ConvKernel { get; set; } = 4;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get => Expand * HiddenSize; set { } }
    [JsonPropertyName("time_step_rank")] public int TimeStepRank { get; set; } = 48;
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; set; } = 1e-5;
    [JsonPropertyName("use_bias")] public bool UseBias { get; set; }
    [JsonPropertyName("use_conv_bias")] public bool UseConvBias { get; set; } = true;
    [JsonPropertyName("residual_in_fp32")] public bool ResidualInFp32 { get; set; } = true;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; set; } = true;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; set; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; set; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; set; }
    public static MambaConfig FromJson(string json) => JsonSerializer.Deserialize<MambaConfig>(json) ?? throw new InvalidDataException("empty config");
    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
    public static MambaConfig Load(string path) => FromJson(File.ReadAllText(path));
    public void Save(string path) => File.WriteAllText(path, ToJson());
}

public enum SequencePooling { LastToken, Mean }

public sealed class MambaModel : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Embedding embeddings;
    private readonly ModuleList<PendingBlock> layers = new();
    private readonly LayerNorm norm_f;
    public MambaModel(MambaConfig c) : base("MambaModel")
    {
        embeddings = nn.Embedding(c.VocabSize, c.HiddenSize);
        for (int i = 0; i < c.NumHiddenLayers; i++) layers.Add(new PendingBlock(c));
        norm_f = nn.LayerNorm(c.HiddenSize);
        RegisterComponents();
    }
    public override Tensor forward(Tensor ids, Tensor? mask)
    {
        var h = embeddings.forward(ids);
        foreach (var l in layers) h = l.forward(h);
        return norm_f.forward(h);
    }
}

internal sealed class PendingBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly PendingMixer mixer;
    public PendingBlock(MambaConfig c) : base("PendingBlock") { norm = nn.LayerNorm(c.HiddenSize); mixer = new PendingMixer(c); RegisterComponents(); }
    public override Tensor forward(Tensor x) => x + mixer.forward(norm.forward(x));
}

internal sealed class PendingMixer : nn.Module<Tensor, Tensor>
{
    private readonly Linear in_proj, out_proj;
    private readonly Conv1d conv1d;
    private readonly Parameter A_log, D;
    private readonly int inner, kernel;
    public PendingMixer(MambaConfig c) : base("PendingMixer")
    {
        inner = c.IntermediateSize; kernel = c.ConvKernel;
        in_proj = nn.Linear(c.HiddenSize, 2 * inner, hasBias: false);
        conv1d = nn.Conv1d(inner, inner, kernel, groups: inner, padding: kernel - 1);
        out_proj = nn.Linear(inner, c.HiddenSize, hasBias: false);
        A_log = nn.Parameter(torch.zeros(inner, c.StateSize));
        D = nn.Parameter(torch.ones(inner));
        RegisterComponents();
    }
    public override Tensor forward(Tensor h)
    {
        long L = h.shape[1];
        var xz = in_proj.forward(h).chunk(2, -1);
        var x = conv1d.forward(xz[0].transpose(1, 2))[.., .., ..(int)L].transpose(1, 2);
        x = nn.functional.silu(x);
        var pos = torch.arange(1, L + 1, dtype: x.dtype, device: x.device).view(1, L, 1);
        var running = x.cumsum(1) / pos * torch.sigmoid(-A_log.mean(new long[] { -1 }));
        return out_proj.forward((x * D + running) * nn.functional.silu(xz[1]));
    }
}

public sealed class MambaForSequenceClassification : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly MambaModel backbone;
    private readonly Linear score;
    private readonly SequencePooling _pooling;
    public MambaForSequenceClassification(MambaConfig config, int numLabels, SequencePooling pooling = SequencePooling.LastToken) : base("MambaForSequenceClassification")
    {
        Config = config; NumLabels = numLabels; _pooling = pooling;
        backbone = new MambaModel(config);
        score = nn.Linear(config.HiddenSize, numLabels);
        RegisterComponents();
    }
    public MambaModel Backbone => backbone;
    public MambaConfig Config { get; }
    public int NumLabels { get; }
    public override Tensor forward(Tensor ids, Tensor? mask)
    {
        var h = backbone.forward(ids, mask);
        mask ??= torch.ones_like(ids);
        Tensor pooled;
        if (_pooling == SequencePooling.Mean)
        {
            var m = mask.unsqueeze(-1).to(h.dtype);
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1);
        }
        else
        {
            var last = (mask.sum(1) - 1).clamp_min(0);
            pooled = h[torch.arange(h.shape[0], device: h.device), last.to(torch.int64)];
        }
        return score.forward(pooled);
    }
    public static MambaForSequenceClassification FromPretrained(string directory, int numLabels, SequencePooling pooling = SequencePooling.LastToken, Device? device = null)
    {
        var m = new MambaForSequenceClassification(MambaConfig.Load(Path.Combine(directory, "config.json")), numLabels, pooling);
        var weights = Path.Combine(directory, "model.pending.bin");
        if (File.Exists(weights)) m.load(weights);
        if (device is not null) m.to(device);
        return m;
    }
    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        Config.Save(Path.Combine(directory, "config.json"));
        this.save(Path.Combine(directory, "model.pending.bin"));
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Training;

/// <summary>
/// Token sequences right-padded to the longest one in the batch, with the attention mask the model
/// expects (1 = token, 0 = padding). An empty sequence gets one filler token so every row has a last token.
/// </summary>
internal static class PaddedBatch
{
    /// <summary>Builds <c>input_ids</c> and <c>attention_mask</c>, both [B, L] int64, on <paramref name="device"/>.</summary>
    public static (Tensor InputIds, Tensor AttentionMask) Create(IReadOnlyList<int[]> sequences, int padId, int fillerId, Device device)
    {
        int rows = sequences.Count;
        int width = Math.Max(1, sequences.Max(s => s.Length));
        var ids = new long[rows * width];
        var mask = new long[rows * width];
        for (int r = 0; r < rows; r++)
        {
            var s = sequences[r];
            int o = r * width;
            Array.Fill(ids, padId, o, width);
            if (s.Length == 0) { ids[o] = fillerId; mask[o] = 1; continue; }
            for (int t = 0; t < s.Length; t++) { ids[o + t] = s[t]; mask[o + t] = 1; }
        }
        return (torch.tensor(ids, new long[] { rows, width }).to(device), torch.tensor(mask, new long[] { rows, width }).to(device));
    }
}

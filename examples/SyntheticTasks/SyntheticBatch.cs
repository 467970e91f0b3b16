using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// One batch of a synthetic task as flat row-major arrays: <see cref="Inputs"/> are the token ids the model reads,
/// <see cref="Targets"/> the token it must predict at each position, or <see cref="Ignore"/> where nothing is scored.
/// Kept as plain arrays so generators are testable without libtorch; <see cref="ToTensors"/> makes the tensors.
/// </summary>
public sealed class SyntheticBatch
{
    /// <summary>Target value for positions that are not scored (PyTorch's cross-entropy default ignore index).</summary>
    public const long Ignore = -100;

    public int BatchSize { get; }
    public int Length { get; }
    public long[] Inputs { get; }
    public long[] Targets { get; }

    public SyntheticBatch(int batchSize, int length)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), length, "must be positive");
        BatchSize = batchSize;
        Length = length;
        Inputs = new long[(long)batchSize * length];
        Targets = new long[(long)batchSize * length];
        Array.Fill(Targets, Ignore);
    }

    /// <summary>Row <paramref name="row"/> of the inputs.</summary>
    public Span<long> InputRow(int row) => Inputs.AsSpan(row * Length, Length);

    /// <summary>Row <paramref name="row"/> of the targets.</summary>
    public Span<long> TargetRow(int row) => Targets.AsSpan(row * Length, Length);

    /// <summary>Inputs and targets as int64 tensors of shape (batch, length) on <paramref name="device"/>.</summary>
    public (Tensor Inputs, Tensor Targets) ToTensors(Device device) =>
        (tensor(Inputs, new long[] { BatchSize, Length }, ScalarType.Int64).to(device),
         tensor(Targets, new long[] { BatchSize, Length }, ScalarType.Int64).to(device));
}

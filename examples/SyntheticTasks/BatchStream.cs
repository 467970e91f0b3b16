using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Training batches for successive steps, drawn several steps at a time and copied to the device in one transfer.
/// A copy from ordinary host memory makes the host wait until the device has finished its queued work, so a
/// copy per step kept the host from running ahead of the GPU: small models then ran at the host's pace.
/// The batches are the same as drawing one per step: the tasks draw each row from the generator in turn.
/// </summary>
public sealed class BatchStream : IDisposable
{
    /// <summary>Tokens per transfer: 4M int64 inputs and targets, 64 MB on the device.</summary>
    public const long TokensPerBlock = 1 << 22;

    private readonly ISyntheticTask _task;
    private readonly Random _random;
    private readonly int _batchSize, _length, _stepsPerBlock;
    private readonly Device _device;
    private Tensor? _inputs, _targets;
    private int _next;

    public BatchStream(ISyntheticTask task, Random random, int batchSize, int length, Device device)
    {
        _task = task;
        _random = random;
        _batchSize = batchSize;
        _length = length;
        _device = device;
        _stepsPerBlock = (int)Math.Clamp(TokensPerBlock / ((long)batchSize * length), 1, 64);
    }

    /// <summary>The next step's (inputs, targets), (batch, length) views into the current block.</summary>
    public (Tensor Inputs, Tensor Targets) Next()
    {
        if (_inputs is null || _next == _stepsPerBlock) Refill();
        long start = (long)_next++ * _batchSize;
        return (_inputs!.narrow(0, start, _batchSize), _targets!.narrow(0, start, _batchSize));
    }

    private void Refill()
    {
        Dispose();
        var (inputs, targets) = _task.Sample(_random, _batchSize * _stepsPerBlock, _length).ToTensors(_device);
        _inputs = inputs.DetachFromDisposeScope();
        _targets = targets.DetachFromDisposeScope();
        _next = 0;
    }

    public void Dispose()
    {
        _inputs?.Dispose();
        _targets?.Dispose();
        _inputs = _targets = null;
    }
}

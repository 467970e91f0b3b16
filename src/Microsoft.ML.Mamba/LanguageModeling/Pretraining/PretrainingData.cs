using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.ML.Mamba.Text;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// A corpus tokenized for pretraining: <c>train.tokens</c> and <c>heldout.tokens</c> (<see cref="PackedTokenFile"/>s) in
/// one folder. Each document is followed by the tokenizer's end-of-sequence id, when it has one, so the model learns
/// where texts end.
/// </summary>
public sealed class PretrainingData
{
    /// <summary>The training tokens' file name.</summary>
    public const string TrainFileName = "train.tokens";

    /// <summary>The held-out tokens' file name.</summary>
    public const string HeldOutFileName = "heldout.tokens";

    private PretrainingData(string directory, long documents, long heldOutDocuments, long trainTokens, long heldOutTokens)
    {
        Directory = directory; Documents = documents; HeldOutDocuments = heldOutDocuments; TrainTokens = trainTokens; HeldOutTokens = heldOutTokens;
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>Path of the training tokens.</summary>
    public string TrainPath => Path.Combine(Directory, TrainFileName);

    /// <summary>Path of the held-out tokens.</summary>
    public string HeldOutPath => Path.Combine(Directory, HeldOutFileName);

    /// <summary>Documents tokenized (both files).</summary>
    public long Documents { get; }

    /// <summary>Documents in the held-out file.</summary>
    public long HeldOutDocuments { get; }

    /// <summary>Tokens in the training file.</summary>
    public long TrainTokens { get; }

    /// <summary>Tokens in the held-out file.</summary>
    public long HeldOutTokens { get; }

    /// <summary>
    /// Tokenizes <paramref name="texts"/> (read lazily, e.g. from <see cref="PretrainingCorpus"/>) with
    /// <see cref="PretrainingDataOptions.Workers"/> threads into <paramref name="directory"/>. At most a few chunks per
    /// worker are in memory at once, and documents are written in the order read, so the files do not depend on the
    /// number of workers.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range, or the tokenizer produced an id outside its vocabulary.</exception>
    public static PretrainingData Prepare(IEnumerable<string> texts, IMambaTokenizer tokenizer, string directory, PretrainingDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(directory);
        options ??= new PretrainingDataOptions();
        options.Validate();
        System.IO.Directory.CreateDirectory(directory);
        string identity = options.TokenizerIdentity ?? TokenizerIdentity(tokenizer);
        long period = options.HeldOutFraction > 0 ? Math.Max(2, (long)Math.Round(1 / options.HeldOutFraction)) : long.MaxValue;

        using var train = new PackedTokenWriter(Path.Combine(directory, TrainFileName), tokenizer.VocabularySize, identity);
        using var heldOut = new PackedTokenWriter(Path.Combine(directory, HeldOutFileName), tokenizer.VocabularySize, identity);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        // Workers encode chunks as tasks on a scheduler of Workers threads; the bounded queue of those tasks, consumed
        // in order, keeps the reader at most 2 x Workers chunks ahead of the writer.
        var scheduler = new ConcurrentExclusiveSchedulerPair(TaskScheduler.Default, options.Workers).ConcurrentScheduler;
        using var queue = new BlockingCollection<Task<IReadOnlyList<int>[]>>(2 * options.Workers);
        var producer = Task.Run(() =>
        {
            try
            {
                foreach (var chunk in texts.Chunk(options.ChunkSize))
                {
                    stop.Token.ThrowIfCancellationRequested();
                    queue.Add(Task.Factory.StartNew(() => chunk.Select(t => string.IsNullOrEmpty(t) ? Array.Empty<int>() : tokenizer.Encode(t)).ToArray(),
                        stop.Token, TaskCreationOptions.None, scheduler), stop.Token);
                }
            }
            finally
            {
                queue.CompleteAdding();
            }
        });

        long documents = 0, heldOutDocuments = 0;
        int[] eos = tokenizer.EosTokenId is int e ? [e] : [];
        try
        {
            foreach (var task in queue.GetConsumingEnumerable(stop.Token))
            {
                foreach (var ids in task.GetAwaiter().GetResult())
                {
                    if (ids.Count == 0) continue;
                    documents++;
                    var target = documents % period == 0 ? heldOut : train;
                    if (target == heldOut) heldOutDocuments++;
                    target.Append(ids);
                    target.Append(eos);
                    options.DocumentWritten?.Invoke(documents);
                }
                options.Progress?.Report(documents);
            }
        }
        catch
        {
            stop.Cancel();  // lets a producer blocked on the full queue finish
            try { producer.Wait(); } catch (AggregateException) { }
            throw;
        }
        producer.GetAwaiter().GetResult();  // rethrows what reading the texts threw
        train.Complete();
        heldOut.Complete();
        return new PretrainingData(directory, documents, heldOutDocuments, train.TokenCount, heldOut.TokenCount);
    }

    /// <summary>Data prepared earlier in <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">A token file is missing.</exception>
    /// <exception cref="InvalidDataException">A token file is damaged.</exception>
    public static PretrainingData Open(string directory)
    {
        using var train = PackedTokenFile.Open(Path.Combine(directory, TrainFileName));
        using var heldOut = PackedTokenFile.Open(Path.Combine(directory, HeldOutFileName));
        if (train.TokenizerIdentity != heldOut.TokenizerIdentity)
            throw new InvalidDataException($"'{directory}': the training and held-out tokens come from different tokenizers ({train.TokenizerIdentity} vs {heldOut.TokenizerIdentity}).");
        return new PretrainingData(directory, -1, -1, train.TokenCount, heldOut.TokenCount);
    }

    /// <summary>
    /// A short name for what tokenized a corpus: <c>bytes/259</c>, <c>gpt2/50257</c>, or for a Hugging Face tokenizer
    /// <c>huggingface/VOCAB/sha256:…</c> of its tokenizer.json (or vocab.json) when <paramref name="huggingFaceTokenizerPath"/> is given.
    /// </summary>
    public static string TokenizerIdentity(IMambaTokenizer tokenizer, string? huggingFaceTokenizerPath = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string kind = tokenizer switch { ByteTokenizer => "bytes", TiktokenMambaTokenizer => "gpt2", HuggingFaceBpeTokenizer => "huggingface", _ => tokenizer.GetType().Name };
        string identity = $"{kind}/{tokenizer.VocabularySize}";
        if (huggingFaceTokenizerPath is not null)
        {
            string file = System.IO.Directory.Exists(huggingFaceTokenizerPath)
                ? new[] { "tokenizer.json", "vocab.json" }.Select(n => Path.Combine(huggingFaceTokenizerPath, n)).FirstOrDefault(File.Exists) ?? huggingFaceTokenizerPath
                : huggingFaceTokenizerPath;
            if (File.Exists(file))
            {
                using var stream = File.OpenRead(file);
                identity += "/sha256:" + Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
            }
        }
        return identity;
    }
}

using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>
/// A tokenized corpus on disk: a 256-byte header (magic <c>MAMBATOK</c>, format version, bytes per token, vocabulary
/// size, token count, tokenizer identity) followed by the token ids, little-endian, as uint16 when the vocabulary has at
/// most 65,536 ids and as int32 otherwise. Reading maps the file into memory, so the corpus is never loaded whole.
/// Write one with <see cref="PretrainingData.Prepare(IEnumerable{string}, Text.IMambaTokenizer, string, PretrainingDataOptions?)"/>.
/// </summary>
public sealed class PackedTokenFile : IDisposable
{
    internal const int HeaderBytes = 256;
    internal const int MaxIdentityBytes = HeaderBytes - 40;
    internal static ReadOnlySpan<byte> Magic => "MAMBATOK"u8;
    internal const int FormatVersion = 1;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;

    private PackedTokenFile(string path, int bytesPerToken, int vocabularySize, long tokenCount, string identity, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Path = path; BytesPerToken = bytesPerToken; VocabularySize = vocabularySize; TokenCount = tokenCount; TokenizerIdentity = identity;
        _map = map; _view = view;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>2 (uint16) or 4 (int32).</summary>
    public int BytesPerToken { get; }

    /// <summary>The tokenizer's vocabulary size: every id is below it.</summary>
    public int VocabularySize { get; }

    /// <summary>Tokens stored.</summary>
    public long TokenCount { get; }

    /// <summary>What tokenized the corpus (<see cref="PretrainingData.TokenizerIdentity"/>), so a model is not trained on another tokenizer's ids.</summary>
    public string TokenizerIdentity { get; }

    /// <summary>Opens <paramref name="path"/> for reading (memory-mapped).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not a packed token file, or its length does not match its header; the message names the file.</exception>
    public static PackedTokenFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Packed token file not found: '{path}'.", path);
        var header = new byte[HeaderBytes];
        long length;
        using (var stream = File.OpenRead(path))
        {
            length = stream.Length;
            if (length < HeaderBytes || stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
                throw new InvalidDataException($"'{path}' is too short to be a packed token file ({length} bytes).");
        }
        var (bytesPerToken, vocab, count, identity) = ParseHeader(header, path);
        if (length != HeaderBytes + count * bytesPerToken)
            throw new InvalidDataException($"'{path}' holds {length - HeaderBytes} bytes of tokens but its header promises {count} tokens of {bytesPerToken} bytes (truncated or still being written).");
        if (count == 0) return new PackedTokenFile(path, bytesPerToken, vocab, 0, identity, null, null);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            var view = map.CreateViewAccessor(HeaderBytes, count * bytesPerToken, MemoryMappedFileAccess.Read);
            return new PackedTokenFile(path, bytesPerToken, vocab, count, identity, map, view);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>Copies tokens <paramref name="start"/> .. start + destination.Length - 1 into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range leaves the file.</exception>
    public void Read(long start, Span<int> destination)
    {
        if (start < 0 || start + destination.Length > TokenCount)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"tokens {start}..{start + destination.Length} are outside the {TokenCount} tokens of '{Path}'");
        if (destination.Length == 0) return;
        if (BytesPerToken == 4)
        {
            var buffer = new int[destination.Length];
            _view!.ReadArray(start * 4, buffer, 0, buffer.Length);
            if (!BitConverter.IsLittleEndian) for (int i = 0; i < buffer.Length; i++) buffer[i] = BinaryPrimitives.ReverseEndianness(buffer[i]);
            buffer.CopyTo(destination);
        }
        else
        {
            var buffer = new ushort[destination.Length];
            _view!.ReadArray(start * 2, buffer, 0, buffer.Length);
            for (int i = 0; i < buffer.Length; i++)
                destination[i] = BitConverter.IsLittleEndian ? buffer[i] : BinaryPrimitives.ReverseEndianness(buffer[i]);
        }
    }

    /// <summary>Releases the mapping.</summary>
    public void Dispose()
    {
        _view?.Dispose();
        _map?.Dispose();
    }

    internal static int BytesPerTokenFor(int vocabularySize) => vocabularySize <= ushort.MaxValue + 1 ? 2 : 4;

    internal static byte[] BuildHeader(int bytesPerToken, int vocabularySize, long tokenCount, string identity)
    {
        var header = new byte[HeaderBytes];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), bytesPerToken);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), vocabularySize);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), tokenCount);
        int n = Encoding.UTF8.GetBytes(identity, header.AsSpan(40));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(32), n);
        return header;
    }

    private static (int BytesPerToken, int Vocab, long Count, string Identity) ParseHeader(byte[] header, string path)
    {
        if (!header.AsSpan(0, 8).SequenceEqual(Magic)) throw new InvalidDataException($"'{path}' is not a packed token file (no MAMBATOK magic).");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (version != FormatVersion) throw new InvalidDataException($"'{path}' has packed token format version {version}; this library reads version {FormatVersion}.");
        int bytes = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12));
        int vocab = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16));
        long count = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
        int identityBytes = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(32));
        if (bytes is not (2 or 4) || vocab < 1 || count < 0 || identityBytes < 0 || identityBytes > MaxIdentityBytes || (bytes == 2 && vocab > ushort.MaxValue + 1))
            throw new InvalidDataException($"'{path}' has an invalid header (bytes per token {bytes}, vocabulary {vocab}, tokens {count}, identity length {identityBytes}).");
        return (bytes, vocab, count, Encoding.UTF8.GetString(header, 40, identityBytes));
    }
}

using System.Buffers.Binary;

namespace Microsoft.ML.Mamba.LanguageModeling.Pretraining;

/// <summary>Appends token ids to a new <see cref="PackedTokenFile"/>; the header's count is written on <see cref="Complete"/>.</summary>
internal sealed class PackedTokenWriter : IDisposable
{
    private readonly FileStream _stream;
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly int _bytesPerToken, _vocabularySize;
    private readonly string _identity;
    private int _used;

    public PackedTokenWriter(string path, int vocabularySize, string identity)
    {
        if (vocabularySize < 1) throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "must be ≥ 1");
        if (System.Text.Encoding.UTF8.GetByteCount(identity) > PackedTokenFile.MaxIdentityBytes)
            throw new ArgumentException($"The tokenizer identity is longer than {PackedTokenFile.MaxIdentityBytes} UTF-8 bytes.", nameof(identity));
        _vocabularySize = vocabularySize;
        _bytesPerToken = PackedTokenFile.BytesPerTokenFor(vocabularySize);
        _identity = identity;
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        _stream.Write(PackedTokenFile.BuildHeader(_bytesPerToken, vocabularySize, 0, identity));
    }

    public string Path => _stream.Name;

    public long TokenCount { get; private set; }

    public void Append(IReadOnlyList<int> ids)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)_vocabularySize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} is outside the vocabulary of {_vocabularySize} ids ('{Path}')");
            if (_used + _bytesPerToken > _buffer.Length) Flush();
            if (_bytesPerToken == 2) BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_used), (ushort)id);
            else BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_used), id);
            _used += _bytesPerToken;
        }
        TokenCount += ids.Count;
    }

    /// <summary>Flushes the tokens and writes the final header.</summary>
    public void Complete()
    {
        Flush();
        _stream.Position = 0;
        _stream.Write(PackedTokenFile.BuildHeader(_bytesPerToken, _vocabularySize, TokenCount, _identity));
        _stream.Flush(flushToDisk: false);
    }

    private void Flush()
    {
        _stream.Write(_buffer, 0, _used);
        _used = 0;
    }

    public void Dispose() => _stream.Dispose();
}

using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>A growable byte array (the decoders' accumulator).</summary>
internal sealed class ByteBuffer
{
    byte[] _data = new byte[256];
    public int Length { get; private set; }

    public ReadOnlySpan<byte> Span => _data.AsSpan(0, Length);

    /// <summary>Makes room for <paramref name="n"/> more bytes and returns them (already counted in Length).</summary>
    public Span<byte> Reserve(int n)
    {
        if (Length + n > _data.Length)
            Array.Resize(ref _data, Math.Max(_data.Length * 2, Length + n));
        var s = _data.AsSpan(Length, n);
        Length += n;
        return s;
    }

    public void AppendUtf8(string s)
    {
        int max = Encoding.UTF8.GetMaxByteCount(s.Length);
        var span = Reserve(max);
        int written = Encoding.UTF8.GetBytes(s, span);
        Length -= max - written;
    }

    public void Clear() => Length = 0;

    /// <summary>Drops the first <paramref name="n"/> bytes.</summary>
    public void RemovePrefix(int n)
    {
        _data.AsSpan(n, Length - n).CopyTo(_data);
        Length -= n;
    }
}

using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// Decodes a stream of ids (one generated token at a time) without ever emitting a broken UTF-8 sequence:
/// <see cref="Append"/> returns the text that is complete so far and holds back the bytes of a character
/// that later tokens may finish. The concatenation of every Append and the final <see cref="Flush"/> equals
/// <see cref="QwenTokenizer.Decode"/> of all the ids, byte for byte, invalid sequences included (each as U+FFFD).
/// Not thread-safe (one per stream).
/// </summary>
public sealed class IncrementalDecoder
{
    readonly QwenTokenizer _tokenizer;
    readonly bool _skipSpecialTokens;
    readonly ByteBuffer _pending = new();

    internal IncrementalDecoder(QwenTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text it completes (possibly "").</summary>
    public string Append(int id)
    {
        if (!_tokenizer.AppendTokenBytes(id, _skipSpecialTokens, _pending)) return "";
        var bytes = _pending.Span;
        int keep = IncompleteTailLength(bytes);
        int ready = bytes.Length - keep;
        if (ready == 0) return "";
        string text = Encoding.UTF8.GetString(bytes[..ready]);
        _pending.RemovePrefix(ready);
        return text;
    }

    /// <summary>Returns what is held back (an unfinished character becomes U+FFFD) and starts over.</summary>
    public string Flush()
    {
        string text = _pending.Length == 0 ? "" : Encoding.UTF8.GetString(_pending.Span);
        _pending.Clear();
        return text;
    }

    /// <summary>
    /// How many bytes at the end are the valid beginning of a multi-byte character that is not finished yet
    /// (0 to 3). Everything before them decodes the same whatever comes next: a UTF-8 decoder that replaces
    /// each maximal invalid subpart by one U+FFFD (Rust's from_utf8_lossy, .NET's UTF8Encoding) is back in its
    /// start state at that point.
    /// </summary>
    internal static int IncompleteTailLength(ReadOnlySpan<byte> b)
    {
        int n = b.Length;
        for (int k = 1; k <= 3 && k <= n; k++)
        {
            byte lead = b[n - k];
            if ((lead & 0xC0) == 0x80) continue; // continuation byte: look further back
            int need = lead switch { >= 0xC2 and <= 0xDF => 2, >= 0xE0 and <= 0xEF => 3, >= 0xF0 and <= 0xF4 => 4, _ => 0 };
            if (need <= k) return 0; // ASCII, invalid lead, or a complete (or over-long) sequence
            if (k >= 2)
            {
                byte second = b[n - k + 1];
                bool ok = lead switch
                {
                    0xE0 => second >= 0xA0,
                    0xED => second <= 0x9F,
                    0xF0 => second >= 0x90,
                    0xF4 => second <= 0x8F,
                    _ => true,
                };
                if (!ok) return 0;
            }
            return k;
        }
        return 0;
    }
}

namespace QwenSharp.Tokenization;

/// <summary>Per-thread work buffers of the encoder (so encoding allocates nothing per word).</summary>
internal sealed class EncoderScratch
{
    byte[] _bytes = new byte[1024];
    char[] _chars = new char[1024];
    int[] _symbols = new int[256], _ranks = new int[256], _merged = new int[256];
    public readonly List<int> Ids = new(1024);
    /// <summary>The raw-text split of the current Encode call (normalized added tokens use their own list: that path is rare).</summary>
    public List<Segment> Segments = new(16);

    [ThreadStatic] static EncoderScratch? _current;
    public static EncoderScratch Current => _current ??= new EncoderScratch();

    /// <summary>Buffers up to this many elements are kept for the next call; larger ones (hostile input) are not retained.</summary>
    internal const int RetainLimit = 1 << 16;

    public byte[] Bytes(int n) => n <= _bytes.Length ? _bytes : n > RetainLimit ? new byte[n] : _bytes = new byte[Grow(n)];
    public char[] Chars(int n) => n <= _chars.Length ? _chars : n > RetainLimit ? new char[n] : _chars = new char[Grow(n)];
    public int[] Symbols(int n) => n <= _symbols.Length ? _symbols : n > RetainLimit ? new int[n] : _symbols = new int[Grow(n)];
    public int[] Ranks(int n) => n <= _ranks.Length ? _ranks : n > RetainLimit ? new int[n] : _ranks = new int[Grow(n)];
    public int[] Merged(int n) => n <= _merged.Length ? _merged : n > RetainLimit ? new int[n] : _merged = new int[Grow(n)];

    static int Grow(int n) => Math.Min(RetainLimit, Math.Max(1024, n * 2));
}

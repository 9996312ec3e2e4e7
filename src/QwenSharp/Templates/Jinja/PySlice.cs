namespace QwenSharp.Templates.Jinja;

/// <summary>A Python slice object (<c>x[start:stop:step]</c>) and its index arithmetic.</summary>
internal sealed class PySlice(object? start, object? stop, object? step)
{
    public object? Start { get; } = start;
    public object? Stop { get; } = stop;
    public object? Step { get; } = step;

    /// <summary>The bounds as integers; false when one is neither an int nor None (Python raises TypeError,
    /// which Jinja2's subscript turns into an undefined value).</summary>
    public bool TryGetBounds(out long? start, out long? stop, out long? step)
    {
        start = stop = step = null;
        return TryIndex(Start, out start) && TryIndex(Stop, out stop) && TryIndex(Step, out step);
    }

    static bool TryIndex(object? v, out long? result)
    {
        switch (v)
        {
            case null: result = null; return true;
            case long l: result = l; return true;
            case bool b: result = b ? 1 : 0; return true;
            case System.Numerics.BigInteger big: result = big.Sign < 0 ? long.MinValue / 2 : long.MaxValue / 2; return true;
            default: result = null; return false;
        }
    }

    /// <summary>Python's slice.indices(length): first index, end, step and the number of items.</summary>
    public static (long Start, long Stop, long Step, long Count) Indices(long length, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0) throw JinjaError.Value("slice step cannot be zero");
        long lower = st < 0 ? -1 : 0, upper = st < 0 ? length - 1 : length;
        long b = start is long s0 ? Clamp(s0 < 0 ? s0 + length : s0, lower, upper) : (st < 0 ? upper : lower);
        long e = stop is long e0 ? Clamp(e0 < 0 ? e0 + length : e0, lower, upper) : (st < 0 ? lower : upper);
        long count = st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e + (-st) - 1) / (-st) : 0);
        return (b, e, st, count);
    }

    static long Clamp(long v, long lo, long hi) => v < lo ? lo : v > hi ? hi : v;
}

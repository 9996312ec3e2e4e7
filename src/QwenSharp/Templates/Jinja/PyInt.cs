using System.Numerics;

namespace QwenSharp.Templates.Jinja;

/// <summary>Python's unbounded int: a long while it fits, a BigInteger beyond.</summary>
internal static class PyInt
{
    public static object Normalize(BigInteger v) => v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;

    public static bool IsInt(object? v) => v is long or BigInteger or bool;

    public static BigInteger ToBig(object v) => v switch
    {
        long l => l,
        BigInteger b => b,
        bool b => b ? 1 : 0,
        _ => throw new InvalidCastException(),
    };

    public static object Add(long a, long b)
    {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? (object)((BigInteger)a + b) : r;
    }

    public static object Sub(long a, long b)
    {
        long r = a - b;
        return ((a ^ b) & (a ^ r)) < 0 ? (object)((BigInteger)a - b) : r;
    }

    public static object Mul(long a, long b)
    {
        long r;
        try { r = checked(a * b); } catch (OverflowException) { return (BigInteger)a * b; }
        return r;
    }

    /// <summary>Python floor division and modulo (the result takes the divisor's sign).</summary>
    public static (BigInteger Quotient, BigInteger Remainder) DivMod(BigInteger a, BigInteger b)
    {
        var q = BigInteger.DivRem(a, b, out var r);
        if (!r.IsZero && (r.Sign < 0) != (b.Sign < 0)) { q -= 1; r += b; }
        return (q, r);
    }
}

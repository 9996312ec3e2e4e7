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

    /// <summary>Python's int / int: the correctly rounded float of the exact quotient (not double(a) / double(b),
    /// which differs once an operand has more than 53 bits).</summary>
    public static double TrueDivide(BigInteger a, BigInteger b)
    {
        const long Exact = 1L << 53;
        if (BigInteger.Abs(a) <= Exact && BigInteger.Abs(b) <= Exact) return (double)a / (double)b;
        bool negative = (a.Sign < 0) != (b.Sign < 0);
        a = BigInteger.Abs(a);
        b = BigInteger.Abs(b);
        if (a.IsZero) return negative ? -0.0 : 0.0;
        // Scale so that the integer quotient has 55 or 56 bits, then round to 53 with a sticky bit.
        long shift = 55 - ((long)a.GetBitLength() - (long)b.GetBitLength());
        var (q, r) = shift >= 0 ? DivMod(a << (int)shift, b) : DivMod(a, b << (int)-shift);
        int extra = (int)q.GetBitLength() - 53;
        var mantissa = q >> extra;
        var rest = q - (mantissa << extra);
        var half = BigInteger.One << (extra - 1);
        bool sticky = !r.IsZero;
        if (rest > half || (rest == half && (sticky || !mantissa.IsEven))) mantissa += 1;
        double result = Math.ScaleB((double)mantissa, (int)(extra - shift));
        if (double.IsInfinity(result)) throw new JinjaError("OverflowError", "integer division result too large for a float");
        return negative ? -result : result;
    }
}

using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Python's <c>str()</c> and <c>repr()</c> of template values, which is what <c>{{ x }}</c> and the
/// <c>string</c> filter print: <c>True</c>/<c>None</c>, floats in shortest round-trip form (<c>2.5</c>,
/// <c>1e-05</c>, <c>1e+16</c>), lists and dicts in Python syntax with quoted strings (<c>['a', "b'c"]</c>).
/// </summary>
internal static class PyRepr
{
    const int MaxDepth = 1000;

    public static string Str(object? v, long maxLength = int.MaxValue) => v switch
    {
        string s => s,
        SafeString m => m.Value,
        Undefined => "",
        _ => Build(v, quoteStrings: false, maxLength),
    };

    public static string Repr(object? v, long maxLength = int.MaxValue) => v switch
    {
        string s => QuoteString(s),
        Undefined => "Undefined",
        _ => Build(v, quoteStrings: true, maxLength),
    };

    static string Build(object? v, bool quoteStrings, long maxLength)
    {
        var sb = new StringBuilder();
        Write(sb, v, quoteStrings, 0, maxLength);
        return sb.ToString();
    }

    static void Write(StringBuilder sb, object? v, bool quote, int depth, long maxLength)
    {
        if (depth > MaxDepth) throw JinjaError.Limit("value nested too deeply to print");
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (sb.Length > maxLength) throw JinjaError.Limit($"string longer than {maxLength} characters");
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case BigInteger big: sb.Append(big.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Float(d)); break;
            case string s: if (quote) AppendQuoted(sb, s); else sb.Append(s); break;
            case SafeString m: if (quote) { sb.Append("Markup("); AppendQuoted(sb, m.Value); sb.Append(')'); } else sb.Append(m.Value); break;
            case Undefined: if (quote) sb.Append("Undefined"); break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); Write(sb, list[i], true, depth + 1, maxLength); }
                sb.Append(']');
                break;
            case PyTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Count; i++) { if (i > 0) sb.Append(", "); Write(sb, t[i], true, depth + 1, maxLength); }
                if (t.Count == 1) sb.Append(',');
                sb.Append(')');
                break;
            case PyDict d:
                sb.Append('{');
                for (int i = 0; i < d.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Write(sb, d.KeyAt(i), true, depth + 1, maxLength);
                    sb.Append(": ");
                    Write(sb, d.ValueAt(i), true, depth + 1, maxLength);
                }
                sb.Append('}');
                break;
            case PyDictView view:
                sb.Append(view.Kind).Append("([");
                for (int i = 0; i < view.Count; i++) { if (i > 0) sb.Append(", "); Write(sb, view[i], true, depth + 1, maxLength); }
                sb.Append("])");
                break;
            case PyGenerator g:
                sb.Append(g.Kind == "generator" ? "<generator object>" : $"<{g.Kind} object>");
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                Write(sb, ns.Attributes, true, depth + 1, maxLength);
                sb.Append('>');
                break;
            case PySlice s:
                sb.Append("slice(");
                Write(sb, s.Start, true, depth + 1, maxLength); sb.Append(", ");
                Write(sb, s.Stop, true, depth + 1, maxLength); sb.Append(", ");
                Write(sb, s.Step, true, depth + 1, maxLength);
                sb.Append(')');
                break;
            case LoopContext loop: sb.Append($"<LoopContext {loop.Index0 + 1}/{loop.Length}>"); break;
            case Macro macro: sb.Append($"<Macro {QuoteString(macro.Name)}>"); break;
            case BoundMethod bm: sb.Append($"<built-in method {bm.Name} of {PyOps.TypeName(bm.Self)} object>"); break;
            case JinjaCallable fn: sb.Append($"<built-in function {fn.Name}>"); break;
            default: sb.Append(v.ToString()); break;
        }
    }

    /// <summary>Python's repr of a str: single quotes unless the text has ' and no ", escapes for
    /// backslash, the quote, \t \n \r, other control characters and non-printable characters.</summary>
    public static string QuoteString(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        AppendQuoted(sb, s);
        return sb.ToString();
    }

    static void AppendQuoted(StringBuilder sb, string s)
    {
        char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(q);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == q || c == '\\') { sb.Append('\\').Append(c); continue; }
            if (c == '\t') { sb.Append("\\t"); continue; }
            if (c == '\n') { sb.Append("\\n"); continue; }
            if (c == '\r') { sb.Append("\\r"); continue; }
            if (c < ' ' || c == 0x7f) { sb.Append("\\x").Append(((int)c).ToString("x2")); continue; }
            if (c < 0x7f) { sb.Append(c); continue; }
            int cp = c;
            int units = 1;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { cp = char.ConvertToUtf32(c, s[i + 1]); units = 2; }
            if (IsPrintable(cp)) sb.Append(s, i, units);
            else if (cp <= 0xff) sb.Append("\\x").Append(cp.ToString("x2"));
            else if (cp <= 0xffff) sb.Append("\\u").Append(cp.ToString("x4"));
            else sb.Append("\\U").Append(cp.ToString("x8"));
            i += units - 1;
        }
        sb.Append(q);
    }

    static bool IsPrintable(int cp)
    {
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);
    }

    /// <summary>Python's <c>repr(float)</c>: the shortest digits that round-trip, in positional notation when the
    /// exponent is in [-4, 16), otherwise as <c>1e-05</c> / <c>1.5e+16</c>; integral values keep <c>.0</c>.</summary>
    public static string Float(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOfAny(['E', 'e']);
        string mant = e < 0 ? r : r[..e];
        int exp = e < 0 ? 0 : int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture);
        int dot = mant.IndexOf('.');
        string digits = dot < 0 ? mant : mant.Remove(dot, 1);
        int decpt = (dot < 0 ? mant.Length : dot) + exp;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; decpt--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (d < 0) sb.Append('-');
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) sb.Append("0.").Append('0', -decpt).Append(digits);
            else if (decpt >= digits.Length) sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
            else sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int x = decpt - 1;
            sb.Append('e').Append(x < 0 ? '-' : '+').Append(Math.Abs(x).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}

using System.Globalization;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Python <c>str</c> behaviour on .NET strings: whitespace as <c>str.isspace</c> defines it, stripping by
/// character set, splitting, and lengths, indexes and slices counted in code points (a .NET string counts
/// UTF-16 units, so an emoji is 2 here and 1 in Python).
/// </summary>
internal static class PyText
{
    static readonly string[] Ascii = Enumerable.Range(0, 128).Select(i => ((char)i).ToString()).ToArray();

    public static bool IsSpace(char c) => c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f') || (c > 127 && char.IsWhiteSpace(c));

    public static string CharString(char c) => c < 128 ? Ascii[c] : c.ToString();

    static bool HasSurrogates(string s)
    {
        foreach (char c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>The string's code points, each as a string (lone surrogates stay single units).</summary>
    public static List<object?> CodePoints(string s)
    {
        var list = new List<object?>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(CharString(c));
        }
        return list;
    }

    public static int Length(string s)
    {
        int n = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }

    /// <summary>Code point <paramref name="index"/> (negative counts from the end), or null when out of range.</summary>
    public static string? At(string s, long index)
    {
        if (!HasSurrogates(s))
        {
            if (index < 0) index += s.Length;
            return index >= 0 && index < s.Length ? CharString(s[(int)index]) : null;
        }
        var cps = CodePoints(s);
        if (index < 0) index += cps.Count;
        return index >= 0 && index < cps.Count ? (string)cps[(int)index]! : null;
    }

    public static string Slice(string s, long? start, long? stop, long? step)
    {
        if (!HasSurrogates(s))
        {
            var (b, e, st, count) = PySlice.Indices(s.Length, start, stop, step);
            if (st == 1) return count == 0 ? "" : s.Substring((int)b, (int)count);
            var sb = new StringBuilder((int)count);
            for (long i = 0, k = b; i < count; i++, k += st) sb.Append(s[(int)k]);
            return sb.ToString();
        }
        var cps = CodePoints(s);
        var (b2, _, st2, count2) = PySlice.Indices(cps.Count, start, stop, step);
        var sb2 = new StringBuilder();
        for (long i = 0, k = b2; i < count2; i++, k += st2) sb2.Append((string)cps[(int)k]!);
        return sb2.ToString();
    }

    public static string Reverse(string s) => Slice(s, null, null, -1);

    static bool InSet(char c, string? chars) => chars == null ? IsSpace(c) : chars.IndexOf(c) >= 0;

    public static string Strip(string s, string? chars = null) => RStrip(LStrip(s, chars), chars);

    public static string LStrip(string s, string? chars = null)
    {
        int i = 0;
        while (i < s.Length && InSet(s[i], chars)) i++;
        return i == 0 ? s : s[i..];
    }

    public static string RStrip(string s, string? chars = null)
    {
        int j = s.Length;
        while (j > 0 && InSet(s[j - 1], chars)) j--;
        return j == s.Length ? s : s[..j];
    }

    /// <summary>Python <c>str.split(sep, maxsplit)</c>; sep null splits on runs of whitespace.</summary>
    public static List<object?> Split(string s, string? sep, long maxsplit = -1)
    {
        var parts = new List<object?>();
        if (sep == null)
        {
            int i = 0, n = s.Length;
            while (true)
            {
                while (i < n && IsSpace(s[i])) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && parts.Count >= maxsplit) { parts.Add(RStrip(s[i..])); break; }
                int j = i;
                while (j < n && !IsSpace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        if (sep.Length == 0) throw JinjaError.Value("empty separator");
        int from = 0;
        while (maxsplit < 0 || parts.Count < maxsplit)
        {
            int k = s.IndexOf(sep, from, StringComparison.Ordinal);
            if (k < 0) break;
            parts.Add(s[from..k]);
            from = k + sep.Length;
        }
        parts.Add(s[from..]);
        return parts;
    }

    /// <summary>Python <c>str.rsplit(sep, maxsplit)</c>.</summary>
    public static List<object?> RSplit(string s, string? sep, long maxsplit = -1)
    {
        if (maxsplit < 0) return Split(s, sep, -1);
        var parts = new List<object?>();
        if (sep == null)
        {
            int j = s.Length;
            while (true)
            {
                while (j > 0 && IsSpace(s[j - 1])) j--;
                if (j <= 0) break;
                if (parts.Count >= maxsplit) { parts.Add(LStrip(s[..j])); break; }
                int i = j;
                while (i > 0 && !IsSpace(s[i - 1])) i--;
                parts.Add(s[i..j]);
                j = i;
            }
            parts.Reverse();
            return parts;
        }
        if (sep.Length == 0) throw JinjaError.Value("empty separator");
        int end = s.Length;
        while (parts.Count < maxsplit)
        {
            int k = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
            if (k < 0 || k + sep.Length > end) break;
            parts.Add(s[(k + sep.Length)..end]);
            end = k;
        }
        parts.Add(s[..end]);
        parts.Reverse();
        return parts;
    }

    static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    public static List<object?> SplitLines(string s, bool keepEnds = false)
    {
        var lines = new List<object?>();
        int i = 0, n = s.Length;
        while (i < n)
        {
            int j = i;
            while (j < n && !IsLineBreak(s[j])) j++;
            int eol = j;
            if (j < n) j += s[j] == '\r' && j + 1 < n && s[j + 1] == '\n' ? 2 : 1;
            lines.Add(keepEnds ? s[i..j] : s[i..eol]);
            i = j;
        }
        return lines;
    }

    public static string Replace(string s, string old, string @new, long count, long maxLength)
    {
        if (count == 0) return s;
        if (old.Length == 0)
        {
            long pieces = Length(s) + 1;
            if (count > 0) pieces = Math.Min(pieces, count);
            if (s.Length + pieces * @new.Length > maxLength) throw JinjaError.Limit($"string longer than {maxLength} characters");
            var cps = CodePoints(s);
            var sb = new StringBuilder();
            for (int i = 0; i < cps.Count; i++)
            {
                if (i < pieces) sb.Append(@new);
                sb.Append((string)cps[i]!);
            }
            if (cps.Count < pieces) sb.Append(@new);
            return sb.ToString();
        }
        if (@new.Length > old.Length)
        {
            long occurrences = 0;
            for (int k = s.IndexOf(old, StringComparison.Ordinal); k >= 0 && (count < 0 || occurrences < count); k = s.IndexOf(old, k + old.Length, StringComparison.Ordinal)) occurrences++;
            if (s.Length + occurrences * (@new.Length - old.Length) > maxLength) throw JinjaError.Limit($"string longer than {maxLength} characters");
        }
        if (count < 0) return s.Replace(old, @new, StringComparison.Ordinal);
        var b = new StringBuilder();
        int from = 0;
        for (long done = 0; done < count; done++)
        {
            int k = s.IndexOf(old, from, StringComparison.Ordinal);
            if (k < 0) break;
            b.Append(s, from, k - from).Append(@new);
            from = k + old.Length;
        }
        b.Append(s, from, s.Length - from);
        return b.ToString();
    }

    static bool IsCased(char c) => char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;

    public static string Upper(string s) => s.ToUpperInvariant();
    public static string Lower(string s) => s.ToLowerInvariant();

    /// <summary>Python <c>str.title()</c>: a letter after a cased letter goes lower case, any other goes upper case.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (char c in s)
        {
            sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevCased = IsCased(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string SwapCase(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsUpper(c) ? char.ToLowerInvariant(c) : char.IsLower(c) ? char.ToUpperInvariant(c) : c);
        return sb.ToString();
    }

    public static bool IsUpper(string s)
    {
        bool cased = false;
        foreach (char c in s) { if (char.IsLower(c)) return false; if (char.IsUpper(c)) cased = true; }
        return cased;
    }

    public static bool IsLower(string s)
    {
        bool cased = false;
        foreach (char c in s) { if (char.IsUpper(c)) return false; if (char.IsLower(c)) cased = true; }
        return cased;
    }

    public static string Pad(string s, long width, char fill, int align, long maxLength)
    {
        long len = Length(s);
        if (width <= len) return s;
        if (width > maxLength) throw JinjaError.Limit($"string longer than {maxLength} characters");
        long total = width - len;
        long left = align switch { < 0 => 0, > 0 => total, _ => total / 2 + (total & width & 1) };
        return new string(fill, (int)left) + s + new string(fill, (int)(total - left));
    }

    /// <summary>Code point index of <paramref name="sub"/> in s[start:end], or -1 (Python str.find / rfind).</summary>
    public static long Find(string s, string sub, long? start, long? end, bool reverse)
    {
        bool sur = HasSurrogates(s);
        int n = sur ? Length(s) : s.Length;
        var (b, e, _, _) = PySlice.Indices(n, start, end, 1);
        if (e < b) { if (b > n) return -1; e = b; }
        int cb = sur ? CharIndex(s, (int)b) : (int)b, ce = sur ? CharIndex(s, (int)e) : (int)e;
        if (sub.Length > ce - cb) return -1;
        int k = reverse ? s.LastIndexOf(sub, ce - 1 < 0 ? 0 : ce - 1, ce - cb, StringComparison.Ordinal) : s.IndexOf(sub, cb, ce - cb, StringComparison.Ordinal);
        if (reverse && sub.Length == 0) k = ce;
        if (k < 0) return -1;
        return sur ? Length(s[..k]) : k;
    }

    public static long Count(string s, string sub, long? start, long? end)
    {
        bool sur = HasSurrogates(s);
        int n = sur ? Length(s) : s.Length;
        var (b, e, _, _) = PySlice.Indices(n, start, end, 1);
        if (e < b) return b <= n && sub.Length == 0 ? 1 : 0;
        int cb = sur ? CharIndex(s, (int)b) : (int)b, ce = sur ? CharIndex(s, (int)e) : (int)e;
        if (sub.Length == 0) return (sur ? Length(s[cb..ce]) : ce - cb) + 1;
        long count = 0;
        int from = cb;
        while (from <= ce)
        {
            int f = s.IndexOf(sub, from, ce - from, StringComparison.Ordinal);
            if (f < 0) break;
            count++;
            from = f + sub.Length;
        }
        return count;
    }

    static int CharIndex(string s, int codePointIndex)
    {
        int i = 0;
        for (int cp = 0; cp < codePointIndex && i < s.Length; cp++)
            i += char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
        return i;
    }

    /// <summary>Python ordering of two strings: by code point (UTF-16 ordinal order differs above U+FFFF).</summary>
    public static int CompareCodePoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x == y) continue;
            bool xs = char.IsSurrogate(x), ys = char.IsSurrogate(y);
            if (xs != ys) return xs ? 1 : -1;
            return x < y ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }
}

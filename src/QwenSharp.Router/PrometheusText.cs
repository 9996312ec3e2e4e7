using System.Globalization;

namespace QwenSharp.Router;

/// <summary>
/// Reads the Prometheus text exposition format (what GET /metrics answers): each sample line is
/// <c>name{label="value",...} number [timestamp]</c>. Samples of one name are summed over their labels
/// (a replica reports one model, or a few adapters, and the router wants the replica's total).
/// </summary>
public static class PrometheusText
{
    /// <summary>The sum of the samples of each metric name in <paramref name="text"/>.</summary>
    public static Dictionary<string, double> SumByName(string text)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty || line[0] == '#') continue;
            int nameEnd = line.IndexOfAny('{', ' ', '\t');
            if (nameEnd <= 0) continue;
            var name = line[..nameEnd].ToString();
            var rest = line[nameEnd..];
            if (rest[0] == '{')
            {
                int close = ClosingBrace(rest);
                if (close < 0) continue;
                rest = rest[(close + 1)..];
            }
            rest = rest.TrimStart();
            int valueEnd = rest.IndexOfAny(' ', '\t');
            var valueText = valueEnd < 0 ? rest : rest[..valueEnd];
            if (!TryParseValue(valueText, out double value)) continue;
            sums[name] = sums.TryGetValue(name, out var s) ? s + value : value;
        }
        return sums;
    }

    /// <summary>The value of the first name of <paramref name="names"/> present in <paramref name="sums"/>, or null.</summary>
    public static double? First(IReadOnlyDictionary<string, double> sums, IEnumerable<string> names)
    {
        foreach (var n in names)
            if (sums.TryGetValue(n, out var v)) return v;
        return null;
    }

    // Label values are quoted and may contain escaped quotes and braces.
    static int ClosingBrace(ReadOnlySpan<char> s)
    {
        bool quoted = false;
        for (int i = 1; i < s.Length; i++)
        {
            char c = s[i];
            if (quoted)
            {
                if (c == '\\') i++;
                else if (c == '"') quoted = false;
            }
            else if (c == '"') quoted = true;
            else if (c == '}') return i;
        }
        return -1;
    }

    static bool TryParseValue(ReadOnlySpan<char> s, out double value)
    {
        switch (s)
        {
            case "+Inf": value = double.PositiveInfinity; return true;
            case "-Inf": value = double.NegativeInfinity; return true;
            case "NaN": value = double.NaN; return true;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }
}

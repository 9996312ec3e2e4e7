using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Python's <c>json.dumps</c>, which transformers installs as the <c>tojson</c> filter
/// (<c>ensure_ascii=False</c>, <c>separators=None</c> so ", " and ": ", keys in insertion order, Python float
/// repr, <c>NaN</c>/<c>Infinity</c>), with its keyword options <c>indent</c>, <c>separators</c>,
/// <c>sort_keys</c> and <c>ensure_ascii</c>. Jinja2's own HTML-escaping tojson is not used.
/// </summary>
internal sealed class PyJson
{
    const int MaxDepth = 1000;
    readonly StringBuilder _sb = new();
    readonly bool _ensureAscii;
    readonly string? _indent;
    readonly string _itemSep;
    readonly string _keySep;
    readonly bool _sortKeys;
    readonly long _maxLength;

    PyJson(bool ensureAscii, string? indent, string itemSep, string keySep, bool sortKeys, long maxLength)
    {
        _ensureAscii = ensureAscii;
        _indent = indent;
        _itemSep = itemSep;
        _keySep = keySep;
        _sortKeys = sortKeys;
        _maxLength = maxLength;
    }

    public static string Dumps(object? value, bool ensureAscii = false, string? indent = null, string? itemSeparator = null,
        string? keySeparator = null, bool sortKeys = false, long maxLength = int.MaxValue)
    {
        var w = new PyJson(ensureAscii, indent, itemSeparator ?? (indent != null ? "," : ", "), keySeparator ?? ": ", sortKeys, maxLength);
        w.Write(value, 0);
        return w._sb.ToString();
    }

    void Write(object? v, int level)
    {
        if (level > MaxDepth) throw JinjaError.Value("value nested too deeply for JSON");
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (_sb.Length > _maxLength) throw JinjaError.Limit($"string longer than {_maxLength} characters");
        switch (v)
        {
            case null: _sb.Append("null"); break;
            case bool b: _sb.Append(b ? "true" : "false"); break;
            case long l: _sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case BigInteger big: _sb.Append(big.ToString(CultureInfo.InvariantCulture)); break;
            case double d: _sb.Append(Float(d)); break;
            case string s: WriteString(s); break;
            case SafeString m: WriteString(m.Value); break;
            case IReadOnlyList<object?> list when v is List<object?> or PyTuple:
                if (list.Count == 0) { _sb.Append("[]"); break; }
                _sb.Append('[');
                NewLine(level + 1);
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) { _sb.Append(_itemSep); NewLine(level + 1); }
                    Write(list[i], level + 1);
                }
                NewLine(level);
                _sb.Append(']');
                break;
            case PyDict d:
            {
                if (d.Count == 0) { _sb.Append("{}"); break; }
                var order = Enumerable.Range(0, d.Count).ToList();
                if (_sortKeys) order = StableSort(order, (i, j) => PyOps.Compare(d.KeyAt(i), d.KeyAt(j)));
                _sb.Append('{');
                NewLine(level + 1);
                bool first = true;
                foreach (int i in order)
                {
                    if (!first) { _sb.Append(_itemSep); NewLine(level + 1); }
                    first = false;
                    WriteString(Key(d.KeyAt(i)));
                    _sb.Append(_keySep);
                    Write(d.ValueAt(i), level + 1);
                }
                NewLine(level);
                _sb.Append('}');
                break;
            }
            default:
                throw JinjaError.Type($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    static List<int> StableSort(List<int> items, Comparison<int> cmp)
    {
        var sorted = new List<int>(items);
        try
        {
            sorted.Sort((a, b) => { int c = cmp(a, b); if (c == 2) c = 0; return c != 0 ? c : a.CompareTo(b); });
        }
        catch (InvalidOperationException e) when (e.InnerException != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
        return sorted;
    }

    void NewLine(int level)
    {
        if (_indent == null) return;
        _sb.Append('\n');
        for (int i = 0; i < level; i++) _sb.Append(_indent);
    }

    static string Key(object? k) => k switch
    {
        string s => s,
        SafeString m => m.Value,
        bool b => b ? "true" : "false",
        long or BigInteger => Convert.ToString(k, CultureInfo.InvariantCulture)!,
        double d => Float(d),
        null => "null",
        _ => throw JinjaError.Type($"keys must be str, int, float, bool or None, not {PyOps.TypeName(k)}"),
    };

    static string Float(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyRepr.Float(d);

    void WriteString(string s)
    {
        _sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': _sb.Append("\\\""); break;
                case '\\': _sb.Append("\\\\"); break;
                case '\n': _sb.Append("\\n"); break;
                case '\r': _sb.Append("\\r"); break;
                case '\t': _sb.Append("\\t"); break;
                case '\b': _sb.Append("\\b"); break;
                case '\f': _sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (_ensureAscii && c > 0x7e)) _sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else _sb.Append(c);
                    break;
            }
        }
        _sb.Append('"');
    }
}

using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// The filters (<c>x | name(args)</c>): Jinja2's built-in set with Jinja2's argument names and defaults, plus
/// transformers' <c>tojson</c> (Python json.dumps, not Jinja2's HTML-safe version). Each filter binds its
/// arguments like the Python function it mirrors, so <c>tojson(indent=2)</c> or <c>join(', ')</c> work.
/// </summary>
internal static partial class BuiltinFilters
{
    public static readonly IReadOnlyDictionary<string, FilterFunction> All = new Dictionary<string, FilterFunction>(StringComparer.Ordinal)
    {
        ["abs"] = Abs,
        ["attr"] = Attr,
        ["batch"] = Batch,
        ["capitalize"] = (ctx, v, a) => { a.Bind("capitalize", []); return PyText.Capitalize(ctx.Str(v)); },
        ["center"] = (ctx, v, a) => PyText.Pad(ctx.Str(v), PyOps.ToIndex(CallArgs.Or(a.Bind("center", ["width"])[0], 80L), "width"), ' ', 0, ctx.Limits.MaxOutputLength),
        ["count"] = Length,
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["e"] = Escape,
        ["escape"] = Escape,
        ["first"] = First,
        ["float"] = Float,
        ["forceescape"] = (ctx, v, a) => { a.Bind("forceescape", []); return new SafeString(SafeString.Escape(ctx.Str(v))); },
        ["format"] = Format,
        ["indent"] = Indent,
        ["int"] = Int,
        ["items"] = Items,
        ["join"] = Join,
        ["last"] = Last,
        ["length"] = Length,
        ["list"] = (_, v, a) => { a.Bind("list", []); return new List<object?>(PyOps.Iterate(v)); },
        ["lower"] = (ctx, v, a) => { a.Bind("lower", []); return PyText.Lower(ctx.Str(v)); },
        ["map"] = Map,
        ["max"] = (ctx, v, a) => MinMax(ctx, v, a, "max"),
        ["min"] = (ctx, v, a) => MinMax(ctx, v, a, "min"),
        ["reject"] = (ctx, v, a) => Select(ctx, v, a, lookupAttribute: false, keep: false),
        ["rejectattr"] = (ctx, v, a) => Select(ctx, v, a, lookupAttribute: true, keep: false),
        ["replace"] = Replace,
        ["reverse"] = Reverse,
        ["round"] = Round,
        ["safe"] = (ctx, v, a) => { a.Bind("safe", []); return v as SafeString ?? new SafeString(ctx.Str(v)); },
        ["select"] = (ctx, v, a) => Select(ctx, v, a, lookupAttribute: false, keep: true),
        ["selectattr"] = (ctx, v, a) => Select(ctx, v, a, lookupAttribute: true, keep: true),
        ["slice"] = Slice,
        ["sort"] = Sort,
        ["string"] = (ctx, v, a) => { a.Bind("string", []); return v is SafeString ? v : ctx.Str(v); },
        ["sum"] = Sum,
        ["title"] = Title,
        ["tojson"] = ToJson,
        ["trim"] = (ctx, v, a) => PyText.Strip(ctx.Str(v), OptionalString(a.Bind("trim", ["chars"])[0], "trim")),
        ["truncate"] = Truncate,
        ["unique"] = Unique,
        ["upper"] = (ctx, v, a) => { a.Bind("upper", []); return PyText.Upper(ctx.Str(v)); },
        ["wordcount"] = (ctx, v, a) => { a.Bind("wordcount", []); return (long)WordRegex().Matches(ctx.Str(v)).Count; },
    };

    static string? OptionalString(object? v, string filter) => v switch
    {
        Missing or null => null,
        string s => s,
        SafeString m => m.Value,
        _ => throw JinjaError.Type($"{filter}: expected a string argument, got {PyOps.TypeName(v)}"),
    };

    static object? IgnoreCase(object? v) => v is string s ? PyText.Lower(s) : v is SafeString m ? PyText.Lower(m.Value) : v;

    /// <summary>Jinja2's make_attrgetter: "a.b.0" looks up item a, then b, then 0 (digits become ints).</summary>
    static Func<object?, object?> AttrGetter(object? attribute, bool ignoreCase = false, object? fallback = null)
    {
        object?[] parts = attribute switch
        {
            null => [],
            string s => s.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? (object?)long.Parse(p, CultureInfo.InvariantCulture) : p).ToArray(),
            _ => [attribute],
        };
        return item =>
        {
            foreach (var p in parts)
            {
                item = PyAccess.GetItem(item, p);
                if (fallback != null && item is Undefined) item = fallback;
            }
            return ignoreCase ? IgnoreCase(item) : item;
        };
    }

    static List<object?> StableSort(IReadOnlyList<object?> items, Func<object?, object?> key, bool reverse)
    {
        var keyed = items.Select((item, i) => (item, key: key(item), i)).ToList();
        try
        {
            keyed.Sort((x, y) =>
            {
                int c = PyOps.Compare(x.key, y.key);
                if (c == 2) c = 0;
                if (reverse) c = -c;
                return c != 0 ? c : x.i.CompareTo(y.i);
            });
        }
        catch (InvalidOperationException e) when (e.InnerException != null)
        {
            // List.Sort wraps what the comparison throws (e.g. TypeError for '<' between str and int).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
        return keyed.Select(k => k.item).ToList();
    }

    static object? Abs(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("abs", []);
        return v switch
        {
            long l => l == long.MinValue ? PyInt.Normalize(BigInteger.Abs(l)) : Math.Abs(l),
            bool b => b ? 1L : 0L,
            double d => Math.Abs(d),
            BigInteger big => PyInt.Normalize(BigInteger.Abs(big)),
            Undefined u => throw u.Fail(),
            _ => throw JinjaError.Type($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
        };
    }

    static object? Attr(RenderContext ctx, object? v, CallArgs a)
    {
        var name = a.Bind("attr", ["name"], 1)[0];
        if (v is Undefined u) throw u.Fail();
        string key = ctx.Str(name);
        return PyAccess.TryAttribute(v, key, out var r) ? r : Undefined.Member(v, key);
    }

    static object? Batch(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("batch", ["linecount", "fill_with"], 1);
        long n = PyOps.ToIndex(b[0], "linecount");
        var fill = CallArgs.Or(b[1], null);
        var result = new List<object?>();
        var tmp = new List<object?>();
        foreach (var item in PyOps.Iterate(v))
        {
            if (tmp.Count == n) { result.Add(tmp); tmp = new List<object?>(); }
            tmp.Add(item);
        }
        if (tmp.Count > 0)
        {
            if (fill != null && tmp.Count < n)
            {
                ctx.CheckItems(n);
                while (tmp.Count < n) tmp.Add(fill);
            }
            result.Add(tmp);
        }
        return new PyGenerator("generator", result);
    }

    static object? Default(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("default", ["default_value", "boolean"]);
        bool boolean = b[1] is not Missing && PyOps.Truthy(b[1]);
        return v is Undefined || (boolean && !PyOps.Truthy(v)) ? CallArgs.Or(b[0], "") : v;
    }

    static object? DictSort(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("dictsort", ["case_sensitive", "by", "reverse"]);
        bool caseSensitive = b[0] is not Missing && PyOps.Truthy(b[0]);
        string by = b[1] is Missing ? "key" : ctx.Str(b[1]);
        int pos = by switch { "key" => 0, "value" => 1, _ => throw new JinjaError("FilterArgumentError", "You can only sort by either \"key\" or \"value\"") };
        if (v is not PyDict d) throw new JinjaError("AttributeError", $"'{PyOps.TypeName(v)}' object has no attribute 'items'");
        return StableSort(ObjectMethods.Items(d), item =>
        {
            var key = ((PyTuple)item!)[pos];
            return caseSensitive ? key : IgnoreCase(key);
        }, b[2] is not Missing && PyOps.Truthy(b[2]));
    }

    static object? Escape(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("escape", []);
        return v as SafeString ?? new SafeString(SafeString.Escape(ctx.Str(v)));
    }

    static object? First(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("first", []);
        var items = PyOps.Iterate(v);
        return items.Count > 0 ? items[0] : Undefined.WithHint("No first item, sequence was empty.");
    }

    static object? Last(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("last", []);
        if (v is PyGenerator g) throw JinjaError.Type($"'{g.Kind}' object is not reversible");
        var items = PyOps.Iterate(v);
        return items.Count > 0 ? items[^1] : Undefined.WithHint("No last item, sequence was empty.");
    }

    static object? Float(RenderContext ctx, object? v, CallArgs a)
    {
        var fallback = CallArgs.Or(a.Bind("float", ["default"])[0], 0.0);
        return v switch
        {
            double d => d,
            long or bool or BigInteger => PyOps.ToDouble(v),
            string or SafeString => ParsePythonFloat(ctx.Str(v), out var d) ? d : fallback,
            _ => fallback,
        };
    }

    static bool ParsePythonFloat(string s, out double d)
    {
        s = PyText.Strip(s);
        string t = s.ToLowerInvariant().TrimStart('+', '-');
        bool neg = s.StartsWith('-');
        if (t is "inf" or "infinity") { d = neg ? double.NegativeInfinity : double.PositiveInfinity; return s.Count(c => c is '+' or '-') <= 1; }
        if (t == "nan") { d = double.NaN; return s.Count(c => c is '+' or '-') <= 1; }
        d = 0;
        if (s.Length == 0 || s.Contains("__") || s.StartsWith('_') || s.EndsWith('_') || s.Contains("._") || s.Contains("_.")) return false;
        foreach (char c in s) if (!(char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '+' or '-' or '_')) return false;
        return double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out d);
    }

    static object? Format(RenderContext ctx, object? v, CallArgs a)
    {
        if (a.Positional.Count > 0 && a.Named is { Count: > 0 })
            throw new JinjaError("FilterArgumentError", "can't handle positional and keyword arguments at the same time");
        object? args;
        if (a.Named is { Count: > 0 })
        {
            var d = new PyDict();
            foreach (var (k, x) in a.Named) d.Set(k, x);
            args = d;
        }
        else args = new PyTuple(a.Positional.ToArray());
        return PyFormat.Percent(ctx, ctx.Str(v), args);
    }

    static object? Indent(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("indent", ["width", "first", "blank"]);
        object? width = CallArgs.Or(b[0], 4L);
        string indention = width is string ws ? ws : width is SafeString wm ? wm.Value : new string(' ', (int)Math.Clamp(PyOps.ToIndex(width, "width"), 0, ctx.Limits.MaxOutputLength));
        bool first = b[1] is not Missing && PyOps.Truthy(b[1]);
        bool blank = b[2] is not Missing && PyOps.Truthy(b[2]);
        if (v is Undefined u) throw u.Fail();
        if (v is List<object?>) throw new JinjaError("AttributeError", "'list' object has no attribute 'splitlines'");
        if (!PyOps.TryString(v, out var text)) throw JinjaError.Type($"unsupported operand type(s) for +=: '{PyOps.TypeName(v)}' and 'str'");
        string s = text + "\n";
        var lines = PyText.SplitLines(s).Cast<string>().ToList();
        ctx.CheckLength(s.Length + (long)indention.Length * (lines.Count + 1));
        var sb = new StringBuilder();
        if (blank) sb.AppendJoin("\n" + indention, lines);
        else
        {
            sb.Append(lines[0]);
            for (int i = 1; i < lines.Count; i++)
            {
                sb.Append('\n');
                if (lines[i].Length > 0) sb.Append(indention);
                sb.Append(lines[i]);
            }
        }
        if (first) sb.Insert(0, indention);
        return sb.ToString();
    }

    static object? Int(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("int", ["default", "base"]);
        var fallback = CallArgs.Or(b[0], 0L);
        long numberBase = b[1] is Missing ? 10 : PyOps.ToIndex(b[1], "base");
        switch (v)
        {
            case long or BigInteger: return v;
            case bool flag: return flag ? 1L : 0L;
            case double d:
                if (double.IsNaN(d)) throw JinjaError.Value("cannot convert float NaN to integer");
                if (double.IsInfinity(d)) throw new JinjaError("OverflowError", "cannot convert float infinity to integer");
                return PyInt.Normalize(new BigInteger(Math.Truncate(d)));
            case string or SafeString:
            {
                string s = ctx.Str(v);
                if (TryParsePythonInt(s, numberBase, out var n)) return n;
                if (ParsePythonFloat(s, out var f) && !double.IsNaN(f) && !double.IsInfinity(f)) return PyInt.Normalize(new BigInteger(Math.Truncate(f)));
                return fallback;
            }
            default: return fallback;
        }
    }

    static bool TryParsePythonInt(string s, long numberBase, out object value)
    {
        value = 0L;
        s = PyText.Strip(s);
        bool neg = false;
        if (s.StartsWith('-') || s.StartsWith('+')) { neg = s[0] == '-'; s = s[1..]; }
        if (s.Length >= 2 && s[0] == '0')
        {
            char p = char.ToLowerInvariant(s[1]);
            if ((p == 'x' && numberBase is 16 or 0) || (p == 'o' && numberBase is 8 or 0) || (p == 'b' && numberBase is 2 or 0))
            {
                numberBase = p == 'x' ? 16 : p == 'o' ? 8 : 2;
                s = s[2..];
                if (s.StartsWith('_')) s = s[1..];
            }
        }
        if (numberBase == 0) numberBase = 10;
        if (numberBase is < 2 or > 36 || s.Length == 0 || s.StartsWith('_') || s.EndsWith('_') || s.Contains("__")) return false;
        BigInteger v = 0;
        foreach (char c in s)
        {
            if (c == '_') continue;
            int digit = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiLetter(c) ? char.ToLowerInvariant(c) - 'a' + 10 : 99;
            if (digit >= numberBase) return false;
            v = v * numberBase + digit;
        }
        value = PyInt.Normalize(neg ? -v : v);
        return true;
    }

    static object? Items(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("items", []);
        return v switch
        {
            Undefined => new PyGenerator("generator", new List<object?>()),
            PyDict d => new PyGenerator("generator", ObjectMethods.Items(d)),
            _ => throw JinjaError.Type("Can only get item pairs from a mapping."),
        };
    }

    static object? Join(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("join", ["d", "attribute"]);
        string sep = b[0] is Missing ? "" : ctx.Str(b[0]);
        var items = PyOps.Iterate(v);
        var getter = b[1] is Missing or null ? null : AttrGetter(b[1]);
        var sb = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(sep);
            sb.Append(ctx.Str(getter != null ? getter(items[i]) : items[i]));
            ctx.CheckLength(sb.Length);
        }
        return sb.ToString();
    }

    static object? Length(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("length", []);
        return PyOps.Length(v);
    }

    static object? Map(RenderContext ctx, object? v, CallArgs a)
    {
        Func<object?, object?> func;
        if (a.Positional.Count == 0 && a.Named?.Any(kv => kv.Key == "attribute") == true)
        {
            var b = a.Bind("map", ["attribute", "default"]);
            func = AttrGetter(b[0], fallback: CallArgs.Or(b[1], null));
        }
        else
        {
            if (a.Positional.Count == 0) throw new JinjaError("FilterArgumentError", "map requires a filter argument");
            string name = ctx.Str(a.Positional[0]);
            if (!All.TryGetValue(name, out var filter)) throw JinjaError.Runtime($"No filter named '{name}'.");
            var rest = new CallArgs();
            rest.Positional.AddRange(a.Positional.Skip(1));
            if (a.Named != null) foreach (var (k, x) in a.Named) rest.AddNamed(k, x);
            func = item => ctx.Track(filter(ctx, item, rest));
        }
        var result = new List<object?>();
        if (PyOps.Truthy(v)) // Jinja2: `if value: for item in value: ...`
            foreach (var item in PyOps.Iterate(v)) result.Add(func(item));
        return new PyGenerator("generator", result);
    }

    static object? MinMax(RenderContext ctx, object? v, CallArgs a, string name)
    {
        var b = a.Bind(name, ["case_sensitive", "attribute"]);
        bool caseSensitive = b[0] is not Missing && PyOps.Truthy(b[0]);
        var key = AttrGetter(b[1] is Missing ? null : b[1], ignoreCase: !caseSensitive);
        var items = PyOps.Iterate(v);
        if (items.Count == 0) return Undefined.WithHint("No aggregated item, sequence was empty.");
        object? best = items[0], bestKey = key(best);
        for (int i = 1; i < items.Count; i++)
        {
            var k = key(items[i]);
            int c = PyOps.Compare(k, bestKey);
            if (c != 2 && (name == "max" ? c > 0 : c < 0)) { best = items[i]; bestKey = k; }
        }
        return best;
    }

    static object? Select(RenderContext ctx, object? v, CallArgs a, bool lookupAttribute, bool keep)
    {
        string filterName = (keep ? "select" : "reject") + (lookupAttribute ? "attr" : "");
        int off = 0;
        Func<object?, object?> transform = x => x;
        if (lookupAttribute)
        {
            if (a.Positional.Count == 0) throw new JinjaError("FilterArgumentError", "Missing parameter for attribute name");
            transform = AttrGetter(a.Positional[0]);
            off = 1;
        }
        Func<object?, bool> test;
        if (a.Positional.Count > off)
        {
            string testName = ctx.Str(a.Positional[off]);
            var rest = new CallArgs();
            rest.Positional.AddRange(a.Positional.Skip(off + 1));
            if (a.Named != null) foreach (var (k, x) in a.Named) rest.AddNamed(k, x);
            test = item => BuiltinTests.Run(ctx, testName, item, rest);
        }
        else
        {
            if (a.Named is { Count: > 0 }) throw JinjaError.Type($"{filterName}() got an unexpected keyword argument '{a.Named[0].Key}'");
            test = PyOps.Truthy;
        }
        var result = new List<object?>();
        if (PyOps.Truthy(v)) // Jinja2: `if value: for item in value: ...`
            foreach (var item in PyOps.Iterate(v))
                if (test(transform(item)) == keep) result.Add(item);
        return new PyGenerator("generator", result);
    }

    static object? Replace(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("replace", ["old", "new", "count"], 2);
        long count = b[2] is Missing or null ? -1 : PyOps.ToIndex(b[2], "count");
        return PyText.Replace(ctx.Str(v), ctx.Str(b[0]), ctx.Str(b[1]), count, ctx.Limits.MaxOutputLength);
    }

    static object? Reverse(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("reverse", []);
        if (PyOps.TryString(v, out var s)) return PyText.Reverse(s);
        if (!PyOps.IsIterable(v)) throw new JinjaError("FilterArgumentError", "argument must be iterable");
        var items = new List<object?>(PyOps.Iterate(v));
        items.Reverse();
        // reversed() of a list is an iterator; a generator cannot be reversed, so Jinja2 makes it a list.
        return v switch
        {
            PyGenerator => items,
            List<object?> => new PyGenerator("list_reverseiterator", items),
            PyDict => new PyGenerator("dict_reversekeyiterator", items),
            _ => new PyGenerator("reversed", items),
        };
    }

    static object? Round(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("round", ["precision", "method"]);
        long precision = b[0] is Missing ? 0 : PyOps.ToIndex(b[0], "precision");
        string method = b[1] is Missing ? "common" : ctx.Str(b[1]);
        if (method is not ("common" or "ceil" or "floor")) throw new JinjaError("FilterArgumentError", "method must be common, ceil or floor");
        if (v is Undefined u) throw u.Fail();
        if (!PyOps.IsNumber(v)) throw JinjaError.Type($"type {PyOps.TypeName(v)} doesn't define __round__ method");
        if (method == "common" && PyInt.IsInt(v))
        {
            var x = PyInt.ToBig(v!);
            if (precision >= 0) return PyInt.Normalize(x);
            if (precision < -400) return 0L;
            // Python's round(int, -n): to a multiple of 10**n, ties to even.
            var m = BigInteger.Pow(10, (int)-precision);
            var (q, r) = PyInt.DivMod(x, m);
            var twice = 2 * r;
            if (twice > m || (twice == m && !q.IsEven)) q += 1;
            return PyInt.Normalize(q * m);
        }
        double d = PyOps.ToDouble(v!);
        double scale = Math.Pow(10, precision);
        if (method == "common") return RoundHalfEven(d, precision);
        double whole = method == "ceil" ? Math.Ceiling(d * scale) : Math.Floor(d * scale);
        if (!double.IsFinite(whole)) throw new JinjaError(double.IsNaN(whole) ? "ValueError" : "OverflowError", $"cannot convert float {(double.IsNaN(whole) ? "NaN" : "infinity")} to integer");
        return (whole + 0.0) / scale; // math.floor/ceil return ints, so -0.0 becomes 0
    }

    /// <summary>Python's round(float, n): the exact binary value rounded half-to-even at the n-th decimal, then
    /// read back as the nearest float (Math.Round scales by 10^n and loses precision on large values).</summary>
    static double RoundHalfEven(double x, long n)
    {
        if (!double.IsFinite(x) || x == 0) return x;
        if (n > 340) return x;
        if (n < -340) return Math.CopySign(0.0, x);
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exp = (int)((bits >> 52) & 0x7FF);
        long frac = bits & 0xFFFFFFFFFFFFFL;
        BigInteger m = exp == 0 ? frac : frac | (1L << 52);
        int e = (exp == 0 ? 1 : exp) - 1075; // |x| = m * 2^e
        BigInteger num = m, den = BigInteger.One;
        if (e >= 0) num <<= e; else den <<= -e;
        if (n >= 0) num *= BigInteger.Pow(10, (int)n); else den *= BigInteger.Pow(10, (int)-n);
        var (q, r) = PyInt.DivMod(num, den);
        var twice = 2 * r;
        if (twice > den || (twice == den && !q.IsEven)) q += 1;
        string text = q.ToString(CultureInfo.InvariantCulture) + "e" + (-n).ToString(CultureInfo.InvariantCulture);
        double result = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return x < 0 ? -result : result;
    }

    static object? Slice(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("slice", ["slices", "fill_with"], 1);
        long slices = PyOps.ToIndex(b[0], "slices");
        var fill = CallArgs.Or(b[1], null);
        var seq = PyOps.Iterate(v);
        if (slices <= 0) throw new JinjaError("ZeroDivisionError", "integer division or modulo by zero");
        ctx.CheckItems(slices);
        long per = seq.Count / slices, extra = seq.Count % slices, offset = 0;
        var result = new List<object?>();
        for (long n = 0; n < slices; n++)
        {
            long start = offset + n * per;
            if (n < extra) offset++;
            long end = offset + (n + 1) * per;
            var tmp = new List<object?>();
            for (long i = start; i < end && i < seq.Count; i++) tmp.Add(seq[(int)i]);
            if (fill != null && n >= extra) tmp.Add(fill);
            result.Add(tmp);
        }
        return new PyGenerator("generator", result);
    }

    static object? Sort(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("sort", ["reverse", "case_sensitive", "attribute"]);
        bool reverse = b[0] is not Missing && PyOps.Truthy(b[0]);
        bool caseSensitive = b[1] is not Missing && PyOps.Truthy(b[1]);
        // Jinja2's make_multi_attrgetter: the key is always a list (one entry per comma-separated attribute),
        // so items whose attribute is missing compare equal instead of failing.
        var getters = (b[2] is string attrs ? attrs.Split(',').Select(p => (object?)p.Trim()) : [b[2] is Missing ? null : b[2]])
            .Select(p => AttrGetter(p, ignoreCase: !caseSensitive)).ToArray();
        Func<object?, object?> key = item => new List<object?>(getters.Select(g => g(item)));
        return StableSort(PyOps.Iterate(v), key, reverse);
    }

    static object? Sum(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("sum", ["attribute", "start"]);
        object? total = CallArgs.Or(b[1], 0L);
        var getter = b[0] is Missing or null ? null : AttrGetter(b[0]);
        foreach (var item in PyOps.Iterate(v)) total = PyOps.Add(ctx, total, getter != null ? getter(item) : item);
        return total;
    }

    static object? Title(RenderContext ctx, object? v, CallArgs a)
    {
        a.Bind("title", []);
        var sb = new StringBuilder();
        foreach (var part in WordBeginningRegex().Split(ctx.Str(v)))
        {
            if (part.Length == 0) continue;
            sb.Append(char.ToUpperInvariant(part[0])).Append(part[1..].ToLowerInvariant());
        }
        return sb.ToString();
    }

    static readonly string[] ToJsonParameters = ["ensure_ascii", "indent", "separators", "sort_keys"];

    static object? ToJson(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("tojson", ToJsonParameters);
        bool ensureAscii = b[0] is not Missing && PyOps.Truthy(b[0]);
        string? indent = b[1] switch
        {
            Missing or null => null,
            string s => s,
            _ => new string(' ', (int)Math.Clamp(PyOps.ToIndex(b[1], "indent"), 0, 1024)),
        };
        string? itemSep = null, keySep = null;
        if (b[2] is not (Missing or null))
        {
            var seps = PyOps.Iterate(b[2]);
            if (seps.Count != 2 || !PyOps.TryString(seps[0], out var s1) || !PyOps.TryString(seps[1], out var s2))
                throw JinjaError.Value("separators must be a (item_separator, key_separator) pair of strings");
            itemSep = s1;
            keySep = s2;
        }
        bool sortKeys = b[3] is not Missing && PyOps.Truthy(b[3]);
        return PyJson.Dumps(v, ensureAscii, indent, itemSep, keySep, sortKeys, ctx.Limits.MaxOutputLength);
    }

    static object? Truncate(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("truncate", ["length", "killwords", "end", "leeway"]);
        long length = b[0] is Missing ? 255 : PyOps.ToIndex(b[0], "length");
        bool killwords = b[1] is not Missing && PyOps.Truthy(b[1]);
        string end = b[2] is Missing ? "..." : ctx.Str(b[2]);
        long leeway = b[3] is Missing or null ? 5 : PyOps.ToIndex(b[3], "leeway");
        if (length < end.Length) throw new JinjaError("AssertionError", $"expected length >= {end.Length}, got {length}");
        if (leeway < 0) throw new JinjaError("AssertionError", $"expected leeway >= 0, got {leeway}");
        if (PyOps.Length(v) <= length + leeway) return v; // Jinja2 returns the value itself, not its str()
        if (v is PyDict) throw JinjaError.Type("unhashable type: 'slice'");
        if (!PyOps.TryString(v, out var s))
            throw killwords ? JinjaError.Type($"can only concatenate {PyOps.TypeName(v)} (not \"str\") to {PyOps.TypeName(v)}")
                : new JinjaError("AttributeError", $"'{PyOps.TypeName(v)}' object has no attribute 'rsplit'");
        string head = PyText.Slice(s, null, length - end.Length, null);
        if (killwords) return head + end;
        int space = head.LastIndexOf(' ');
        return (space < 0 ? head : head[..space]) + end;
    }

    static object? Unique(RenderContext ctx, object? v, CallArgs a)
    {
        var b = a.Bind("unique", ["case_sensitive", "attribute"]);
        bool caseSensitive = b[0] is not Missing && PyOps.Truthy(b[0]);
        var key = AttrGetter(b[1] is Missing ? null : b[1], ignoreCase: !caseSensitive);
        var seen = new PyDict();
        var result = new List<object?>();
        foreach (var item in PyOps.Iterate(v))
        {
            var k = key(item);
            if (seen.ContainsKey(k)) continue;
            seen.Set(k, null);
            result.Add(item);
        }
        return new PyGenerator("generator", result);
    }

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginningRegex();

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordRegex();
}

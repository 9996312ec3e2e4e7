using System.Text;

namespace QwenSharp.Templates.Jinja;

internal enum MethodKind { None, Safe, Unsafe }

/// <summary>
/// The Python methods templates call on values: str methods (startswith, split, strip with a character set,
/// replace, format, ...), dict.get/keys/values/items, list.count/index. Methods that would change a list or dict
/// (append, update, pop, ...) exist but are unsafe: calling one raises a SecurityError, as in transformers'
/// immutable sandbox.
/// </summary>
internal static class ObjectMethods
{
    static readonly HashSet<string> StrMethods = new(StringComparer.Ordinal)
    {
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha",
        "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "upper", "zfill",
    };
    static readonly HashSet<string> DictSafe = new(StringComparer.Ordinal) { "get", "keys", "values", "items", "copy" };
    static readonly HashSet<string> DictUnsafe = new(StringComparer.Ordinal) { "clear", "pop", "popitem", "setdefault", "update" };
    static readonly HashSet<string> ListSafe = new(StringComparer.Ordinal) { "count", "index", "copy" };
    static readonly HashSet<string> ListUnsafe = new(StringComparer.Ordinal) { "append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort" };

    public static MethodKind Kind(object? obj, string name) => obj switch
    {
        string or SafeString => StrMethods.Contains(name) ? MethodKind.Safe : MethodKind.None,
        PyDict => DictSafe.Contains(name) ? MethodKind.Safe : DictUnsafe.Contains(name) ? MethodKind.Unsafe : MethodKind.None,
        List<object?> => ListSafe.Contains(name) ? MethodKind.Safe : ListUnsafe.Contains(name) ? MethodKind.Unsafe : MethodKind.None,
        PyTuple => name is "count" or "index" ? MethodKind.Safe : MethodKind.None,
        double => name == "is_integer" ? MethodKind.Safe : MethodKind.None,
        _ => MethodKind.None,
    };

    /// <summary>Calls <c>obj.name(args)</c> directly when it is a known safe method.</summary>
    public static bool TryCall(RenderContext ctx, object? obj, string name, CallArgs args, out object? result)
    {
        result = null;
        if (Kind(obj, name) != MethodKind.Safe) return false;
        result = Call(ctx, obj, name, args);
        return true;
    }

    public static object? Call(RenderContext ctx, object? obj, string name, CallArgs args)
    {
        switch (obj)
        {
            case string s: return StrMethod(ctx, s, name, args);
            case SafeString m: return StrMethod(ctx, m.Value, name, args);
            case PyDict d: return DictMethod(d, name, args);
            case List<object?> or PyTuple: return SequenceMethod((IReadOnlyList<object?>)obj, obj is PyTuple, name, args);
            case double x when name == "is_integer": args.Bind("is_integer", []); return !double.IsInfinity(x) && x == Math.Floor(x);
        }
        throw JinjaError.Type($"'{PyOps.TypeName(obj)}' object has no method '{name}'");
    }

    static string Str(object? v, string function, string what)
    {
        if (PyOps.TryString(v, out var s)) return s;
        if (v is Undefined u) throw u.Fail();
        throw JinjaError.Type($"{function}() argument {what} must be str, not {PyOps.TypeName(v)}");
    }

    static string? StrOrNone(object? v, string function)
    {
        if (v is null or Missing) return null;
        return Str(v, function, "1");
    }

    static long? IndexOrNone(object? v) => v is null or Missing ? null : PyOps.ToIndex(v, "slice index");

    static readonly string[] SepMax = ["sep", "maxsplit"];
    static readonly string[] Chars = ["chars"];
    static readonly string[] SubStartEnd = ["sub", "start", "end"];
    static readonly string[] PrefixStartEnd = ["prefix", "start", "end"];
    static readonly string[] WidthFill = ["width", "fillchar"];

    static object? StrMethod(RenderContext ctx, string s, string name, CallArgs args)
    {
        object?[] a;
        switch (name)
        {
            case "startswith":
            case "endswith":
            {
                a = args.Bind(name, PrefixStartEnd, 1);
                string target = a[1] is Missing && a[2] is Missing ? s : PyText.Slice(s, IndexOrNone(a[1]), IndexOrNone(a[2]), null);
                IEnumerable<object?> options = a[0] is PyTuple t ? t : [a[0]];
                foreach (var o in options)
                {
                    if (!PyOps.TryString(o, out var p))
                        throw JinjaError.Type($"{name} first arg must be str or a tuple of str, not {PyOps.TypeName(o)}");
                    if (name == "startswith" ? target.StartsWith(p, StringComparison.Ordinal) : target.EndsWith(p, StringComparison.Ordinal)) return true;
                }
                return false;
            }
            case "split":
            case "rsplit":
            {
                a = args.Bind(name, SepMax);
                string? sep = StrOrNone(a[0], name);
                long max = a[1] is Missing ? -1 : PyOps.ToIndex(a[1], "maxsplit");
                return name == "split" ? PyText.Split(s, sep, max) : PyText.RSplit(s, sep, max);
            }
            case "strip": a = args.Bind(name, Chars); return PyText.Strip(s, StrOrNone(a[0], name));
            case "lstrip": a = args.Bind(name, Chars); return PyText.LStrip(s, StrOrNone(a[0], name));
            case "rstrip": a = args.Bind(name, Chars); return PyText.RStrip(s, StrOrNone(a[0], name));
            case "upper": args.Bind(name, []); return PyText.Upper(s);
            case "lower": case "casefold": args.Bind(name, []); return PyText.Lower(s);
            case "title": args.Bind(name, []); return PyText.Title(s);
            case "capitalize": args.Bind(name, []); return PyText.Capitalize(s);
            case "swapcase": args.Bind(name, []); return PyText.SwapCase(s);
            case "replace":
            {
                a = args.Bind(name, ["old", "new", "count"], 2);
                long count = a[2] is Missing ? -1 : PyOps.ToIndex(a[2], "count");
                return PyText.Replace(s, Str(a[0], name, "1"), Str(a[1], name, "2"), count, ctx.Limits.MaxOutputLength);
            }
            case "find":
            case "rfind":
            case "index":
            case "rindex":
            {
                a = args.Bind(name, SubStartEnd, 1);
                long r = PyText.Find(s, Str(a[0], name, "1"), IndexOrNone(a[1]), IndexOrNone(a[2]), reverse: name[0] == 'r');
                if (r < 0 && name.EndsWith("index", StringComparison.Ordinal)) throw JinjaError.Value("substring not found");
                return r;
            }
            case "count":
                a = args.Bind(name, SubStartEnd, 1);
                return PyText.Count(s, Str(a[0], name, "1"), IndexOrNone(a[1]), IndexOrNone(a[2]));
            case "join":
            {
                a = args.Bind(name, ["iterable"], 1);
                var items = PyOps.Iterate(a[0]);
                var sb = new StringBuilder();
                for (int i = 0; i < items.Count; i++)
                {
                    if (!PyOps.TryString(items[i], out var part))
                        throw JinjaError.Type($"sequence item {i}: expected str instance, {PyOps.TypeName(items[i])} found");
                    if (i > 0) sb.Append(s);
                    sb.Append(part);
                    ctx.CheckLength(sb.Length);
                }
                return sb.ToString();
            }
            case "center":
            case "ljust":
            case "rjust":
            {
                a = args.Bind(name, WidthFill, 1);
                string fill = a[1] is Missing ? " " : Str(a[1], name, "2");
                if (fill.Length != 1) throw JinjaError.Type("The fill character must be exactly one character long");
                int align = name == "center" ? 0 : name == "ljust" ? -1 : 1;
                return PyText.Pad(s, PyOps.ToIndex(a[0], "width"), fill[0], align, ctx.Limits.MaxOutputLength);
            }
            case "zfill":
            {
                a = args.Bind(name, ["width"], 1);
                long width = PyOps.ToIndex(a[0], "width");
                if (s.Length > 0 && (s[0] == '+' || s[0] == '-'))
                    return s[0] + PyText.Pad(s[1..], width - 1, '0', 1, ctx.Limits.MaxOutputLength);
                return PyText.Pad(s, width, '0', 1, ctx.Limits.MaxOutputLength);
            }
            case "partition":
            case "rpartition":
            {
                a = args.Bind(name, ["sep"], 1);
                string sep = Str(a[0], name, "1");
                if (sep.Length == 0) throw JinjaError.Value("empty separator");
                int k = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (k < 0) return name == "partition" ? new PyTuple([s, "", ""]) : new PyTuple(["", "", s]);
                return new PyTuple([s[..k], sep, s[(k + sep.Length)..]]);
            }
            case "removeprefix":
            {
                a = args.Bind(name, ["prefix"], 1);
                string p = Str(a[0], name, "1");
                return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s;
            }
            case "removesuffix":
            {
                a = args.Bind(name, ["suffix"], 1);
                string p = Str(a[0], name, "1");
                return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s;
            }
            case "splitlines":
            {
                a = args.Bind(name, ["keepends"]);
                return PyText.SplitLines(s, a[0] is not Missing && PyOps.Truthy(a[0]));
            }
            case "format": return PyFormat.StrFormat(ctx, s, args);
            case "isupper": args.Bind(name, []); return PyText.IsUpper(s);
            case "islower": args.Bind(name, []); return PyText.IsLower(s);
            case "istitle": args.Bind(name, []); return s.Length > 0 && PyText.Title(s) == s && s.Any(char.IsLetter);
            case "isspace": args.Bind(name, []); return s.Length > 0 && s.All(PyText.IsSpace);
            case "isalpha": args.Bind(name, []); return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": args.Bind(name, []); return s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || char.IsNumber(c));
            case "isdigit": case "isdecimal": args.Bind(name, []); return s.Length > 0 && s.All(char.IsDigit);
            case "isnumeric": args.Bind(name, []); return s.Length > 0 && s.All(char.IsNumber);
            case "isascii": args.Bind(name, []); return s.All(c => c < 128);
        }
        throw JinjaError.Type($"'str' object has no method '{name}'");
    }

    static object? DictMethod(PyDict d, string name, CallArgs args)
    {
        switch (name)
        {
            case "get":
            {
                var a = args.Bind("get", ["key", "default"], 1);
                return d.TryGetValue(a[0], out var v) ? v : CallArgs.Or(a[1], null);
            }
            case "keys": args.Bind(name, []); return new PyDictView("dict_keys", d.Keys.ToList());
            case "values":
            {
                args.Bind(name, []);
                var list = new List<object?>(d.Count);
                for (int i = 0; i < d.Count; i++) list.Add(d.ValueAt(i));
                return new PyDictView("dict_values", list);
            }
            case "items": args.Bind(name, []); return new PyDictView("dict_items", Items(d));
            case "copy": args.Bind(name, []); return d.Copy();
        }
        throw JinjaError.Type($"'dict' object has no method '{name}'");
    }

    public static List<object?> Items(PyDict d)
    {
        var list = new List<object?>(d.Count);
        for (int i = 0; i < d.Count; i++) list.Add(new PyTuple([d.KeyAt(i), d.ValueAt(i)]));
        return list;
    }

    static object? SequenceMethod(IReadOnlyList<object?> list, bool isTuple, string name, CallArgs args)
    {
        switch (name)
        {
            case "count":
            {
                var a = args.Bind(name, ["value"], 1);
                return (long)list.Count(x => PyOps.Equal(x, a[0]));
            }
            case "index":
            {
                var a = args.Bind(name, ["value"], 1);
                for (int i = 0; i < list.Count; i++) if (PyOps.Equal(list[i], a[0])) return (long)i;
                throw JinjaError.Value(isTuple ? "tuple.index(x): x not in tuple" : $"{PyRepr.Repr(a[0])} is not in list");
            }
            case "copy": args.Bind(name, []); return new List<object?>(list);
        }
        throw JinjaError.Type($"'{(isTuple ? "tuple" : "list")}' object has no method '{name}'");
    }
}

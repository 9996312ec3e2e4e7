namespace QwenSharp.Templates.Jinja;

/// <summary>
/// The global functions a template can call: Jinja2's <c>range</c> (capped at 100,000 items like the
/// sandbox), <c>dict</c>, <c>namespace</c>, <c>joiner</c>, plus transformers' <c>raise_exception</c> and
/// <c>strftime_now</c>. Nothing else of the host is reachable.
/// </summary>
internal static class BuiltinGlobals
{
    public const int MaxRange = 100_000;

    public static Scope CreateScope() => new(null, new Dictionary<string, object?>(StringComparer.Ordinal)
    {
        ["range"] = new BuiltinFunction("range", Range),
        ["dict"] = new BuiltinFunction("dict", (_, a) => MakeDict("dict", a)),
        ["namespace"] = new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            var d = MakeDict("namespace", a);
            for (int i = 0; i < d.Count; i++) ns.Attributes.Set(d.KeyAt(i), d.ValueAt(i));
            return ns;
        }),
        ["joiner"] = new BuiltinFunction("joiner", (_, a) =>
        {
            var sep = CallArgs.Or(a.Bind("joiner", ["sep"])[0], ", ");
            bool used = false;
            return new BuiltinFunction("joiner", (_, _) =>
            {
                if (!used) { used = true; return ""; }
                return sep;
            });
        }),
        ["raise_exception"] = new BuiltinFunction("raise_exception", (ctx, a) =>
        {
            var message = a.Bind("raise_exception", ["message"], 1)[0];
            throw new JinjaError("TemplateError", ctx.Str(message));
        }),
        ["strftime_now"] = new BuiltinFunction("strftime_now", (ctx, a) =>
        {
            var format = a.Bind("strftime_now", ["format"], 1)[0];
            if (!PyOps.TryString(format, out var f)) throw JinjaError.Type("strftime() argument 1 must be str, not " + PyOps.TypeName(format));
            return PyFormat.Strftime(ctx.Now(), f);
        }),
    });

    static object? Range(RenderContext ctx, CallArgs a)
    {
        if (a.Named is { Count: > 0 }) throw JinjaError.Type("range() takes no keyword arguments");
        var p = a.Positional;
        if (p.Count is < 1 or > 3) throw JinjaError.Type($"range expected at least 1 argument, got {p.Count}");
        long start = 0, stop, step = 1;
        if (p.Count == 1) stop = PyOps.ToIndex(p[0], "range");
        else
        {
            start = PyOps.ToIndex(p[0], "range");
            stop = PyOps.ToIndex(p[1], "range");
            if (p.Count == 3) step = PyOps.ToIndex(p[2], "range");
        }
        if (step == 0) throw JinjaError.Value("range() arg 3 must not be zero");
        long count = (long)Int128.Min(MaxRange + 1, step > 0 ? (stop > start ? ((Int128)stop - start + step - 1) / step : 0) : (start > stop ? ((Int128)start - stop - step - 1) / -(Int128)step : 0));
        if (count > MaxRange) throw new JinjaError("OverflowError", $"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        ctx.CheckItems(count);
        var list = new List<object?>((int)count);
        for (long i = 0, v = start; i < count; i++, v += step) list.Add(v);
        return list;
    }

    static PyDict MakeDict(string function, CallArgs a)
    {
        if (a.Positional.Count > 1) throw JinjaError.Type($"{function} expected at most 1 argument, got {a.Positional.Count}");
        var d = new PyDict();
        if (a.Positional.Count == 1)
        {
            var src = a.Positional[0];
            if (src is PyDict sd) d = sd.Copy();
            else
            {
                foreach (var pair in PyOps.Iterate(src))
                {
                    var kv = PyOps.Iterate(pair);
                    if (kv.Count != 2) throw JinjaError.Value($"dictionary update sequence element has length {kv.Count}; 2 is required");
                    d.Set(kv[0], kv[1]);
                }
            }
        }
        if (a.Named != null) foreach (var (k, v) in a.Named) d.Set(k, v);
        return d;
    }
}

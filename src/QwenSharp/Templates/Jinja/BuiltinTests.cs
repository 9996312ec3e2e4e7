using System.Numerics;

namespace QwenSharp.Templates.Jinja;

/// <summary>Jinja2's tests (<c>x is defined</c>, <c>x is string</c>, <c>x is false</c>, ...), with Jinja2's names
/// and Python semantics (e.g. <c>false</c> only for the boolean False; <c>iterable</c> true for strings,
/// dicts and undefined values).</summary>
internal static class BuiltinTests
{
    static readonly string[] OtherArg = ["other"];

    static object? Other(CallArgs a, string name) => a.Bind(name, OtherArg, 1)[0];

    public static readonly IReadOnlyDictionary<string, TestFunction> All = Build();

    static Dictionary<string, TestFunction> Build()
    {
        var t = new Dictionary<string, TestFunction>(StringComparer.Ordinal)
        {
            ["defined"] = (_, v, a) => { a.Bind("defined", []); return v is not Undefined; },
            ["undefined"] = (_, v, a) => { a.Bind("undefined", []); return v is Undefined; },
            ["none"] = (_, v, a) => { a.Bind("none", []); return v is null; },
            ["boolean"] = (_, v, a) => { a.Bind("boolean", []); return v is bool; },
            ["false"] = (_, v, a) => { a.Bind("false", []); return v is false; },
            ["true"] = (_, v, a) => { a.Bind("true", []); return v is true; },
            ["integer"] = (_, v, a) => { a.Bind("integer", []); return v is long or BigInteger; },
            ["float"] = (_, v, a) => { a.Bind("float", []); return v is double; },
            ["number"] = (_, v, a) => { a.Bind("number", []); return PyOps.IsNumber(v); },
            ["string"] = (_, v, a) => { a.Bind("string", []); return v is string or SafeString; },
            ["mapping"] = (_, v, a) => { a.Bind("mapping", []); return v is PyDict; },
            ["sequence"] = (_, v, a) => { a.Bind("sequence", []); return v is string or SafeString or List<object?> or PyTuple or PyDict or Undefined; },
            ["iterable"] = (_, v, a) => { a.Bind("iterable", []); return PyOps.IsIterable(v); },
            ["callable"] = (_, v, a) => { a.Bind("callable", []); return v is JinjaCallable || (v is LoopContext); },
            ["escaped"] = (_, v, a) => { a.Bind("escaped", []); return v is SafeString; },
            ["lower"] = (ctx, v, a) => { a.Bind("lower", []); return PyText.IsLower(ctx.Str(v)); },
            ["upper"] = (ctx, v, a) => { a.Bind("upper", []); return PyText.IsUpper(ctx.Str(v)); },
            ["odd"] = (ctx, v, a) => { a.Bind("odd", []); return PyOps.Equal(PyOps.Mod(ctx, v, 2L), 1L); },
            ["even"] = (ctx, v, a) => { a.Bind("even", []); return PyOps.Equal(PyOps.Mod(ctx, v, 2L), 0L); },
            ["divisibleby"] = (ctx, v, a) => PyOps.Equal(PyOps.Mod(ctx, v, a.Bind("divisibleby", ["num"], 1)[0]), 0L),
            ["in"] = (_, v, a) => PyOps.Contains(a.Bind("in", ["seq"], 1)[0], v),
            ["sameas"] = (_, v, a) => SameAs(v, Other(a, "sameas")),
            ["filter"] = (_, v, a) => { a.Bind("filter", []); return v is string s && BuiltinFilters.All.ContainsKey(s); },
            ["test"] = (_, v, a) => { a.Bind("test", []); return v is string s && All!.ContainsKey(s); },
        };
        TestFunction eq = (_, v, a) => PyOps.Equal(v, Other(a, "eq"));
        TestFunction ne = (_, v, a) => !PyOps.Equal(v, Other(a, "ne"));
        TestFunction lt = (_, v, a) => PyOps.Order(v, Other(a, "lt"), TokenKind.Lt);
        TestFunction le = (_, v, a) => PyOps.Order(v, Other(a, "le"), TokenKind.LtEq);
        TestFunction gt = (_, v, a) => PyOps.Order(v, Other(a, "gt"), TokenKind.Gt);
        TestFunction ge = (_, v, a) => PyOps.Order(v, Other(a, "ge"), TokenKind.GtEq);
        foreach (var n in new[] { "eq", "equalto", "==" }) t[n] = eq;
        foreach (var n in new[] { "ne", "!=" }) t[n] = ne;
        foreach (var n in new[] { "lt", "lessthan", "<" }) t[n] = lt;
        foreach (var n in new[] { "le", "<=" }) t[n] = le;
        foreach (var n in new[] { "gt", "greaterthan", ">" }) t[n] = gt;
        foreach (var n in new[] { "ge", ">=" }) t[n] = ge;
        return t;
    }

    /// <summary>Python's <c>is</c>: identity, which for None, booleans and small numbers means equal values.</summary>
    static bool SameAs(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y && x is >= -5 and <= 256,
        _ => ReferenceEquals(a, b),
    };

    /// <summary>Runs the test called <paramref name="name"/> (for select/reject, where the name is a value).</summary>
    public static bool Run(RenderContext ctx, string name, object? value, CallArgs args)
    {
        if (!All.TryGetValue(name, out var test)) throw JinjaError.Runtime($"No test named '{name}'.");
        return test(ctx, value, args);
    }
}

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// The <c>loop</c> variable inside a for loop: index, index0, revindex, revindex0, first, last, length,
/// depth, depth0, previtem, nextitem (undefined at the ends), cycle(...), changed(...), and
/// <c>loop(items)</c> for loops marked <c>recursive</c>.
/// </summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int depth0, ForStmt? recursive, Scope outer)
{
    object? _lastChanged = Missing.Value;

    public int Index0 { get; set; }
    public int Length => items.Count;

    public bool TryGetAttribute(string name, out object? value)
    {
        value = name switch
        {
            "index" => (long)(Index0 + 1),
            "index0" => (long)Index0,
            "revindex" => (long)(Length - Index0),
            "revindex0" => (long)(Length - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == Length - 1,
            "length" => (long)Length,
            "depth" => (long)(depth0 + 1),
            "depth0" => (long)depth0,
            "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined.WithHint("there is no previous item", "previtem"),
            "nextitem" => Index0 + 1 < Length ? items[Index0 + 1] : Undefined.WithHint("there is no next item", "nextitem"),
            "cycle" => new BuiltinFunction("cycle", (_, args) =>
            {
                if (args.Positional.Count == 0) throw JinjaError.Type("no items for cycling given");
                return args.Positional[Index0 % args.Positional.Count];
            }),
            "changed" => new BuiltinFunction("changed", (_, args) =>
            {
                var now = new PyTuple(args.Positional.ToArray());
                if (_lastChanged is PyTuple last && PyOps.Equal(last, now)) return false;
                _lastChanged = now;
                return true;
            }),
            _ => Missing.Value,
        };
        return value is not Missing;
    }

    /// <summary><c>loop(children)</c> in a recursive loop: runs the loop body over the children, one level deeper.</summary>
    public object? CallRecursive(RenderContext ctx, CallArgs args)
    {
        if (recursive == null) throw JinjaError.Type("The loop must have the 'recursive' marker to be called recursively.");
        var a = args.Bind("loop", ["iterable"], 1);
        ctx.EnterCall();
        var savedOut = ctx.Output;
        var savedScope = ctx.Scope;
        ctx.Output = new System.Text.StringBuilder();
        ctx.Scope = outer;
        try
        {
            recursive.Loop(ctx, a[0], depth0 + 1);
            return ctx.Output.ToString();
        }
        finally
        {
            ctx.Output = savedOut;
            ctx.Scope = savedScope;
            ctx.ExitCall();
        }
    }
}

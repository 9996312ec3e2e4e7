namespace QwenSharp.Templates.Jinja;

/// <summary>
/// A macro value: its definition plus the scope it was defined in (variables are looked up there when it
/// runs, as in Jinja2). Calling it renders the body and returns the text. Missing arguments take their
/// default (evaluated at call time) or are undefined.
/// </summary>
internal sealed class Macro(MacroDefinition definition, Scope closure) : JinjaCallable
{
    public MacroDefinition Definition { get; } = definition;
    public override string Name => Definition.Name;

    public override object? Call(RenderContext ctx, CallArgs args)
    {
        var def = Definition;
        var parameters = def.Parameters;
        var positional = args.Positional;
        if (positional.Count > parameters.Length && !def.CatchVarargs)
            throw JinjaError.Type($"macro '{Name}' takes not more than {parameters.Length} argument(s)");
        ctx.Tick();
        ctx.EnterCall();
        var savedScope = ctx.Scope;
        try
        {
            var scope = new Scope(closure);
            var named = args.Named == null ? null : new List<KeyValuePair<string, object?>>(args.Named);
            var given = new bool[parameters.Length];
            for (int i = 0; i < parameters.Length; i++)
            {
                if (i < positional.Count) { scope.Set(parameters[i], positional[i]); given[i] = true; continue; }
                int k = named?.FindIndex(kv => kv.Key == parameters[i]) ?? -1;
                if (k >= 0) { scope.Set(parameters[i], named![k].Value); named.RemoveAt(k); given[i] = true; }
            }
            ctx.Scope = scope;
            for (int i = 0; i < parameters.Length; i++)
            {
                if (given[i]) continue;
                var dflt = def.Defaults[i];
                scope.Set(parameters[i], dflt != null ? dflt.Eval(ctx) : Undefined.WithHint($"parameter '{parameters[i]}' was not provided", parameters[i]));
            }
            if (def.UsesCaller && Array.IndexOf(parameters, "caller") < 0)
            {
                int k = named?.FindIndex(kv => kv.Key == "caller") ?? -1;
                object? caller = Undefined.WithHint("No caller defined", "caller");
                if (k >= 0) { caller = named![k].Value; named.RemoveAt(k); }
                scope.Set("caller", caller);
            }
            if (def.CatchKwargs)
            {
                var kw = new PyDict();
                if (named != null) foreach (var (key, value) in named) kw.Set(key, value);
                scope.Set("kwargs", kw);
            }
            else if (named is { Count: > 0 })
            {
                if (named[0].Key == "caller")
                    throw JinjaError.Type($"macro '{Name}' was invoked with two values for the special caller argument. This is most likely a bug.");
                throw JinjaError.Type($"macro '{Name}' takes no keyword argument '{named[0].Key}'");
            }
            if (def.CatchVarargs)
                scope.Set("varargs", new PyTuple(positional.Count > parameters.Length ? positional.Skip(parameters.Length).ToArray() : []));
            return Stmt.Capture(def.Body, ctx, scope);
        }
        finally
        {
            ctx.Scope = savedScope;
            ctx.ExitCall();
        }
    }
}

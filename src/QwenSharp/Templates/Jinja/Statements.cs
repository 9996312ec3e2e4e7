using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>A statement: template text, <c>{{ }}</c> output, or a <c>{% %}</c> tag.</summary>
internal abstract class Stmt(int offset) : Node(offset)
{
    public abstract Flow Execute(RenderContext ctx);

    public static Flow Run(Stmt[] body, RenderContext ctx)
    {
        foreach (var s in body)
        {
            var f = s.Execute(ctx);
            if (f != Flow.Normal) return f;
        }
        return Flow.Normal;
    }

    /// <summary>Runs <paramref name="body"/> in <paramref name="scope"/> and returns what it printed.</summary>
    public static string Capture(Stmt[] body, RenderContext ctx, Scope scope)
    {
        var savedOut = ctx.Output;
        var savedScope = ctx.Scope;
        ctx.Output = new StringBuilder();
        ctx.Scope = scope;
        try
        {
            Run(body, ctx);
            return ctx.Output.ToString();
        }
        finally
        {
            ctx.Output = savedOut;
            ctx.Scope = savedScope;
        }
    }
}

internal sealed class TextStmt(int offset, string text) : Stmt(offset)
{
    public string Text { get; } = text;
    public override Flow Execute(RenderContext ctx) { ctx.Write(Text); return Flow.Normal; }
}

/// <summary><c>{{ expr }}</c>: prints str(value) (HTML-escaped inside <c>{% autoescape true %}</c>).</summary>
internal sealed class OutputStmt(int offset, Expr expr) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        var v = expr.Eval(ctx);
        ctx.Site = this;
        var s = ctx.AutoEscape && v is not SafeString ? SafeString.Escape(ctx.Str(v)) : ctx.Str(v);
        ctx.Write(s);
        return Flow.Normal;
    }
}

internal sealed class IfStmt(int offset, (Expr Test, Stmt[] Body)[] branches, Stmt[] otherwise) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        foreach (var (test, body) in branches)
            if (PyOps.Truthy(test.Eval(ctx))) return Run(body, ctx);
        return Run(otherwise, ctx);
    }
}

/// <summary>Where <c>{% set %}</c>, <c>{% for %}</c> and <c>{% with %}</c> store values.</summary>
internal abstract class Target(int offset) : Node(offset)
{
    public abstract void Assign(RenderContext ctx, Scope scope, object? value);
}

internal sealed class NameTarget(int offset, string name) : Target(offset)
{
    public string Name { get; } = name;
    public override void Assign(RenderContext ctx, Scope scope, object? value) => scope.Set(Name, value);
}

internal sealed class TupleTarget(int offset, Target[] items) : Target(offset)
{
    public override void Assign(RenderContext ctx, Scope scope, object? value)
    {
        ctx.Site = this;
        var values = PyOps.Iterate(value);
        if (values.Count < items.Length) throw JinjaError.Value($"not enough values to unpack (expected {items.Length}, got {values.Count})");
        if (values.Count > items.Length) throw JinjaError.Value($"too many values to unpack (expected {items.Length})");
        for (int i = 0; i < items.Length; i++) items[i].Assign(ctx, scope, values[i]);
    }
}

/// <summary><c>{% set ns.attr = value %}</c>: the one write the sandbox allows, on a namespace() object.</summary>
internal sealed class NamespaceTarget(int offset, string name, string attribute) : Target(offset)
{
    public override void Assign(RenderContext ctx, Scope scope, object? value)
    {
        ctx.Site = this;
        if (!ctx.Scope.TryGet(name, out var ns) || ns is not Namespace n)
            throw JinjaError.Runtime("cannot assign attribute on non-namespace object");
        n.Attributes.Set(attribute, value);
    }
}

internal sealed class AssignStmt(int offset, Target target, Expr value) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        target.Assign(ctx, ctx.Scope, value.Eval(ctx));
        return Flow.Normal;
    }
}

/// <summary><c>{% set x %}…{% endset %}</c>, optionally <c>{% set x | filter %}</c>.</summary>
internal sealed class AssignBlockStmt(int offset, Target target, FilterExpr? filter, Stmt[] body) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        object? value = Capture(body, ctx, new Scope(ctx.Scope));
        if (filter != null)
        {
            var saved = ctx.FilterInput;
            ctx.FilterInput = value;
            try { value = filter.Eval(ctx); } finally { ctx.FilterInput = saved; }
        }
        target.Assign(ctx, ctx.Scope, value);
        return Flow.Normal;
    }
}

internal sealed class ForStmt(int offset, Target target, Expr iter, Expr? filter, Stmt[] body, Stmt[] otherwise, bool recursive) : Stmt(offset)
{
    public bool Recursive { get; } = recursive;

    public override Flow Execute(RenderContext ctx)
    {
        var seq = iter.Eval(ctx);
        Loop(ctx, seq, 0);
        return Flow.Normal;
    }

    public void Loop(RenderContext ctx, object? seq, int depth)
    {
        ctx.Site = this;
        var items = PyOps.Iterate(seq);
        var outer = ctx.Scope;
        try
        {
            if (filter != null)
            {
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    ctx.Tick();
                    var s = new Scope(outer);
                    target.Assign(ctx, s, item);
                    ctx.Scope = s;
                    if (PyOps.Truthy(filter.Eval(ctx))) kept.Add(item);
                    ctx.Scope = outer;
                }
                items = kept;
            }
            if (items.Count == 0)
            {
                ctx.Scope = new Scope(outer);
                Run(otherwise, ctx);
                return;
            }
            var loop = new LoopContext(items, depth, Recursive ? this : null, outer);
            for (int i = 0; i < items.Count; i++)
            {
                ctx.Tick();
                loop.Index0 = i;
                var s = new Scope(outer);
                target.Assign(ctx, s, items[i]);
                s.Set("loop", loop);
                ctx.Scope = s;
                if (Run(body, ctx) == Flow.Break) break;
            }
        }
        finally
        {
            ctx.Scope = outer;
        }
    }
}

internal sealed class BreakStmt(int offset, bool isBreak) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx) => isBreak ? Flow.Break : Flow.Continue;
}

/// <summary>A macro's definition as parsed: parameters, default expressions, body, and whether the body
/// uses <c>varargs</c>, <c>kwargs</c> or <c>caller</c>.</summary>
internal sealed class MacroDefinition(string name, string[] parameters, Expr?[] defaults, Stmt[] body, bool catchVarargs, bool catchKwargs, bool usesCaller)
{
    public string Name { get; } = name;
    public string[] Parameters { get; } = parameters;
    public Expr?[] Defaults { get; } = defaults;
    public Stmt[] Body { get; } = body;
    public bool CatchVarargs { get; } = catchVarargs;
    public bool CatchKwargs { get; } = catchKwargs;
    public bool UsesCaller { get; } = usesCaller;
}

internal sealed class MacroStmt(int offset, MacroDefinition definition) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        ctx.Scope.Set(definition.Name, new Macro(definition, ctx.Scope));
        return Flow.Normal;
    }
}

/// <summary><c>{% call(args) macro(...) %}body{% endcall %}</c>: the body becomes the macro's <c>caller()</c>.</summary>
internal sealed class CallBlockStmt(int offset, CallExpr call, MacroDefinition caller) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        var result = call.Eval(ctx, new Macro(caller, ctx.Scope));
        ctx.Site = this;
        ctx.Write(ctx.Str(result));
        return Flow.Normal;
    }
}

/// <summary><c>{% filter name %}…{% endfilter %}</c>.</summary>
internal sealed class FilterBlockStmt(int offset, FilterExpr filter, Stmt[] body) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        var saved = ctx.FilterInput;
        ctx.FilterInput = Capture(body, ctx, new Scope(ctx.Scope));
        try
        {
            var v = filter.Eval(ctx);
            ctx.Write(ctx.Str(v));
        }
        finally { ctx.FilterInput = saved; }
        return Flow.Normal;
    }
}

/// <summary><c>{% with a = 1 %}…{% endwith %}</c>.</summary>
internal sealed class WithStmt(int offset, Target[] targets, Expr[] values, Stmt[] body) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        var outer = ctx.Scope;
        var inner = new Scope(outer);
        for (int i = 0; i < targets.Length; i++) targets[i].Assign(ctx, inner, values[i].Eval(ctx));
        ctx.Scope = inner;
        try { return Run(body, ctx); } finally { ctx.Scope = outer; }
    }
}

/// <summary>A body with its own scope: <c>{% block %}</c>, <c>{% generation %}</c>, <c>{% autoescape %}</c>.</summary>
internal sealed class ScopedStmt(int offset, Stmt[] body, Expr? autoescape = null) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        var outer = ctx.Scope;
        bool savedEscape = ctx.AutoEscape;
        if (autoescape != null) ctx.AutoEscape = PyOps.Truthy(autoescape.Eval(ctx));
        ctx.Scope = new Scope(outer);
        try { return Run(body, ctx); }
        finally { ctx.Scope = outer; ctx.AutoEscape = savedEscape; }
    }
}

/// <summary>A tag that can only fail when it runs (<c>include</c>, <c>import</c>, <c>extends</c>: a chat template
/// has no other templates to load).</summary>
internal sealed class FailStmt(int offset, string kind, string message) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx)
    {
        ctx.Site = this;
        throw new JinjaError(kind, message);
    }
}

/// <summary>Several statements run in the current scope (<c>{% print a, b %}</c>).</summary>
internal sealed class BodyStmt(int offset, Stmt[] body) : Stmt(offset)
{
    public override Flow Execute(RenderContext ctx) => Run(body, ctx);
}

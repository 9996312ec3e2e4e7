using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>A node of the parsed template; <see cref="Offset"/> locates it in the source for error messages.</summary>
internal abstract class Node(int offset)
{
    public int Offset { get; } = offset;
}

/// <summary>An expression. <see cref="Depth"/> (the height of its tree) is bounded at parse time, so
/// evaluating it can never exhaust the stack.</summary>
internal abstract class Expr(int offset, params Expr?[] children) : Node(offset)
{
    public int Depth { get; } = 1 + (children.Length == 0 ? 0 : children.Max(c => c?.Depth ?? 0));
    public abstract object? Eval(RenderContext ctx);
}

internal sealed class ConstExpr(int offset, object? value) : Expr(offset)
{
    public object? Value { get; } = value;
    public override object? Eval(RenderContext ctx) => Value;
}

internal sealed class NameExpr(int offset, string name) : Expr(offset)
{
    readonly Undefined _undefined = Undefined.Variable(name);
    public string Name { get; } = name;
    public override object? Eval(RenderContext ctx) => ctx.Scope.TryGet(Name, out var v) ? v : _undefined;
}

internal sealed class ListExpr(int offset, Expr[] items) : Expr(offset, items)
{
    public Expr[] Items { get; } = items;
    public override object? Eval(RenderContext ctx)
    {
        var list = new List<object?>(Items.Length);
        foreach (var e in Items) list.Add(e.Eval(ctx));
        return list;
    }
}

internal sealed class TupleExpr(int offset, Expr[] items) : Expr(offset, items)
{
    public Expr[] Items { get; } = items;
    public override object? Eval(RenderContext ctx)
    {
        var arr = new object?[Items.Length];
        for (int i = 0; i < arr.Length; i++) arr[i] = Items[i].Eval(ctx);
        return new PyTuple(arr);
    }
}

internal sealed class DictExpr(int offset, Expr[] keys, Expr[] values) : Expr(offset, [.. keys, .. values])
{
    public override object? Eval(RenderContext ctx)
    {
        var d = new PyDict(keys.Length);
        for (int i = 0; i < keys.Length; i++)
        {
            var k = keys[i].Eval(ctx);
            var v = values[i].Eval(ctx);
            ctx.Site = this;
            d.Set(k, v);
        }
        return d;
    }
}

internal sealed class GetAttrExpr(int offset, Expr obj, string name) : Expr(offset, obj)
{
    public Expr Obj { get; } = obj;
    public string Name { get; } = name;
    public override object? Eval(RenderContext ctx)
    {
        var o = Obj.Eval(ctx);
        ctx.Site = this;
        return PyAccess.GetAttr(o, Name);
    }
}

internal sealed class GetItemExpr(int offset, Expr obj, Expr key) : Expr(offset, obj, key)
{
    public override object? Eval(RenderContext ctx)
    {
        var o = obj.Eval(ctx);
        var k = key.Eval(ctx);
        ctx.Site = this;
        // Jinja2 compiles x[a:b] to a plain Python subscript (no undefined fallback), x[k] to environment.getitem.
        return key is SliceExpr ? PyAccess.Slice(o, (PySlice)k!) : PyAccess.GetItem(o, k);
    }
}

internal sealed class SliceExpr(int offset, Expr? start, Expr? stop, Expr? step) : Expr(offset, start, stop, step)
{
    public override object? Eval(RenderContext ctx) => new PySlice(start?.Eval(ctx), stop?.Eval(ctx), step?.Eval(ctx));
}

/// <summary>The arguments written in a call, filter or test: positional, keyword, <c>*args</c>, <c>**kwargs</c>.</summary>
internal sealed class ArgList(Expr[] args, (string Name, Expr Value)[] kwargs, Expr? dynArgs, Expr? dynKwargs)
{
    public static readonly ArgList None = new([], [], null, null);
    public Expr[] Args { get; } = args;
    public (string Name, Expr Value)[] Kwargs { get; } = kwargs;
    public Expr? DynArgs { get; } = dynArgs;
    public Expr? DynKwargs { get; } = dynKwargs;
    public bool IsEmpty => Args.Length == 0 && Kwargs.Length == 0 && DynArgs == null && DynKwargs == null;

    public Expr?[] All() => [.. Args, .. Kwargs.Select(k => k.Value), DynArgs, DynKwargs];

    /// <summary>Evaluates the arguments; the result is shared (<see cref="CallArgs.Empty"/>) when there are
    /// none, unless <paramref name="fresh"/> asks for a list the caller may add to.</summary>
    public CallArgs Eval(RenderContext ctx, Node site, bool fresh = false)
    {
        if (IsEmpty && !fresh) return CallArgs.Empty;
        var a = new CallArgs();
        foreach (var e in Args) a.Positional.Add(e.Eval(ctx));
        foreach (var (name, e) in Kwargs) { var v = e.Eval(ctx); ctx.Site = site; a.AddNamed(name, v); }
        if (DynArgs != null)
        {
            var v = DynArgs.Eval(ctx);
            ctx.Site = site;
            a.Positional.AddRange(PyOps.Iterate(v));
        }
        if (DynKwargs != null)
        {
            var v = DynKwargs.Eval(ctx);
            ctx.Site = site;
            if (v is not PyDict d) throw JinjaError.Type($"argument after ** must be a mapping, not {PyOps.TypeName(v)}");
            for (int i = 0; i < d.Count; i++)
            {
                if (d.KeyAt(i) is not string key) throw JinjaError.Type("keywords must be strings");
                a.AddNamed(key, d.ValueAt(i));
            }
        }
        return a;
    }
}

internal sealed class CallExpr(int offset, Expr callee, ArgList args) : Expr(offset, [callee, .. args.All()])
{
    public Expr Callee { get; } = callee;
    public ArgList Args { get; } = args;

    public override object? Eval(RenderContext ctx) => Eval(ctx, null);

    /// <summary>Evaluates the call; <paramref name="caller"/> is the body of a <c>{% call %}</c> block.</summary>
    public object? Eval(RenderContext ctx, Macro? caller)
    {
        if (Callee is GetAttrExpr ga)
        {
            var obj = ga.Obj.Eval(ctx);
            var a = Args.Eval(ctx, this, caller != null);
            if (caller != null) a.AddNamed("caller", caller);
            ctx.Site = this;
            if (ObjectMethods.TryCall(ctx, obj, ga.Name, a, out var result)) return ctx.Track(result);
            return Invoke(ctx, PyAccess.GetAttr(obj, ga.Name), a);
        }
        var fn = Callee.Eval(ctx);
        var args = Args.Eval(ctx, this, caller != null);
        if (caller != null) args.AddNamed("caller", caller);
        ctx.Site = this;
        return Invoke(ctx, fn, args);
    }

    object? Invoke(RenderContext ctx, object? fn, CallArgs args)
    {
        var result = fn switch
        {
            JinjaCallable c => c.Call(ctx, args),
            LoopContext loop => loop.CallRecursive(ctx, args),
            Undefined u => throw u.Fail(),
            _ => throw JinjaError.Type($"'{PyOps.TypeName(fn)}' object is not callable"),
        };
        ctx.Site = this;
        return ctx.Track(result);
    }
}

internal delegate object? FilterFunction(RenderContext ctx, object? value, CallArgs args);
internal delegate bool TestFunction(RenderContext ctx, object? value, CallArgs args);

/// <summary><c>value | name(args)</c>. Without <paramref name="node"/> (a <c>{% filter %}</c> block) the input is
/// the block's rendered body.</summary>
internal sealed class FilterExpr(int offset, Expr? node, string name, FilterFunction function, ArgList args) : Expr(offset, [node, .. args.All()])
{
    public string Name { get; } = name;
    public override object? Eval(RenderContext ctx)
    {
        var v = node != null ? node.Eval(ctx) : ctx.FilterInput;
        var a = args.Eval(ctx, this);
        ctx.Site = this;
        return ctx.Track(function(ctx, v, a));
    }
}

/// <summary><c>value is name(args)</c>.</summary>
internal sealed class TestExpr(int offset, Expr node, string name, TestFunction function, ArgList args) : Expr(offset, [node, .. args.All()])
{
    public string Name { get; } = name;
    public override object? Eval(RenderContext ctx)
    {
        var v = node.Eval(ctx);
        var a = args.Eval(ctx, this);
        ctx.Site = this;
        return function(ctx, v, a);
    }
}

internal sealed class NotExpr(int offset, Expr operand) : Expr(offset, operand)
{
    public override object? Eval(RenderContext ctx) => !PyOps.Truthy(operand.Eval(ctx));
}

internal sealed class UnaryExpr(int offset, TokenKind op, Expr operand) : Expr(offset, operand)
{
    public override object? Eval(RenderContext ctx)
    {
        var v = operand.Eval(ctx);
        ctx.Site = this;
        return op == TokenKind.Sub ? PyOps.Negate(v) : PyOps.Plus(v);
    }
}

internal sealed class BinaryExpr(int offset, TokenKind op, Expr left, Expr right) : Expr(offset, left, right)
{
    public override object? Eval(RenderContext ctx)
    {
        var a = left.Eval(ctx);
        var b = right.Eval(ctx);
        ctx.Site = this;
        return op switch
        {
            TokenKind.Add => PyOps.Add(ctx, a, b),
            TokenKind.Sub => PyOps.Sub(a, b),
            TokenKind.Mul => PyOps.Mul(ctx, a, b),
            TokenKind.Div => PyOps.Div(a, b),
            TokenKind.FloorDiv => PyOps.FloorDiv(a, b),
            TokenKind.Mod => ctx.Track(PyOps.Mod(ctx, a, b)),
            _ => PyOps.Pow(ctx, a, b),
        };
    }
}

/// <summary><c>a and b</c> / <c>a or b</c>: short-circuit, returning an operand as Python does.</summary>
internal sealed class LogicalExpr(int offset, bool isAnd, Expr left, Expr right) : Expr(offset, left, right)
{
    public override object? Eval(RenderContext ctx)
    {
        var a = left.Eval(ctx);
        return PyOps.Truthy(a) == isAnd ? right.Eval(ctx) : a;
    }
}

/// <summary><c>a ~ b ~ c</c>: the operands' str() joined.</summary>
internal sealed class ConcatExpr(int offset, Expr[] parts) : Expr(offset, [.. parts])
{
    public override object? Eval(RenderContext ctx)
    {
        var sb = new StringBuilder();
        foreach (var p in parts)
        {
            var v = p.Eval(ctx);
            ctx.Site = this;
            var s = ctx.Str(v);
            ctx.CheckLength(sb.Length + (long)s.Length);
            sb.Append(s);
        }
        return sb.ToString();
    }
}

/// <summary>A comparison chain: <c>a == b</c>, <c>a &lt; b &lt;= c</c>, <c>x in y</c>, <c>x not in y</c>.</summary>
internal sealed class CompareExpr(int offset, Expr first, (TokenKind Op, bool Negated, Expr Right)[] ops) : Expr(offset, [first, .. ops.Select(o => o.Right)])
{
    public const TokenKind In = TokenKind.Name; // marks `in` in the op list

    public override object? Eval(RenderContext ctx)
    {
        var left = first.Eval(ctx);
        foreach (var (op, negated, rightExpr) in ops)
        {
            var right = rightExpr.Eval(ctx);
            ctx.Site = this;
            bool r = op switch
            {
                TokenKind.Eq => PyOps.Equal(left, right),
                TokenKind.Ne => !PyOps.Equal(left, right),
                In => PyOps.Contains(right, left) != negated,
                _ => PyOps.Order(left, right, op),
            };
            if (!r) return false;
            left = right;
        }
        return true;
    }
}

internal sealed class CondExpr(int offset, Expr test, Expr then, Expr? otherwise) : Expr(offset, test, then, otherwise)
{
    readonly Undefined _noElse = Undefined.WithHint("the inline if-expression evaluated to false and no else section was defined.");
    public override object? Eval(RenderContext ctx) =>
        PyOps.Truthy(test.Eval(ctx)) ? then.Eval(ctx) : otherwise != null ? otherwise.Eval(ctx) : _noElse;
}

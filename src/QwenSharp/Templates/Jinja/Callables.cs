namespace QwenSharp.Templates.Jinja;

/// <summary>Anything a template can call: a global function, a bound method, a macro, a loop's helpers.</summary>
internal abstract class JinjaCallable
{
    public abstract string Name { get; }
    public abstract object? Call(RenderContext ctx, CallArgs args);
}

/// <summary>A function implemented in C# (globals such as <c>namespace</c> and <c>range</c>, <c>loop.cycle</c>).</summary>
internal sealed class BuiltinFunction(string name, Func<RenderContext, CallArgs, object?> body) : JinjaCallable
{
    public override string Name => name;
    public override object? Call(RenderContext ctx, CallArgs args) => body(ctx, args);
}

/// <summary>A method looked up on a value but not called yet (<c>x.startswith</c> without parentheses).</summary>
internal sealed class BoundMethod(object? self, string name) : JinjaCallable
{
    public object? Self { get; } = self;
    public override string Name => name;
    public override object? Call(RenderContext ctx, CallArgs args) => ObjectMethods.Call(ctx, Self, name, args);
}

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Variables visible at one point of a render. Reads walk up to the parent; writes stay in this scope. A loop
/// iteration, a macro call and a <c>with</c> block each get a new scope, so <c>{% set %}</c> inside them does
/// not leak out (which is what Jinja2 does, and why templates use <c>namespace()</c>).
/// </summary>
internal sealed class Scope(Scope? parent, Dictionary<string, object?>? variables = null)
{
    Dictionary<string, object?>? _vars = variables;
    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s != null; s = s.Parent)
            if (s._vars != null && s._vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => (_vars ??= new Dictionary<string, object?>(StringComparer.Ordinal))[name] = value;
}

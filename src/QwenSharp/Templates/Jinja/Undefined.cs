namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Jinja2's default <c>Undefined</c>: what a missing variable, key or attribute evaluates to. It is falsy,
/// prints as the empty string, iterates as empty and has length 0; using it any other way (arithmetic,
/// attribute or item access, calling it, comparing with &lt;) raises an error that names what was missing.
/// </summary>
internal sealed class Undefined
{
    static readonly object NoOwner = new();
    readonly object? _owner;
    readonly object? _key;
    readonly string? _hint;

    public bool IsUnsafe { get; }

    Undefined(object? owner, object? key, string? hint, bool isUnsafe)
    {
        _owner = owner;
        _key = key;
        _hint = hint;
        IsUnsafe = isUnsafe;
    }

    /// <summary>A variable that does not exist.</summary>
    public static Undefined Variable(string name) => new(NoOwner, name, null, false);

    /// <summary>An attribute or item <paramref name="key"/> that <paramref name="owner"/> lacks.</summary>
    public static Undefined Member(object? owner, object? key) => new(owner, key, null, false);

    /// <summary>An undefined value that explains itself (e.g. "No first item, sequence was empty.").</summary>
    public static Undefined WithHint(string hint, object? key = null) => new(NoOwner, key, hint, false);

    /// <summary>An attribute the sandbox refuses (a private name or a method that would change data).</summary>
    public static Undefined Unsafe(object? owner, string attribute) =>
        new(owner, attribute, $"access to attribute '{attribute}' of '{PyOps.TypeName(owner)}' object is unsafe.", true);

    public string Message
    {
        get
        {
            if (_hint != null) return _hint;
            if (ReferenceEquals(_owner, NoOwner)) return $"{PyRepr.Repr(_key)} is undefined";
            string owner = _owner == null ? "None" : PyOps.TypeName(_owner) + " object";
            if (_key is not string) return $"{owner} has no element {PyRepr.Repr(_key)}";
            return $"{PyRepr.Repr(owner)} has no attribute {PyRepr.Repr(_key)}";
        }
    }

    public JinjaError Fail() => new(IsUnsafe ? "SecurityError" : "UndefinedError", Message);
}

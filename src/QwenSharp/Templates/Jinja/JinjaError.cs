namespace QwenSharp.Templates.Jinja;

/// <summary>
/// An error raised while rendering, before it is given a position. The renderer catches it and turns it into a
/// <see cref="TemplateException"/> at the node that was being evaluated. <see cref="Kind"/> is the Python
/// exception class Jinja2 would raise (TypeError, UndefinedError, ...).
/// </summary>
internal sealed class JinjaError(string kind, string message) : Exception(message)
{
    public string Kind { get; } = kind;
    public string Reason => $"{Kind}: {Message}";

    public static JinjaError Type(string message) => new("TypeError", message);
    public static JinjaError Value(string message) => new("ValueError", message);
    public static JinjaError Runtime(string message) => new("TemplateRuntimeError", message);
    public static JinjaError Limit(string message) => new("LimitExceeded", message);
}

/// <summary>Marks an argument that was not passed (Python's <c>missing</c>), distinct from None.</summary>
internal sealed class Missing
{
    public static readonly Missing Value = new();
    Missing() { }
}

/// <summary>How a statement ended: normally, or by <c>{% break %}</c> / <c>{% continue %}</c>.</summary>
internal enum Flow { Normal, Break, Continue }

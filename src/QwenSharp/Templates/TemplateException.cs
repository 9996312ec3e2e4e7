namespace QwenSharp.Templates;

/// <summary>
/// A chat template failed to parse or to render. <see cref="Line"/> and <see cref="Column"/> (1-based) point
/// into the template source where the problem is; both are 0 when the problem is in the input rather than in
/// the template (for example a <c>messages</c> value that is not a list). <see cref="Reason"/> is the cause
/// alone, starting with the Python exception class that Jinja2 would raise (<c>TypeError: …</c>,
/// <c>UndefinedError: …</c>, <c>TemplateSyntaxError: …</c>); <see cref="Exception.Message"/> adds the
/// template name and position.
/// </summary>
public sealed class TemplateException : Exception
{
    public int Line { get; }
    public int Column { get; }
    public string? TemplateName { get; }
    public string Reason { get; }

    public TemplateException(string reason, string? templateName = null, int line = 0, int column = 0, Exception? inner = null)
        : base(Format(reason, templateName, line, column), inner)
    {
        Reason = reason;
        TemplateName = templateName;
        Line = line;
        Column = column;
    }

    static string Format(string reason, string? name, int line, int column)
    {
        if (line <= 0) return name == null ? reason : $"template '{name}': {reason}";
        return $"template '{name ?? "<string>"}' line {line}, column {column}: {reason}";
    }
}

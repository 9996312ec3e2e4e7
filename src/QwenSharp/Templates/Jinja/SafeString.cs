namespace QwenSharp.Templates.Jinja;

/// <summary>
/// MarkupSafe's <c>Markup</c>: a string marked safe by the <c>safe</c> or <c>escape</c> filter. It behaves as a
/// string, except that <c>+</c> with a plain string HTML-escapes the plain one, as in Python.
/// </summary>
internal sealed class SafeString(string value)
{
    public string Value { get; } = value;
    public override string ToString() => Value;

    public static string Escape(string s)
    {
        if (s.AsSpan().IndexOfAny("&<>\"'") < 0) return s;
        return s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
    }
}

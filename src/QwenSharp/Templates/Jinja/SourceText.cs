namespace QwenSharp.Templates.Jinja;

/// <summary>
/// A template's text as Jinja2 sees it (every \r\n, \r and \n becomes \n and one trailing newline is dropped,
/// as with keep_trailing_newline=False) plus the map from character offsets to 1-based line and column.
/// </summary>
internal sealed class SourceText
{
    public string Name { get; }
    public string Text { get; }
    readonly int[] _lineStarts;

    public SourceText(string name, string source)
    {
        Name = name;
        Text = Normalize(source);
        var starts = new List<int> { 0 };
        for (int i = 0; i < Text.Length; i++) if (Text[i] == '\n') starts.Add(i + 1);
        _lineStarts = starts.ToArray();
    }

    static string Normalize(string s)
    {
        if (s.Contains('\r')) s = s.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    public (int Line, int Column) Locate(int offset)
    {
        offset = Math.Clamp(offset, 0, Text.Length);
        int i = Array.BinarySearch(_lineStarts, offset);
        if (i < 0) i = ~i - 1;
        return (i + 1, offset - _lineStarts[i] + 1);
    }

    public TemplateException Error(string reason, int offset, Exception? inner = null)
    {
        var (line, col) = Locate(offset);
        return new TemplateException(reason, Name, line, col, inner);
    }
}

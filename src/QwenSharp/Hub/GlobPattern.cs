using System.Text;
using System.Text.RegularExpressions;

namespace QwenSharp.Hub;

/// <summary>
/// A file pattern as huggingface_hub's <c>allow_patterns</c> understands it (Python's fnmatch): '*' matches
/// any text including '/', '?' one character, "[abc]" / "[!abc]" a set; a pattern ending in '/' matches a
/// whole folder. Matching ignores case, because Qwen's GGUF repositories name quantizations both ways
/// (<c>qwen2.5-7b-instruct-q4_k_m.gguf</c>, <c>Qwen3-8B-Q4_K_M.gguf</c>).
/// </summary>
public sealed class GlobPattern
{
    readonly Regex _regex;
    public string Pattern { get; }

    public GlobPattern(string pattern)
    {
        if (string.IsNullOrWhiteSpace(pattern))
            throw new HubException(HubErrorKind.InvalidArgument, "empty file pattern");
        Pattern = pattern;
        string p = pattern.EndsWith('/') ? pattern + "*" : pattern;
        _regex = new Regex(ToRegex(p), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }

    public bool IsMatch(string path) => _regex.IsMatch(path);

    /// <summary>True when <paramref name="path"/> matches any pattern (false for an empty list).</summary>
    public static bool MatchesAny(IEnumerable<GlobPattern> patterns, string path) => patterns.Any(p => p.IsMatch(path));

    static string ToRegex(string glob)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            switch (c)
            {
                case '*': sb.Append(".*"); break;
                case '?': sb.Append('.'); break;
                case '[':
                    int close = glob.IndexOf(']', i + 2);
                    if (close < 0) { sb.Append(@"\["); break; }
                    string set = glob[(i + 1)..close];
                    bool negate = set.StartsWith('!');
                    if (negate) set = set[1..];
                    sb.Append('[').Append(negate ? "^" : "").Append(set.Replace(@"\", @"\\").Replace("^", @"\^").Replace("[", @"\[")).Append(']');
                    i = close;
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        return sb.Append('$').ToString();
    }
}

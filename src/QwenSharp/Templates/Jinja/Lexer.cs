using System.Globalization;
using System.Numerics;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Splits a template into tokens the way Jinja2's lexer does with transformers' settings: trim_blocks
/// (the newline after a block or comment tag is dropped), lstrip_blocks (whitespace before a block or comment tag
/// at the start of a line is dropped), the <c>-</c> / <c>+</c> whitespace modifiers, comments,
/// <c>{% raw %}</c>, and Python literals (strings with escapes, integers in any base, floats).
/// </summary>
internal sealed class Lexer
{
    readonly SourceText _source;
    readonly string _s;
    readonly List<Token> _tokens = new();

    Lexer(SourceText source) { _source = source; _s = source.Text; }

    public static List<Token> Tokenize(SourceText source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    Exception Fail(string message, int offset) => _source.Error("TemplateSyntaxError: " + message, offset);

    void Run()
    {
        int pos = 0, n = _s.Length;
        while (pos < n)
        {
            int tag = FindTagStart(pos);
            if (tag < 0)
            {
                _tokens.Add(new Token(TokenKind.Data, pos, _s[pos..]));
                break;
            }
            char kind = _s[tag + 1];
            int after = tag + 2;
            char sign = after < n && (_s[after] == '-' || _s[after] == '+') ? _s[after] : '\0';
            int rawEnd = kind == '%' ? MatchRawBegin(tag) : -1;
            string text = _s.Substring(pos, tag - pos);
            text = StripBeforeTag(text, pos, sign, isVariable: kind == '{');
            if (text.Length > 0) _tokens.Add(new Token(TokenKind.Data, pos, text));
            if (sign != '\0') after++;
            if (rawEnd >= 0) { pos = LexRaw(rawEnd, tag); continue; }
            switch (kind)
            {
                case '#':
                    pos = LexComment(tag, after);
                    break;
                case '%':
                    _tokens.Add(new Token(TokenKind.BlockBegin, tag));
                    pos = LexTag(after, block: true);
                    break;
                default:
                    _tokens.Add(new Token(TokenKind.VariableBegin, tag));
                    pos = LexTag(after, block: false);
                    break;
            }
        }
        _tokens.Add(new Token(TokenKind.Eof, n));
    }

    int FindTagStart(int from)
    {
        int n = _s.Length;
        while (true)
        {
            int i = _s.IndexOf('{', from);
            if (i < 0 || i + 1 >= n) return -1;
            char c = _s[i + 1];
            if (c == '%' || c == '{' || c == '#') return i;
            from = i + 1;
        }
    }

    /// <summary>Whitespace control on the text before a tag: <c>-</c> strips all trailing whitespace;
    /// otherwise lstrip_blocks removes whitespace between the line start and a block or comment tag.</summary>
    string StripBeforeTag(string text, int textStart, char sign, bool isVariable)
    {
        if (sign == '-') return PyText.RStrip(text);
        if (sign == '+' || isVariable) return text;
        int lpos = text.LastIndexOf('\n') + 1;
        bool lineStarting = textStart == 0 || _s[textStart - 1] == '\n';
        if (lpos > 0 || lineStarting)
        {
            // Jinja2 3.1: the rest of the line must be whitespace (Python's \s, so also e.g. U+00A0 and U+3000).
            if (lpos == text.Length) return text;
            for (int i = lpos; i < text.Length; i++)
                if (!PyText.IsSpace(text[i])) return text;
            return text[..lpos];
        }
        return text;
    }

    bool At(int pos, string what) => pos <= _s.Length && _s.AsSpan(pos).StartsWith(what, StringComparison.Ordinal);

    int SkipSpace(int pos)
    {
        while (pos < _s.Length && PyText.IsSpace(_s[pos])) pos++;
        return pos;
    }

    /// <summary>Matches <c>{%[-+]?\s*raw\s*(-%}\s*|%})</c> at <paramref name="tag"/>; returns the end or -1.</summary>
    int MatchRawBegin(int tag)
    {
        int p = tag + 2;
        if (p < _s.Length && (_s[p] == '-' || _s[p] == '+')) p++;
        p = SkipSpace(p);
        if (!At(p, "raw")) return -1;
        p = SkipSpace(p + 3);
        if (At(p, "-%}")) return SkipSpace(p + 3);
        if (At(p, "%}")) return p + 2;
        return -1;
    }

    int LexRaw(int start, int tagOffset)
    {
        int from = start;
        while (true)
        {
            int i = _s.IndexOf("{%", from, StringComparison.Ordinal);
            if (i < 0) throw Fail("Missing end of raw directive", tagOffset);
            int p = i + 2;
            char sign = p < _s.Length && (_s[p] == '-' || _s[p] == '+') ? _s[p] : '\0';
            if (sign != '\0') p++;
            p = SkipSpace(p);
            if (At(p, "endraw"))
            {
                p = SkipSpace(p + 6);
                int end = -1;
                if (At(p, "+%}")) end = p + 3;
                else if (At(p, "-%}")) end = SkipSpace(p + 3);
                else if (At(p, "%}")) { end = p + 2; if (end < _s.Length && _s[end] == '\n') end++; }
                if (end >= 0)
                {
                    string text = StripBeforeTag(_s.Substring(start, i - start), start, sign, isVariable: false);
                    if (text.Length > 0) _tokens.Add(new Token(TokenKind.Data, start, text));
                    return end;
                }
            }
            from = i + 1;
        }
    }

    int LexComment(int tag, int pos)
    {
        for (int j = pos; j < _s.Length; j++)
        {
            if (At(j, "+#}")) return j + 3;
            if (At(j, "-#}")) return SkipSpace(j + 3);
            if (At(j, "#}"))
            {
                int end = j + 2;
                return end < _s.Length && _s[end] == '\n' ? end + 1 : end;
            }
        }
        throw Fail("Missing end of comment tag", tag);
    }

    /// <summary>Tokens inside <c>{% %}</c> or <c>{{ }}</c>, up to and including the end tag.
    /// An end tag only counts while brackets are balanced, so <c>{{ {'a': {'b': 1}} }}</c> works.</summary>
    int LexTag(int pos, bool block)
    {
        var brackets = new Stack<char>();
        int n = _s.Length;
        while (pos < n)
        {
            if (brackets.Count == 0)
            {
                if (block)
                {
                    if (At(pos, "+%}")) { _tokens.Add(new Token(TokenKind.BlockEnd, pos)); return pos + 3; }
                    if (At(pos, "-%}")) { _tokens.Add(new Token(TokenKind.BlockEnd, pos)); return SkipSpace(pos + 3); }
                    if (At(pos, "%}"))
                    {
                        _tokens.Add(new Token(TokenKind.BlockEnd, pos));
                        pos += 2;
                        return pos < n && _s[pos] == '\n' ? pos + 1 : pos;
                    }
                }
                else
                {
                    if (At(pos, "-}}")) { _tokens.Add(new Token(TokenKind.VariableEnd, pos)); return SkipSpace(pos + 3); }
                    if (At(pos, "}}")) { _tokens.Add(new Token(TokenKind.VariableEnd, pos)); return pos + 2; }
                }
            }
            char c = _s[pos];
            if (PyText.IsSpace(c)) { pos++; continue; }
            int end;
            if ((end = MatchFloat(pos)) > 0)
            {
                string lit = _s[pos..end].Replace("_", "");
                _tokens.Add(new Token(TokenKind.Float, pos, null, double.Parse(lit, NumberStyles.Float, CultureInfo.InvariantCulture)));
                pos = end;
                continue;
            }
            if ((end = MatchInteger(pos)) > 0)
            {
                _tokens.Add(new Token(TokenKind.Integer, pos, null, ParseInteger(_s[pos..end].Replace("_", ""))));
                pos = end;
                continue;
            }
            if (IsNameChar(c))
            {
                end = pos;
                while (end < n && IsNameChar(_s[end])) end++;
                string name = _s[pos..end];
                if (!(char.IsLetter(name[0]) || name[0] == '_' || CharUnicodeInfo.GetUnicodeCategory(name[0]) == UnicodeCategory.LetterNumber))
                    throw Fail("Invalid character in identifier", pos);
                _tokens.Add(new Token(TokenKind.Name, pos, name));
                pos = end;
                continue;
            }
            if (c == '\'' || c == '"')
            {
                end = MatchString(pos);
                if (end > 0)
                {
                    _tokens.Add(new Token(TokenKind.String, pos, Unescape(pos + 1, end - 1)));
                    pos = end;
                    continue;
                }
            }
            var (op, len) = MatchOperator(pos);
            if (len == 0) throw Fail($"unexpected char {PyRepr.Repr(c.ToString())} at {pos}", pos);
            switch (op)
            {
                case TokenKind.LBrace: brackets.Push('}'); break;
                case TokenKind.LParen: brackets.Push(')'); break;
                case TokenKind.LBracket: brackets.Push(']'); break;
                case TokenKind.RBrace or TokenKind.RParen or TokenKind.RBracket:
                    if (brackets.Count == 0) throw Fail($"unexpected '{c}'", pos);
                    char expected = brackets.Pop();
                    if (expected != c) throw Fail($"unexpected '{c}', expected '{expected}'", pos);
                    break;
            }
            _tokens.Add(new Token(op, pos));
            pos += len;
        }
        return n; // end of template inside a tag: the parser reports what it was waiting for
    }

    static bool IsNameChar(char c)
    {
        if (c < 128) return c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_';
        var cat = CharUnicodeInfo.GetUnicodeCategory(c);
        return char.IsLetterOrDigit(c) || cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.LetterNumber or UnicodeCategory.ConnectorPunctuation or UnicodeCategory.Surrogate;
    }

    static bool IsDigit(char c) => c is >= '0' and <= '9';

    /// <summary>End of <c>(\d+_)*\d+</c> at pos, or -1.</summary>
    int MatchDigits(int pos)
    {
        int n = _s.Length;
        if (pos >= n || !IsDigit(_s[pos])) return -1;
        int j = pos;
        while (true)
        {
            while (j < n && IsDigit(_s[j])) j++;
            if (j + 1 < n && _s[j] == '_' && IsDigit(_s[j + 1])) { j++; continue; }
            return j;
        }
    }

    int MatchExponent(int pos)
    {
        if (pos >= _s.Length || (_s[pos] != 'e' && _s[pos] != 'E')) return -1;
        int p = pos + 1;
        if (p < _s.Length && (_s[p] == '+' || _s[p] == '-')) p++;
        return MatchDigits(p);
    }

    int MatchFloat(int pos)
    {
        if (pos > 0 && _s[pos - 1] == '.') return -1;
        int j = MatchDigits(pos);
        if (j < 0) return -1;
        int frac = j < _s.Length && _s[j] == '.' ? MatchDigits(j + 1) : -1;
        if (frac > 0)
        {
            int e = MatchExponent(frac);
            return e > 0 ? e : frac;
        }
        return MatchExponent(j);
    }

    int MatchInteger(int pos)
    {
        int n = _s.Length;
        char c = _s[pos];
        if (!IsDigit(c)) return -1;
        if (c == '0' && pos + 1 < n)
        {
            char k = char.ToLowerInvariant(_s[pos + 1]);
            Func<char, bool>? digit = k switch
            {
                'b' => ch => ch is '0' or '1',
                'o' => ch => ch is >= '0' and <= '7',
                'x' => Uri.IsHexDigit,
                _ => null,
            };
            if (digit != null)
            {
                int j = pos + 2, count = 0;
                while (true)
                {
                    int p = j < n && _s[j] == '_' ? j + 1 : j;
                    if (p < n && digit(_s[p])) { j = p + 1; count++; } else break;
                }
                if (count > 0) return j;
            }
        }
        if (c == '0')
        {
            int j = pos + 1;
            while (true)
            {
                int p = j < n && _s[j] == '_' ? j + 1 : j;
                if (p < n && _s[p] == '0') j = p + 1; else break;
            }
            return j;
        }
        {
            int j = pos + 1;
            while (true)
            {
                int p = j < n && _s[j] == '_' ? j + 1 : j;
                if (p < n && IsDigit(_s[p])) j = p + 1; else break;
            }
            return j;
        }
    }

    static object ParseInteger(string lit)
    {
        int b = 10;
        if (lit.Length > 1 && lit[0] == '0')
        {
            switch (char.ToLowerInvariant(lit[1]))
            {
                case 'b': b = 2; lit = lit[2..]; break;
                case 'o': b = 8; lit = lit[2..]; break;
                case 'x': b = 16; lit = lit[2..]; break;
            }
        }
        BigInteger v = BigInteger.Zero;
        foreach (char ch in lit) v = v * b + Convert.ToInt32(ch.ToString(), 16);
        return PyInt.Normalize(v);
    }

    int MatchString(int pos)
    {
        char q = _s[pos];
        int j = pos + 1, n = _s.Length;
        while (j < n)
        {
            char c = _s[j];
            if (c == '\\') { if (j + 1 >= n) return -1; j += 2; continue; }
            if (c == q) return j + 1;
            j++;
        }
        return -1;
    }

    /// <summary>Python's <c>unicode-escape</c> decoding of a string literal's body, as Jinja2 applies it.</summary>
    string Unescape(int start, int end)
    {
        int bs = _s.IndexOf('\\', start, end - start);
        if (bs < 0) return _s.Substring(start, end - start);
        var sb = new StringBuilder(end - start);
        int i = start;
        while (i < end)
        {
            char c = _s[i];
            if (c != '\\') { sb.Append(c); i++; continue; }
            int at = i;
            char e = _s[i + 1];
            i += 2;
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                {
                    int v = e - '0', k = 0;
                    while (k < 2 && i < end && _s[i] is >= '0' and <= '7') { v = v * 8 + (_s[i] - '0'); i++; k++; }
                    sb.Append((char)v);
                    break;
                }
                case 'x': i = AppendHex(sb, i, end, 2, at, "\\xXX"); break;
                case 'u': i = AppendHex(sb, i, end, 4, at, "\\uXXXX"); break;
                case 'U': i = AppendHex(sb, i, end, 8, at, "\\UXXXXXXXX"); break;
                case 'N': throw Fail("\\N{...} escapes are not supported in string literals", at);
                default:
                    // Unknown escapes stay as written. Jinja2 first turns non-ASCII characters into
                    // backslash escapes, so a backslash before one keeps that escape's text.
                    sb.Append('\\');
                    if (e < 128) sb.Append(e);
                    else
                    {
                        int cp = char.IsHighSurrogate(e) && i < end && char.IsLowSurrogate(_s[i]) ? char.ConvertToUtf32(e, _s[i++]) : e;
                        sb.Append(cp <= 0xff ? $"x{cp:x2}" : cp <= 0xffff ? $"u{cp:x4}" : $"U{cp:x8}");
                    }
                    break;
            }
        }
        return sb.ToString();
    }

    int AppendHex(StringBuilder sb, int i, int end, int digits, int at, string form)
    {
        if (i + digits > end) throw Fail($"truncated {form} escape", at);
        int v = 0;
        for (int k = 0; k < digits; k++)
        {
            char h = _s[i + k];
            if (!Uri.IsHexDigit(h)) throw Fail($"truncated {form} escape", at);
            v = v * 16 + Convert.ToInt32(h.ToString(), 16);
            if (v > 0x10FFFF) throw Fail("illegal Unicode character", at);
        }
        if (v > 0x10FFFF) throw Fail("illegal Unicode character", at);
        if (v >= 0x10000) sb.Append(char.ConvertFromUtf32(v));
        else sb.Append((char)v);
        return i + digits;
    }

    (TokenKind, int) MatchOperator(int pos)
    {
        char c = _s[pos];
        char d = pos + 1 < _s.Length ? _s[pos + 1] : '\0';
        switch (c)
        {
            case '/': return d == '/' ? (TokenKind.FloorDiv, 2) : (TokenKind.Div, 1);
            case '*': return d == '*' ? (TokenKind.Pow, 2) : (TokenKind.Mul, 1);
            case '=': return d == '=' ? (TokenKind.Eq, 2) : (TokenKind.Assign, 1);
            case '!': return d == '=' ? (TokenKind.Ne, 2) : (TokenKind.Eof, 0);
            case '>': return d == '=' ? (TokenKind.GtEq, 2) : (TokenKind.Gt, 1);
            case '<': return d == '=' ? (TokenKind.LtEq, 2) : (TokenKind.Lt, 1);
            case '+': return (TokenKind.Add, 1);
            case '-': return (TokenKind.Sub, 1);
            case '%': return (TokenKind.Mod, 1);
            case '~': return (TokenKind.Tilde, 1);
            case '[': return (TokenKind.LBracket, 1);
            case ']': return (TokenKind.RBracket, 1);
            case '(': return (TokenKind.LParen, 1);
            case ')': return (TokenKind.RParen, 1);
            case '{': return (TokenKind.LBrace, 1);
            case '}': return (TokenKind.RBrace, 1);
            case '.': return (TokenKind.Dot, 1);
            case ':': return (TokenKind.Colon, 1);
            case '|': return (TokenKind.Pipe, 1);
            case ',': return (TokenKind.Comma, 1);
            case ';': return (TokenKind.Semicolon, 1);
            default: return (TokenKind.Eof, 0);
        }
    }
}

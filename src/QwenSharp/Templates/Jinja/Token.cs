namespace QwenSharp.Templates.Jinja;

internal enum TokenKind
{
    Data, BlockBegin, BlockEnd, VariableBegin, VariableEnd, Eof,
    Name, String, Integer, Float,
    Add, Sub, Div, FloorDiv, Mul, Mod, Pow, Tilde,
    LBracket, RBracket, LParen, RParen, LBrace, RBrace,
    Eq, Ne, Gt, GtEq, Lt, LtEq, Assign, Dot, Colon, Pipe, Comma, Semicolon,
}

/// <summary>One lexer token. <see cref="Text"/> holds names, string literals (unescaped) and template data;
/// <see cref="Value"/> the number of an integer (long or BigInteger) or float literal.</summary>
internal readonly record struct Token(TokenKind Kind, int Offset, string? Text = null, object? Value = null)
{
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    /// <summary>The token as Jinja2's error messages describe it.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Name => Text!,
        TokenKind.String => "string",
        TokenKind.Integer => "integer",
        TokenKind.Float => "float",
        TokenKind.Data => "template data / text",
        _ => Describe(Kind),
    };

    public static string Describe(TokenKind k) => k switch
    {
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.Eof => "end of template",
        TokenKind.Name => "name",
        TokenKind.String => "string",
        TokenKind.Integer => "integer",
        TokenKind.Float => "float",
        TokenKind.Data => "template data / text",
        TokenKind.Add => "+", TokenKind.Sub => "-", TokenKind.Div => "/", TokenKind.FloorDiv => "//",
        TokenKind.Mul => "*", TokenKind.Mod => "%", TokenKind.Pow => "**", TokenKind.Tilde => "~",
        TokenKind.LBracket => "[", TokenKind.RBracket => "]", TokenKind.LParen => "(", TokenKind.RParen => ")",
        TokenKind.LBrace => "{", TokenKind.RBrace => "}", TokenKind.Eq => "==", TokenKind.Ne => "!=",
        TokenKind.Gt => ">", TokenKind.GtEq => ">=", TokenKind.Lt => "<", TokenKind.LtEq => "<=",
        TokenKind.Assign => "=", TokenKind.Dot => ".", TokenKind.Colon => ":", TokenKind.Pipe => "|",
        TokenKind.Comma => ",", TokenKind.Semicolon => ";",
        _ => k.ToString(),
    };
}

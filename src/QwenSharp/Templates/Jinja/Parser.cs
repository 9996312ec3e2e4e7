namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Recursive-descent parser for Jinja2's grammar (operator precedence, tests, filters, call arguments, slices,
/// statements) following Jinja2's own parser. Unknown filters, tests and tags are syntax errors reported here,
/// at load time, with line and column. Nesting is bounded by <see cref="TemplateLimits.MaxNestingDepth"/>.
/// </summary>
internal sealed class Parser
{
    readonly SourceText _source;
    readonly List<Token> _tokens;
    readonly int _maxDepth;
    int _pos;
    int _depth;
    int _loopDepth;
    readonly List<string[]> _endTokens = new();
    readonly List<string> _tagStack = new();
    readonly List<bool[]> _macroUsage = new(); // per macro being parsed: uses caller, varargs, kwargs

    Parser(SourceText source, List<Token> tokens, int maxDepth)
    {
        _source = source;
        _tokens = tokens;
        _maxDepth = maxDepth;
    }

    public static Stmt[] Parse(SourceText source, int maxDepth)
    {
        List<Token> tokens;
        try { tokens = Lexer.Tokenize(source); }
        catch (Exception e) when (e is not TemplateException) { throw source.Error($"InternalError: {e.GetType().Name}: {e.Message}", 0, e); }
        var p = new Parser(source, tokens, maxDepth);
        try
        {
            return p.Subparse(null).ToArray();
        }
        catch (InsufficientExecutionStackException e)
        {
            throw source.Error("LimitExceeded: template nested too deeply to parse", p.Cur.Offset, e);
        }
        catch (Exception e) when (e is not TemplateException)
        {
            throw source.Error($"InternalError: {e.GetType().Name}: {e.Message}", p.Cur.Offset, e);
        }
    }

    Token Cur => _tokens[_pos];
    Token Peek => _tokens[Math.Min(_pos + 1, _tokens.Count - 1)];

    Token Next()
    {
        var t = _tokens[_pos];
        if (_pos < _tokens.Count - 1) _pos++;
        return t;
    }

    TemplateException Fail(string message, int offset, string kind = "TemplateSyntaxError") =>
        _source.Error($"{kind}: {message}", offset);

    Token Expect(TokenKind kind)
    {
        if (Cur.Kind == kind) return Next();
        if (Cur.Kind == TokenKind.Eof) throw Fail($"unexpected end of template, expected '{Token.Describe(kind)}'.", Cur.Offset);
        throw Fail($"expected token '{Token.Describe(kind)}', got '{Cur.Describe()}'", Cur.Offset);
    }

    Token ExpectName(string name)
    {
        if (Cur.IsName(name)) return Next();
        if (Cur.Kind == TokenKind.Eof) throw Fail($"unexpected end of template, expected '{name}'.", Cur.Offset);
        throw Fail($"expected token '{name}', got '{Cur.Describe()}'", Cur.Offset);
    }

    bool SkipIf(TokenKind kind)
    {
        if (Cur.Kind != kind) return false;
        Next();
        return true;
    }

    bool SkipIfName(string name)
    {
        if (!Cur.IsName(name)) return false;
        Next();
        return true;
    }

    void Enter()
    {
        if (++_depth > _maxDepth) throw Fail($"template nested more than {_maxDepth} levels deep", Cur.Offset, "LimitExceeded");
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
    }

    void Exit() => _depth--;

    T Check<T>(T e) where T : Expr
    {
        if (e.Depth > _maxDepth) throw Fail($"expression nested more than {_maxDepth} levels deep", e.Offset, "LimitExceeded");
        return e;
    }

    // ---------- statements ----------

    List<Stmt> Subparse(string[]? endTokens)
    {
        var body = new List<Stmt>();
        if (endTokens != null) _endTokens.Add(endTokens);
        try
        {
            while (Cur.Kind != TokenKind.Eof)
            {
                var tok = Cur;
                switch (tok.Kind)
                {
                    case TokenKind.Data:
                        body.Add(new TextStmt(tok.Offset, tok.Text!));
                        Next();
                        break;
                    case TokenKind.VariableBegin:
                        Next();
                        var expr = ParseTuple();
                        Expect(TokenKind.VariableEnd);
                        body.Add(new OutputStmt(tok.Offset, expr));
                        break;
                    case TokenKind.BlockBegin:
                        Next();
                        if (endTokens != null && Cur.Kind == TokenKind.Name && Array.IndexOf(endTokens, Cur.Text) >= 0) return body;
                        body.Add(ParseStatement());
                        Expect(TokenKind.BlockEnd);
                        break;
                    default:
                        throw Fail($"unexpected '{tok.Describe()}'", tok.Offset);
                }
            }
            return body;
        }
        finally
        {
            if (endTokens != null) _endTokens.RemoveAt(_endTokens.Count - 1);
        }
    }

    Stmt[] ParseStatements(string[] endTokens, bool dropNeedle = false)
    {
        SkipIf(TokenKind.Colon);
        Expect(TokenKind.BlockEnd);
        Enter();
        var result = Subparse(endTokens);
        if (Cur.Kind == TokenKind.Eof) FailUnknownTagOrEof(null, endTokens, Cur.Offset);
        if (dropNeedle) Next();
        Exit();
        return result.ToArray();
    }

    void FailUnknownTagOrEof(string? name, string[]? innermost, int offset)
    {
        var stack = new List<string[]>(_endTokens);
        if (innermost != null) stack.Add(innermost);
        var expected = stack.SelectMany(x => x).ToHashSet();
        var message = new List<string> { name == null ? "Unexpected end of template." : $"Encountered unknown tag '{name}'." };
        if (stack.Count > 0)
        {
            string looking = string.Join(" or ", stack[^1].Select(t => $"'{t}'"));
            message.Add(name != null && expected.Contains(name)
                ? $"You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for {looking}."
                : $"Jinja was looking for the following tags: {looking}.");
        }
        if (_tagStack.Count > 0) message.Add($"The innermost block that needs to be closed is '{_tagStack[^1]}'.");
        throw Fail(string.Join(" ", message), offset);
    }

    Stmt ParseStatement()
    {
        var tok = Cur;
        if (tok.Kind != TokenKind.Name) throw Fail("tag name expected", tok.Offset);
        _tagStack.Add(tok.Text!);
        bool pop = true;
        try
        {
            switch (tok.Text)
            {
                case "for": return ParseFor();
                case "if": return ParseIf();
                case "set": return ParseSet();
                case "macro": return ParseMacro();
                case "call": return ParseCallBlock();
                case "filter": return ParseFilterBlock();
                case "with": return ParseWith();
                case "print": return ParsePrint();
                case "block": return ParseBlock();
                case "autoescape":
                {
                    Next();
                    var e = ParseExpression();
                    return new ScopedStmt(tok.Offset, ParseStatements(["endautoescape"], true), e);
                }
                case "generation":
                    Next();
                    return new ScopedStmt(tok.Offset, ParseStatements(["endgeneration"], true));
                case "break":
                case "continue":
                    Next();
                    if (_loopDepth == 0) throw Fail($"'{tok.Text}' outside of a loop", tok.Offset);
                    return new BreakStmt(tok.Offset, tok.Text == "break");
                case "extends":
                case "include":
                case "import":
                case "from":
                    return ParseLoaderTag();
            }
            _tagStack.RemoveAt(_tagStack.Count - 1);
            pop = false;
            FailUnknownTagOrEof(tok.Text, null, tok.Offset);
            throw new InvalidOperationException("unreachable");
        }
        finally
        {
            if (pop) _tagStack.RemoveAt(_tagStack.Count - 1);
        }
    }

    Stmt ParseFor()
    {
        var start = ExpectName("for");
        var target = ParseAssignTarget(extraEnd: "in");
        ExpectName("in");
        var iter = ParseTuple(withCondexpr: false, extraEnd: "recursive");
        Expr? filter = SkipIfName("if") ? ParseExpression() : null;
        bool recursive = SkipIfName("recursive");
        _loopDepth++;
        var body = ParseStatements(["endfor", "else"]);
        _loopDepth--;
        Stmt[] otherwise = [];
        if (Next().Text != "endfor") otherwise = ParseStatements(["endfor"], true);
        return new ForStmt(start.Offset, target, iter, filter, body, otherwise, recursive);
    }

    Stmt ParseIf()
    {
        var start = ExpectName("if");
        var branches = new List<(Expr, Stmt[])>();
        Stmt[] otherwise = [];
        while (true)
        {
            var test = ParseTuple(withCondexpr: false);
            var body = ParseStatements(["elif", "else", "endif"]);
            branches.Add((test, body));
            var tok = Next();
            if (tok.IsName("elif")) continue;
            if (tok.IsName("else")) otherwise = ParseStatements(["endif"], true);
            break;
        }
        return new IfStmt(start.Offset, branches.ToArray(), otherwise);
    }

    Stmt ParseSet()
    {
        var start = Next();
        var target = ParseAssignTarget(withNamespace: true);
        if (SkipIf(TokenKind.Assign)) return new AssignStmt(start.Offset, target, ParseTuple());
        var filter = (FilterExpr?)ParseFilter(null, startInline: false);
        var body = ParseStatements(["endset"], true);
        return new AssignBlockStmt(start.Offset, target, filter, body);
    }

    (string[] Names, Expr?[] Defaults) ParseSignature()
    {
        var names = new List<string>();
        var defaults = new List<Expr?>();
        Expect(TokenKind.LParen);
        while (Cur.Kind != TokenKind.RParen)
        {
            if (names.Count > 0) Expect(TokenKind.Comma);
            names.Add(Expect(TokenKind.Name).Text!);
            if (SkipIf(TokenKind.Assign)) defaults.Add(ParseExpression());
            else if (defaults.Any(d => d != null)) throw Fail("non-default argument follows default argument", Cur.Offset);
            else defaults.Add(null);
        }
        Expect(TokenKind.RParen);
        return (names.ToArray(), defaults.ToArray());
    }

    MacroDefinition ParseMacroBody(string name, string[] parameters, Expr?[] defaults, string endTag)
    {
        _macroUsage.Add(new bool[3]);
        int savedLoops = _loopDepth;
        _loopDepth = 0;
        Stmt[] body;
        try { body = ParseStatements([endTag], true); }
        finally { _loopDepth = savedLoops; }
        var usage = _macroUsage[^1];
        _macroUsage.RemoveAt(_macroUsage.Count - 1);
        return new MacroDefinition(name, parameters, defaults, body, catchVarargs: usage[1], catchKwargs: usage[2], usesCaller: usage[0]);
    }

    Stmt ParseMacro()
    {
        var start = Next();
        string name = Expect(TokenKind.Name).Text!;
        var (parameters, defaults) = ParseSignature();
        return new MacroStmt(start.Offset, ParseMacroBody(name, parameters, defaults, "endmacro"));
    }

    Stmt ParseCallBlock()
    {
        var start = Next();
        var (parameters, defaults) = Cur.Kind == TokenKind.LParen ? ParseSignature() : ([], []);
        var call = ParseExpression();
        if (call is not CallExpr callExpr) throw Fail("expected call", start.Offset);
        return new CallBlockStmt(start.Offset, callExpr, ParseMacroBody("caller", parameters, defaults, "endcall"));
    }

    Stmt ParseFilterBlock()
    {
        var start = Next();
        var filter = (FilterExpr)ParseFilter(null, startInline: true)!;
        return new FilterBlockStmt(start.Offset, filter, ParseStatements(["endfilter"], true));
    }

    Stmt ParseWith()
    {
        var start = Next();
        var targets = new List<Target>();
        var values = new List<Expr>();
        while (Cur.Kind != TokenKind.BlockEnd)
        {
            if (targets.Count > 0) Expect(TokenKind.Comma);
            targets.Add(ParseAssignTarget());
            Expect(TokenKind.Assign);
            values.Add(ParseExpression());
        }
        return new WithStmt(start.Offset, targets.ToArray(), values.ToArray(), ParseStatements(["endwith"], true));
    }

    Stmt ParsePrint()
    {
        var start = Next();
        var exprs = new List<Expr>();
        while (Cur.Kind != TokenKind.BlockEnd)
        {
            if (exprs.Count > 0) Expect(TokenKind.Comma);
            exprs.Add(ParseExpression());
        }
        var stmts = exprs.Select(e => (Stmt)new OutputStmt(e.Offset, e)).ToArray();
        return new BodyStmt(start.Offset, stmts);
    }

    Stmt ParseBlock()
    {
        var start = Next();
        string name = Expect(TokenKind.Name).Text!;
        SkipIfName("scoped");
        SkipIfName("required");
        if (Cur.Kind == TokenKind.Sub)
            throw Fail("Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an underscore instead.", Cur.Offset);
        var body = ParseStatements(["endblock"], true);
        SkipIfName(name);
        return new ScopedStmt(start.Offset, body);
    }

    /// <summary>extends / include / import / from: parsed, but they fail when run (a chat template cannot load others).</summary>
    Stmt ParseLoaderTag()
    {
        var start = Next();
        ParseExpression();
        while (Cur.Kind != TokenKind.BlockEnd && Cur.Kind != TokenKind.Eof) Next();
        return new FailStmt(start.Offset, "TemplateError", $"'{start.Text}' is not available: a chat template cannot load other templates");
    }

    Target ParseAssignTarget(string? extraEnd = null, bool withNamespace = false)
    {
        if (withNamespace && Cur.Kind == TokenKind.Name && Peek.Kind == TokenKind.Dot)
        {
            var name = Next();
            Next();
            var attr = Expect(TokenKind.Name);
            return new NamespaceTarget(name.Offset, name.Text!, attr.Text!);
        }
        return ToTarget(ParseTuple(simplified: true, extraEnd: extraEnd));
    }

    Target ToTarget(Expr e) => e switch
    {
        NameExpr n => new NameTarget(n.Offset, n.Name),
        TupleExpr t => new TupleTarget(t.Offset, t.Items.Select(ToTarget).ToArray()),
        _ => throw Fail($"can't assign to '{KindName(e)}'", e.Offset),
    };

    static string KindName(Expr e) => e switch
    {
        ConstExpr => "const",
        CallExpr => "call",
        GetAttrExpr => "getattr",
        GetItemExpr => "getitem",
        ListExpr => "list",
        DictExpr => "dict",
        _ => e.GetType().Name.Replace("Expr", "").ToLowerInvariant(),
    };

    // ---------- expressions ----------

    Expr ParseExpression(bool withCondexpr = true)
    {
        Enter();
        try { return withCondexpr ? ParseCondexpr() : ParseOr(); }
        finally { Exit(); }
    }

    Expr ParseCondexpr()
    {
        var expr1 = ParseOr();
        while (Cur.IsName("if"))
        {
            int off = Next().Offset;
            var expr2 = ParseOr();
            Expr? expr3 = null;
            if (SkipIfName("else"))
            {
                Enter();
                try { expr3 = ParseCondexpr(); } finally { Exit(); }
            }
            expr1 = Check(new CondExpr(off, expr2, expr1, expr3));
        }
        return expr1;
    }

    Expr ParseOr()
    {
        var left = ParseAnd();
        while (Cur.IsName("or"))
        {
            int off = Next().Offset;
            left = Check(new LogicalExpr(off, false, left, ParseAnd()));
        }
        return left;
    }

    Expr ParseAnd()
    {
        var left = ParseNot();
        while (Cur.IsName("and"))
        {
            int off = Next().Offset;
            left = Check(new LogicalExpr(off, true, left, ParseNot()));
        }
        return left;
    }

    Expr ParseNot()
    {
        if (!Cur.IsName("not")) return ParseCompare();
        int off = Next().Offset;
        Enter();
        try { return Check(new NotExpr(off, ParseNot())); }
        finally { Exit(); }
    }

    Expr ParseCompare()
    {
        int off = Cur.Offset;
        var expr = ParseMath1();
        var ops = new List<(TokenKind, bool, Expr)>();
        while (true)
        {
            var k = Cur.Kind;
            if (k is TokenKind.Eq or TokenKind.Ne or TokenKind.Lt or TokenKind.LtEq or TokenKind.Gt or TokenKind.GtEq)
            {
                Next();
                ops.Add((k, false, ParseMath1()));
            }
            else if (Cur.IsName("in"))
            {
                Next();
                ops.Add((CompareExpr.In, false, ParseMath1()));
            }
            else if (Cur.IsName("not") && Peek.IsName("in"))
            {
                Next();
                Next();
                ops.Add((CompareExpr.In, true, ParseMath1()));
            }
            else break;
        }
        return ops.Count == 0 ? expr : Check(new CompareExpr(off, expr, ops.ToArray()));
    }

    Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Cur.Kind is TokenKind.Add or TokenKind.Sub)
        {
            var op = Next();
            left = Check(new BinaryExpr(op.Offset, op.Kind, left, ParseConcat()));
        }
        return left;
    }

    Expr ParseConcat()
    {
        int off = Cur.Offset;
        var first = ParseMath2();
        if (Cur.Kind != TokenKind.Tilde) return first;
        var parts = new List<Expr> { first };
        while (SkipIf(TokenKind.Tilde)) parts.Add(ParseMath2());
        return Check(new ConcatExpr(off, parts.ToArray()));
    }

    Expr ParseMath2()
    {
        var left = ParsePow();
        while (Cur.Kind is TokenKind.Mul or TokenKind.Div or TokenKind.FloorDiv or TokenKind.Mod)
        {
            var op = Next();
            left = Check(new BinaryExpr(op.Offset, op.Kind, left, ParsePow()));
        }
        return left;
    }

    Expr ParsePow()
    {
        var left = ParseUnary();
        while (Cur.Kind == TokenKind.Pow)
        {
            var op = Next();
            left = Check(new BinaryExpr(op.Offset, op.Kind, left, ParseUnary()));
        }
        return left;
    }

    Expr ParseUnary(bool withFilter = true)
    {
        var tok = Cur;
        Expr node;
        if (tok.Kind is TokenKind.Sub or TokenKind.Add)
        {
            Next();
            Enter();
            try { node = Check(new UnaryExpr(tok.Offset, tok.Kind, ParseUnary(false))); }
            finally { Exit(); }
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        return node;
    }

    Expr ParsePrimary()
    {
        var tok = Cur;
        switch (tok.Kind)
        {
            case TokenKind.Name:
                Next();
                switch (tok.Text)
                {
                    case "true" or "True": return new ConstExpr(tok.Offset, true);
                    case "false" or "False": return new ConstExpr(tok.Offset, false);
                    case "none" or "None": return new ConstExpr(tok.Offset, null);
                }
                int usage = tok.Text switch { "caller" => 0, "varargs" => 1, "kwargs" => 2, _ => -1 };
                if (usage >= 0) foreach (var u in _macroUsage) u[usage] = true;
                return new NameExpr(tok.Offset, tok.Text!);
            case TokenKind.String:
            {
                Next();
                string s = tok.Text!;
                while (Cur.Kind == TokenKind.String) s += Next().Text;
                return new ConstExpr(tok.Offset, s);
            }
            case TokenKind.Integer:
            case TokenKind.Float:
                Next();
                return new ConstExpr(tok.Offset, tok.Value);
            case TokenKind.LParen:
            {
                Next();
                Enter();
                try
                {
                    var node = ParseTuple(explicitParentheses: true);
                    Expect(TokenKind.RParen);
                    return node;
                }
                finally { Exit(); }
            }
            case TokenKind.LBracket:
                return ParseList();
            case TokenKind.LBrace:
                return ParseDict();
            default:
                throw Fail($"unexpected '{tok.Describe()}'", tok.Offset);
        }
    }

    Expr ParseTuple(bool simplified = false, bool withCondexpr = true, string? extraEnd = null, bool explicitParentheses = false)
    {
        int off = Cur.Offset;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Comma);
            if (Cur.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.RParen || (extraEnd != null && Cur.IsName(extraEnd))) break;
            items.Add(simplified ? ParsePrimary() : ParseExpression(withCondexpr));
            if (Cur.Kind == TokenKind.Comma) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParentheses) throw Fail($"Expected an expression, got '{Cur.Describe()}'", Cur.Offset);
        }
        return Check(new TupleExpr(off, items.ToArray()));
    }

    Expr ParseList()
    {
        var start = Expect(TokenKind.LBracket);
        var items = new List<Expr>();
        Enter();
        try
        {
            while (Cur.Kind != TokenKind.RBracket)
            {
                if (items.Count > 0) Expect(TokenKind.Comma);
                if (Cur.Kind == TokenKind.RBracket) break;
                items.Add(ParseExpression());
            }
            Expect(TokenKind.RBracket);
        }
        finally { Exit(); }
        return Check(new ListExpr(start.Offset, items.ToArray()));
    }

    Expr ParseDict()
    {
        var start = Expect(TokenKind.LBrace);
        var keys = new List<Expr>();
        var values = new List<Expr>();
        Enter();
        try
        {
            while (Cur.Kind != TokenKind.RBrace)
            {
                if (keys.Count > 0) Expect(TokenKind.Comma);
                if (Cur.Kind == TokenKind.RBrace) break;
                keys.Add(ParseExpression());
                Expect(TokenKind.Colon);
                values.Add(ParseExpression());
            }
            Expect(TokenKind.RBrace);
        }
        finally { Exit(); }
        return Check(new DictExpr(start.Offset, keys.ToArray(), values.ToArray()));
    }

    Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Cur.Kind is TokenKind.Dot or TokenKind.LBracket) node = ParseSubscript(node);
            else if (Cur.Kind == TokenKind.LParen) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Cur.Kind == TokenKind.Pipe) node = ParseFilter(node, false)!;
            else if (Cur.IsName("is")) node = ParseTest(node);
            else if (Cur.Kind == TokenKind.LParen) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseSubscript(Expr node)
    {
        var tok = Next();
        if (tok.Kind == TokenKind.Dot)
        {
            var attr = Next();
            if (attr.Kind == TokenKind.Name) return Check(new GetAttrExpr(tok.Offset, node, attr.Text!));
            if (attr.Kind != TokenKind.Integer) throw Fail("expected name or number", attr.Offset);
            return Check(new GetItemExpr(tok.Offset, node, new ConstExpr(attr.Offset, attr.Value)));
        }
        var args = new List<Expr>();
        Enter();
        try
        {
            while (Cur.Kind != TokenKind.RBracket)
            {
                if (args.Count > 0) Expect(TokenKind.Comma);
                args.Add(ParseSubscribed());
            }
            Expect(TokenKind.RBracket);
        }
        finally { Exit(); }
        var key = args.Count == 1 ? args[0] : Check(new TupleExpr(tok.Offset, args.ToArray()));
        return Check(new GetItemExpr(tok.Offset, node, key));
    }

    Expr ParseSubscribed()
    {
        int off = Cur.Offset;
        Expr? start = null;
        if (Cur.Kind == TokenKind.Colon) Next();
        else
        {
            var node = ParseExpression();
            if (Cur.Kind != TokenKind.Colon) return node;
            Next();
            start = node;
        }
        Expr? stop = null, step = null;
        if (Cur.Kind is not (TokenKind.Colon or TokenKind.RBracket or TokenKind.Comma)) stop = ParseExpression();
        if (Cur.Kind == TokenKind.Colon)
        {
            Next();
            if (Cur.Kind is not (TokenKind.RBracket or TokenKind.Comma)) step = ParseExpression();
        }
        return Check(new SliceExpr(off, start, stop, step));
    }

    Expr ParseCall(Expr node)
    {
        // A call of a plain name is reported at the name, any other call at its parenthesis.
        int off = node is NameExpr ? node.Offset : Cur.Offset;
        return Check(new CallExpr(off, node, ParseCallArgs()));
    }

    ArgList ParseCallArgs()
    {
        var open = Expect(TokenKind.LParen);
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        Expr? dynArgs = null, dynKwargs = null;
        bool requireComma = false;
        void Ensure(bool ok)
        {
            if (!ok) throw Fail("invalid syntax for function call expression", open.Offset);
        }
        Enter();
        try
        {
            while (Cur.Kind != TokenKind.RParen)
            {
                if (requireComma)
                {
                    Expect(TokenKind.Comma);
                    if (Cur.Kind == TokenKind.RParen) break;
                }
                if (Cur.Kind == TokenKind.Mul)
                {
                    Ensure(dynArgs == null && dynKwargs == null);
                    Next();
                    dynArgs = ParseExpression();
                }
                else if (Cur.Kind == TokenKind.Pow)
                {
                    Ensure(dynKwargs == null);
                    Next();
                    dynKwargs = ParseExpression();
                }
                else if (Cur.Kind == TokenKind.Name && Peek.Kind == TokenKind.Assign)
                {
                    Ensure(dynKwargs == null);
                    string key = Next().Text!;
                    Next();
                    kwargs.Add((key, ParseExpression()));
                }
                else
                {
                    Ensure(dynArgs == null && dynKwargs == null && kwargs.Count == 0);
                    args.Add(ParseExpression());
                }
                requireComma = true;
            }
            Expect(TokenKind.RParen);
        }
        finally { Exit(); }
        return new ArgList(args.ToArray(), kwargs.ToArray(), dynArgs, dynKwargs);
    }

    Expr? ParseFilter(Expr? node, bool startInline)
    {
        while (Cur.Kind == TokenKind.Pipe || startInline)
        {
            if (!startInline) Next();
            var tok = Expect(TokenKind.Name);
            string name = tok.Text!;
            while (Cur.Kind == TokenKind.Dot) { Next(); name += "." + Expect(TokenKind.Name).Text; }
            var args = Cur.Kind == TokenKind.LParen ? ParseCallArgs() : ArgList.None;
            if (!BuiltinFilters.All.TryGetValue(name, out var function))
                throw Fail($"No filter named '{name}'.", tok.Offset, "TemplateAssertionError");
            node = Check(new FilterExpr(tok.Offset, node, name, function, args));
            startInline = false;
        }
        return node;
    }

    Expr ParseTest(Expr node)
    {
        var tok = ExpectName("is");
        bool negated = SkipIfName("not");
        var nameTok = Expect(TokenKind.Name);
        string name = nameTok.Text!;
        while (Cur.Kind == TokenKind.Dot) { Next(); name += "." + Expect(TokenKind.Name).Text; }
        ArgList args;
        if (Cur.Kind == TokenKind.LParen) args = ParseCallArgs();
        else if (Cur.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float or TokenKind.LParen or TokenKind.LBracket or TokenKind.LBrace
                 && !(Cur.IsName("else") || Cur.IsName("or") || Cur.IsName("and")))
        {
            if (Cur.IsName("is")) throw Fail("You cannot chain multiple tests with is", Cur.Offset);
            var arg = ParsePostfix(ParsePrimary());
            args = new ArgList([arg], [], null, null);
        }
        else args = ArgList.None;
        if (!BuiltinTests.All.TryGetValue(name, out var function))
            throw Fail($"No test named '{name}'.", nameTok.Offset, "TemplateAssertionError");
        Expr result = Check(new TestExpr(tok.Offset, node, name, function, args));
        return negated ? Check(new NotExpr(tok.Offset, result)) : result;
    }
}

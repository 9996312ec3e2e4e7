using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>
/// Property: whatever the template text and whatever the data, parsing and rendering either succeed or throw a
/// TemplateException (never another exception, a crash or a hang), and never an engine-internal error.
/// Seeds are fixed, so a failure reproduces.
/// </summary>
public class TemplateFuzzTests
{
    /// <summary>QWENSHARP_FUZZ_SCALE=N runs N times as many cases (for a longer local run).</summary>
    static int Scale => int.TryParse(Environment.GetEnvironmentVariable("QWENSHARP_FUZZ_SCALE"), out var s) && s > 0 ? s : 1;

    static readonly TemplateLimits Small = new()
    {
        MaxLoopIterations = 20_000, MaxOutputLength = 200_000, MaxAllocatedItems = 5_000_000, Timeout = TimeSpan.FromSeconds(5),
    };

    static readonly string[] Pieces =
    [
        "{%", "%}", "{{", "}}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "+%}", "{%+", " ", " ", " ", "\n", "\t", "\r\n",
        "if ", "elif ", "else", "endif", "for ", " in ", "endfor", "set ", "=", "==", "!=", "<", ">=", "x", "y", "messages", "m",
        "loop", "loop.index", "loop.previtem", ".", "[", "]", "(", ")", "{", "}", "|", "length", "tojson", "tojson(indent=2)",
        "'", "\"", "\\", "~", "*", "**", "+", "-", "/", "//", "%", "0", "1", "-1", "2.5", "1e3", "0x1f", "not ", " is ", " and ", " or ",
        "defined", "none", "string", "mapping", "macro ", "endmacro", "call", "endcall", "filter ", "endfilter", "raw", "endraw",
        "namespace(", "ns", "ns.a", ",", ":", "::-1", "[1:]", "items", "trim", "selectattr(", "map(", "join", "reject('in', ", "'a'",
        "\"b\"", "true", "false", "range(", "content", "role", "recursive", "break", "continue", "with ", "endwith", "caller()", "varargs",
        "kwargs", "é", "😀", "\u0000", "#", "}}}", "{{{", ".split(", ".strip(", ".replace(", ".startswith(", ".format(", "'%s' % ",
        "lower", "upper", "dict(", "...", "if", "is", "in", "raise_exception(", "strftime_now('%Y')", "*args", "**kw", "=1", "endset",
        "generation", "endgeneration", "autoescape", "print ", "block ", "endblock", "include ", "import ", "'\\x4'", "'\\u12'", "0b", "00",
    ];

    static readonly string[] Keys = ["role", "content", "x", "m", "a", "tool_calls", "function", "name", "arguments", "text", "type", "items", "keys"];

    static JsonNode? RandomJson(Random r, int depth)
    {
        switch (r.Next(depth <= 0 ? 6 : 9))
        {
            case 0: return null;
            case 1: return r.Next(2) == 0;
            case 2: return r.Next(-3, 1000);
            case 3: return r.NextDouble() * 1e6 - 5e5;
            case 4:
            case 5: return Pieces[r.Next(Pieces.Length)] + (r.Next(3) == 0 ? "</think>" : "") + Keys[r.Next(Keys.Length)];
            case 6:
            case 7:
            {
                var o = new JsonObject();
                int n = r.Next(5);
                for (int i = 0; i < n; i++) o[Keys[r.Next(Keys.Length)]] = RandomJson(r, depth - 1);
                return o;
            }
            default:
            {
                var a = new JsonArray();
                int n = r.Next(5);
                for (int i = 0; i < n; i++) a.Add(RandomJson(r, depth - 1));
                return a;
            }
        }
    }

    static JsonObject RandomKwargs(Random r)
    {
        var messages = new JsonArray();
        int n = r.Next(6);
        string[] roles = ["system", "user", "assistant", "tool", "other"];
        for (int i = 0; i < n; i++)
        {
            var m = r.Next(5) == 0 ? RandomJson(r, 2) : new JsonObject { ["role"] = roles[r.Next(roles.Length)], ["content"] = RandomJson(r, 2) };
            if (m is JsonObject mo && r.Next(4) == 0)
                mo["tool_calls"] = r.Next(2) == 0 ? RandomJson(r, 3) : new JsonArray(new JsonObject { ["function"] = new JsonObject { ["name"] = "f", ["arguments"] = RandomJson(r, 2) } });
            if (m is JsonObject mr && r.Next(5) == 0) mr["reasoning_content"] = RandomJson(r, 1);
            messages.Add(m);
        }
        var kwargs = new JsonObject { ["messages"] = messages };
        if (r.Next(2) == 0) kwargs["tools"] = r.Next(3) == 0 ? new JsonArray() : new JsonArray(new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = "t", ["description"] = RandomJson(r, 1), ["parameters"] = RandomJson(r, 3) },
        });
        if (r.Next(2) == 0) kwargs["add_generation_prompt"] = r.Next(2) == 0;
        else if (r.Next(4) == 0) kwargs["continue_final_message"] = true;
        if (r.Next(3) == 0) kwargs["enable_thinking"] = RandomJson(r, 1);
        if (r.Next(3) == 0) kwargs["x"] = RandomJson(r, 3);
        return kwargs;
    }

    static void Check(string source, JsonObject kwargs, string what)
    {
        ChatTemplate chat;
        try
        {
            chat = ChatTemplate.Parse(source, "fuzz", Small);
        }
        catch (TemplateException e)
        {
            Assert.False(e.Reason.StartsWith("InternalError", StringComparison.Ordinal), $"{what}: parse: {e.Message}\n{Quote(source)}");
            Assert.True(e.Line >= 1, $"{what}: parse error without a line: {e.Message}");
            return;
        }
        try
        {
            chat.Render(kwargs);
        }
        catch (TemplateException e)
        {
            Assert.False(e.Reason.StartsWith("InternalError", StringComparison.Ordinal),
                $"{what}: render: {e.Message}\n{e.InnerException}\n{Quote(source)}\n{kwargs.ToJsonString()}");
        }
    }

    static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    [Fact]
    public void Random_template_text_and_random_data()
    {
        var r = new Random(20250307);
        for (int i = 0; i < 6000 * Scale; i++)
        {
            var sb = new StringBuilder();
            int n = r.Next(1, 40);
            for (int k = 0; k < n; k++) sb.Append(Pieces[r.Next(Pieces.Length)]);
            Check(sb.ToString(), RandomKwargs(r), $"random #{i}");
        }
    }

    [Fact]
    public void Random_well_formed_snippets_and_random_data()
    {
        // Expressions inside valid tags reach the evaluator far more often than raw random text.
        var r = new Random(42);
        string[] exprs =
        [
            "x", "x.a", "x['content']", "x[0]", "x[-1:]", "x | length", "x | tojson", "x | items | list", "x | string", "x ~ 1", "x + x",
            "x * 2", "x - 1", "x / 2", "x // 2", "x % 2", "x ** 2", "-x", "not x", "x is string", "x is mapping", "x is iterable", "x in x",
            "x == x", "x < x", "x.split('a')", "x.strip('\\n')", "x.startswith('a')", "x | join(',')", "x | first", "x | last", "x | sort",
            "x | unique | list", "x | map('string') | list", "x | selectattr('role') | list", "x | reject('in', ['a']) | list", "x.items()",
            "x.keys()", "x.get('a')", "x | trim", "x | int", "x | float", "x | abs", "x | round", "x | reverse | list", "x | dictsort",
            "x | batch(2) | list", "x | sum", "x | min", "x | max", "x | replace('a', 'b')", "x | indent(2)", "x | title", "'%s' % x",
            "'{}'.format(x)", "x | format(x)", "x if x else 1", "namespace(a=x).a", "dict(a=x)", "range(x)", "x[x]", "x.content.x",
        ];
        string[] forms =
        [
            "{{ E }}", "{% if E %}a{% else %}b{% endif %}", "{% for v in E %}{{ v }}{{ loop.index }}{% endfor %}",
            "{% set y = E %}{{ y }}", "{% for k, v in E %}{{ k }}{% endfor %}", "{% macro f(a, b=E) %}{{ a }}{{ b }}{% endmacro %}{{ f(E) }}",
            "{% set ns = namespace(v=E) %}{% for i in [1, 2] %}{% set ns.v = E %}{% endfor %}{{ ns.v }}",
            "{% for m in messages %}{% set x = m %}{{ E }}{% endfor %}", "{% filter upper %}{{ E }}{% endfilter %}",
        ];
        for (int i = 0; i < 6000 * Scale; i++)
        {
            string form = forms[r.Next(forms.Length)];
            while (form.Contains('E')) { int at = form.IndexOf('E'); form = form[..at] + exprs[r.Next(exprs.Length)] + form[(at + 1)..]; }
            var kwargs = RandomKwargs(r);
            kwargs["x"] = RandomJson(r, 3);
            Check(form, kwargs, $"snippet #{i}");
        }
    }

    [Fact]
    public void Mutated_qwen_templates_with_fixture_and_random_data()
    {
        var r = new Random(7);
        var names = TemplateFixtures.TemplateNames;
        var cases = TemplateFixtures.Cases;
        for (int i = 0; i < 2000 * Scale; i++)
        {
            string s = TemplateFixtures.TemplateSource(names[r.Next(names.Length)]);
            int edits = r.Next(1, 4);
            for (int k = 0; k < edits && s.Length > 0; k++)
            {
                int at = r.Next(s.Length);
                int len = Math.Min(r.Next(1, 12), s.Length - at);
                s = r.Next(4) switch
                {
                    0 => s.Remove(at, len),
                    1 => s.Insert(at, Pieces[r.Next(Pieces.Length)]),
                    2 => s.Insert(at, s.Substring(at, len)),
                    _ => s[..at] + new string(s[at], 1) + s[(at + 1)..].Remove(0, Math.Min(1, s.Length - at - 1)),
                };
            }
            var kwargs = r.Next(2) == 0 ? TemplateFixtures.Kwargs(cases[r.Next(cases.Count)]) : RandomKwargs(r);
            Check(s, kwargs, $"mutation #{i}");
        }
    }

    [Fact]
    public void Real_templates_with_random_data()
    {
        var r = new Random(99);
        foreach (var name in TemplateFixtures.TemplateNames)
        {
            var chat = ChatTemplate.Parse(TemplateFixtures.TemplateSource(name), name, Small);
            for (int i = 0; i < 400 * Scale; i++)
            {
                var kwargs = RandomKwargs(r);
                try { chat.Render(kwargs); }
                catch (TemplateException e)
                {
                    Assert.False(e.Reason.StartsWith("InternalError", StringComparison.Ordinal), $"{name}: {e.Message}\n{e.InnerException}\n{kwargs.ToJsonString()}");
                }
            }
        }
    }
}

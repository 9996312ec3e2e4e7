using System.Text.Json.Nodes;
using QwenSharp.Templates;
using QwenSharp.Templates.Jinja;

namespace QwenSharp.Tests.Templates;

/// <summary>
/// Jinja2 features one by one (whitespace control, literals, operators, methods, filters, tests, statements,
/// undefined values, errors), each checked against the output Python Jinja2 gives with transformers' setup.
/// The expected values in engine/engine-cases.jsonl come from engine/make_engine_cases.py.
/// </summary>
public class EngineCaseTests
{
    public sealed record EngineCase(int Id, string Template, JsonObject Vars, string? Expected, string? Error, bool AtParse);

    static readonly Lazy<IReadOnlyList<EngineCase>> All = new(() =>
        File.ReadLines(Path.Combine(TemplateFixtures.Dir, "engine", "engine-cases.jsonl"))
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Select(o => new EngineCase((int)o["id"]!, (string)o["template"]!, o["vars"]!.AsObject(), (string?)o["expected"],
                (string?)o["error"], (bool?)o["at_parse"] ?? false))
            .ToList());

    public static IEnumerable<object[]> Ids() => All.Value.Select(c => new object[] { c.Id });

    internal static readonly DateTime PinnedNow = new(2025, 3, 7, 9, 5, 3);

    internal static string Render(string template, JsonObject vars)
    {
        var t = JinjaTemplate.Parse(template, "case", TemplateLimits.Default);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in vars) values[k] = JsonValues.FromNode(v);
        return t.Render(values, () => PinnedNow);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Matches_python_jinja2(int id)
    {
        var c = All.Value[id];
        if (c.Expected != null)
        {
            Assert.Equal(c.Expected, Render(c.Template, c.Vars));
            return;
        }
        var e = Assert.Throws<TemplateException>(() => Render(c.Template, c.Vars));
        Assert.True(e.Line >= 1 && e.Column >= 1, $"error without a position: {e.Message}");
        // Two deliberate differences: Python compiles `break` outside a loop to a plain SyntaxError, and without
        // a loader `include` fails with "TypeError: no loader"; here both are template errors with a position.
        if (c.Error!.StartsWith("SyntaxError:", StringComparison.Ordinal))
            Assert.StartsWith("TemplateSyntaxError: 'break' outside of a loop", e.Reason);
        else if (c.Template.Contains("{% include", StringComparison.Ordinal))
            Assert.StartsWith("TemplateError: 'include' is not available", e.Reason);
        else
            Assert.Equal(c.Error, e.Reason);
    }
}

using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>The committed template fixtures (tests/fixtures/templates): ten real Qwen templates and the 363
/// golden renders made with Python Jinja2 set up as transformers sets it up (see its README.md).</summary>
public static class TemplateFixtures
{
    public static string Dir => Path.Combine(TestPaths.Fixtures, "templates");

    public sealed record Case(string Id, string Template, string Scenario, JsonObject Kwargs, string? Expected, string? Error);

    static readonly Lazy<IReadOnlyList<Case>> AllCases = new(() =>
        File.ReadLines(Path.Combine(Dir, "cases.jsonl"))
            .Where(l => l.Length > 0)
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Select(o => new Case(
                $"{o["template"]}/{o["scenario"]}",
                (string)o["template"]!,
                (string)o["scenario"]!,
                o["kwargs"]!.AsObject(),
                (string?)o["expected"],
                (string?)o["error"]))
            .ToList());

    public static IReadOnlyList<Case> Cases => AllCases.Value;

    public static string[] TemplateNames => Directory.GetFiles(Dir, "*.jinja").Select(Path.GetFileNameWithoutExtension).Order().ToArray()!;

    public static string TemplateSource(string name) => File.ReadAllText(Path.Combine(Dir, name + ".jinja"));

    static readonly ConcurrentDictionary<string, ChatTemplate> Parsed = new();

    /// <summary>The transformers special-token map the golden renders were made with (Qwen3's tokenizer config).</summary>
    public static IReadOnlyDictionary<string, JsonNode?> QwenSpecialTokens =>
        ChatTemplate.FromModel(Path.Combine(Dir, "configs", "qwen3-2504.tokenizer_config.json")).SpecialTokens;

    public static ChatTemplate Template(string name) =>
        Parsed.GetOrAdd(name, n => ChatTemplate.Parse(TemplateSource(n), n).WithSpecialTokens(QwenSpecialTokens));

    /// <summary>A fresh copy of a case's kwargs (rendering must not depend on or change the caller's nodes).</summary>
    public static JsonObject Kwargs(Case c) => JsonNode.Parse(c.Kwargs.ToJsonString())!.AsObject();
}

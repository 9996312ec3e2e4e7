using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>3000 random expressions and statement forms on random data (engine/random-cases.jsonl, made by
/// engine/make_random_cases.py with Python Jinja2): same output, or an error of the same Python class.</summary>
public class RandomCaseTests
{
    [Fact]
    public void Random_cases_match_python_jinja2()
    {
        var failures = new List<string>();
        int count = 0;
        foreach (var line in File.ReadLines(Path.Combine(TemplateFixtures.Dir, "engine", "random-cases.jsonl")))
        {
            count++;
            var o = JsonNode.Parse(line)!.AsObject();
            string template = (string)o["template"]!;
            string? expected = (string?)o["expected"], error = (string?)o["error"];
            string? actual = null, actualError = null;
            try { actual = EngineCaseTests.Render(template, o["vars"]!.AsObject()); }
            catch (TemplateException e) { actualError = e.Reason; }
            bool ok = expected != null ? actual == expected : actualError != null && Kind(actualError) == Kind(error!);
            if (!ok)
                failures.Add($"{JsonSerializer.Serialize(template)} with {o["vars"]!.ToJsonString()}: expected {JsonSerializer.Serialize(expected) ?? error}, got {(actual != null ? JsonSerializer.Serialize(actual) : actualError)}");
        }
        Assert.Equal(3000, count);
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(20)));
    }

    static string Kind(string reason) => reason[..Math.Max(0, reason.IndexOf(':'))];
}

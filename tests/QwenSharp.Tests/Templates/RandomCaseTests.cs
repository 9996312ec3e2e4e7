using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>Random cases made with Python Jinja2: 3000 expressions and statement forms on random data
/// (engine/make_random_cases.py) and 1500 number and formatting expressions (engine/make_number_cases.py).
/// Same output, or an error of the same Python class.</summary>
public class RandomCaseTests
{
    [Theory]
    [InlineData("random-cases.jsonl", 3000)]
    [InlineData("number-cases.jsonl", 1500)]
    public void Random_cases_match_python_jinja2(string file, int expectedCount)
    {
        var failures = new List<string>();
        int count = 0;
        foreach (var line in File.ReadLines(Path.Combine(TemplateFixtures.Dir, "engine", file)))
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
        Assert.Equal(expectedCount, count);
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(20)));
    }

    static string Kind(string reason) => reason[..Math.Max(0, reason.IndexOf(':'))];
}

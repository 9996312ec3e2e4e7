using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Tests.Templates;

/// <summary>2000 random layouts of text, whitespace, line endings and tags with whitespace modifiers
/// (engine/layout-cases.jsonl, made by engine/make_layout_cases.py with Python Jinja2): byte-identical output,
/// which pins down trim_blocks, lstrip_blocks, -, + and newline handling.</summary>
public class LayoutCaseTests
{
    [Fact]
    public void Layouts_render_byte_identical_to_python_jinja2()
    {
        var failures = new List<string>();
        int count = 0;
        foreach (var line in File.ReadLines(Path.Combine(TemplateFixtures.Dir, "engine", "layout-cases.jsonl")))
        {
            count++;
            var o = JsonNode.Parse(line)!.AsObject();
            string template = (string)o["template"]!, expected = (string)o["expected"]!;
            string actual;
            try { actual = EngineCaseTests.Render(template, o["vars"]!.AsObject()); }
            catch (QwenSharp.Templates.TemplateException e) { actual = "ERROR " + e.Message; }
            if (actual != expected)
                failures.Add($"{JsonSerializer.Serialize(template)}: expected {JsonSerializer.Serialize(expected)}, got {JsonSerializer.Serialize(actual)}");
        }
        Assert.Equal(2000, count);
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(10)));
    }
}

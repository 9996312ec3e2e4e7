using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>Every golden render of tests/fixtures/templates/cases.jsonl, byte for byte.</summary>
public class FixtureCaseTests
{
    public static IEnumerable<object[]> CaseIds() => TemplateFixtures.Cases.Select(c => new object[] { c.Id });

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Renders_exactly_as_transformers(string id)
    {
        var c = TemplateFixtures.Cases.Single(x => x.Id == id);
        var template = TemplateFixtures.Template(c.Template);
        if (c.Expected == null)
        {
            var e = Assert.Throws<TemplateException>(() => template.Render(TemplateFixtures.Kwargs(c)));
            Assert.NotNull(c.Error);
            // The reference error is "TypeError: Can only get item pairs from a mapping."
            Assert.Equal(c.Error, e.Reason);
            Assert.True(e.Line > 0 && e.Column > 0);
            return;
        }
        string actual = template.Render(TemplateFixtures.Kwargs(c));
        if (actual != c.Expected)
        {
            int at = 0;
            while (at < actual.Length && at < c.Expected.Length && actual[at] == c.Expected[at]) at++;
            Assert.Fail($"{id}: first difference at char {at}\nexpected: {Show(c.Expected, at)}\nactual:   {Show(actual, at)}");
        }
    }

    static string Show(string s, int at) =>
        System.Text.Json.JsonSerializer.Serialize(s.Substring(Math.Max(0, at - 40), Math.Min(s.Length, at + 40) - Math.Max(0, at - 40)));

    [Fact]
    public void The_fixture_set_is_complete()
    {
        Assert.Equal(363, TemplateFixtures.Cases.Count);
        Assert.Single(TemplateFixtures.Cases, c => c.Expected == null);
        Assert.Equal(10, TemplateFixtures.TemplateNames.Length);
    }
}

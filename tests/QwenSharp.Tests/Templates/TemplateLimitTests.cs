using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>Runaway templates stop with a TemplateException (LimitExceeded) instead of hanging or crashing.</summary>
public class TemplateLimitTests
{
    static readonly JsonObject NoMessages = new() { ["messages"] = new JsonArray() };

    static TemplateException Fails(string source, TemplateLimits? limits = null)
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(source, "t", limits).Render((JsonObject)NoMessages.DeepClone()));
        return e;
    }

    [Fact]
    public void Loop_iterations_are_limited()
    {
        var e = Fails("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", new TemplateLimits { MaxLoopIterations = 10_000 });
        Assert.StartsWith("LimitExceeded: more than 10000 loop iterations", e.Reason);
        Assert.True(e.Line > 0);
    }

    [Fact]
    public void Recursion_depth_is_limited()
    {
        var e = Fails("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
        Assert.StartsWith("LimitExceeded: macro calls nested deeper than 64", e.Reason);
    }

    [Fact]
    public void Exponential_macro_fan_out_is_limited()
    {
        var e = Fails("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
            new TemplateLimits { MaxLoopIterations = 50_000 });
        Assert.StartsWith("LimitExceeded", e.Reason);
    }

    [Fact]
    public void Output_size_is_limited()
    {
        var e = Fails("{% for i in range(5000) %}0123456789{% endfor %}", new TemplateLimits { MaxOutputLength = 10_000 });
        Assert.StartsWith("LimitExceeded: output longer than 10000 characters", e.Reason);
    }

    [Theory]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(200) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")]
    [InlineData("{{ 'x' * 10 ** 12 }}")]
    [InlineData("{{ [1] * 10 ** 12 }}")]
    [InlineData("{{ 'x' | center(10 ** 12) }}")]
    [InlineData("{{ 'ab' | replace('', 'x' * 100000) | replace('x', 'yyyyyyyyyy') }}")]
    [InlineData("{{ '%9999999999s' % 'x' }}")]
    [InlineData("{{ 'x'.ljust(10 ** 10) }}")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")]
    [InlineData("{{ 2 ** 10000000 }}")]
    public void Strings_and_lists_cannot_grow_without_bound(string source)
    {
        var e = Fails(source, new TemplateLimits { MaxOutputLength = 1_000_000 });
        Assert.StartsWith("LimitExceeded", e.Reason);
    }

    [Fact]
    public void Total_allocation_is_limited()
    {
        var e = Fails("{% for i in range(100000) %}{% set s = 'x' * 1000 %}{% endfor %}", new TemplateLimits { MaxAllocatedItems = 1_000_000 });
        Assert.StartsWith("LimitExceeded: the template built more than 1000000", e.Reason);
    }

    [Fact]
    public void Sandbox_range_is_capped()
    {
        Assert.StartsWith("OverflowError: Range too big", Fails("{{ range(10 ** 9) | length }}").Reason);
    }

    [Fact]
    public void Rendering_time_is_limited()
    {
        var limits = new TemplateLimits { MaxLoopIterations = int.MaxValue, Timeout = TimeSpan.FromMilliseconds(1) };
        var e = Fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", limits);
        Assert.StartsWith("LimitExceeded: rendering took longer than", e.Reason);
    }

    [Theory]
    [InlineData(20_000, "(", "1", ")")]
    [InlineData(20_000, "[", "1", "]")]
    [InlineData(20_000, "{% if true %}", "x", "{% endif %}")]
    [InlineData(20_000, "{% for i in [1] %}", "x", "{% endfor %}")]
    [InlineData(20_000, "not ", "1", "")]
    [InlineData(20_000, "-", "1", "")]
    [InlineData(20_000, "", "1", " + 1")]
    [InlineData(20_000, "", "x", ".a")]
    [InlineData(20_000, "", "x", "|length")]
    [InlineData(20_000, "x if ", "1", " else 2")]
    public void Deep_nesting_is_a_parse_error_not_a_stack_overflow(int depth, string open, string middle, string close)
    {
        var sb = new StringBuilder();
        bool statement = open.StartsWith("{%", StringComparison.Ordinal);
        if (!statement) sb.Append("{{ ");
        for (int i = 0; i < depth; i++) sb.Append(open);
        sb.Append(middle);
        for (int i = 0; i < depth; i++) sb.Append(close);
        if (!statement) sb.Append(" }}");
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(sb.ToString()));
        Assert.StartsWith("LimitExceeded", e.Reason);
    }

    [Fact]
    public void Deeply_nested_input_data_is_refused()
    {
        var sb = new StringBuilder("{\"messages\": ");
        for (int i = 0; i < 300; i++) sb.Append('[');
        for (int i = 0; i < 300; i++) sb.Append(']');
        sb.Append('}');
        var kwargs = System.Text.Json.Nodes.JsonNode.Parse(sb.ToString(), documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 1000 })!.AsObject();
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.ChatML.Render(kwargs));
        Assert.Contains("nested", e.Reason);
    }

    [Fact]
    public void Limits_that_are_not_reached_change_nothing()
    {
        var c = TemplateFixtures.Cases.First(x => x.Template == "qwen3-coder" && x.Scenario == "tool_complex_schema");
        var tight = new TemplateLimits { MaxLoopIterations = 200, MaxRecursionDepth = 2, MaxOutputLength = 20_000, MaxAllocatedItems = 200_000 };
        var chat = ChatTemplate.Parse(TemplateFixtures.TemplateSource(c.Template), c.Template, tight).WithSpecialTokens(TemplateFixtures.QwenSpecialTokens);
        Assert.Equal(c.Expected, chat.Render(TemplateFixtures.Kwargs(c)));
    }
}

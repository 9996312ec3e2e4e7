using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Tests.Templates;

/// <summary>Syntax and runtime errors name the template, line, column and cause.</summary>
public class TemplateErrorTests
{
    static JsonObject Kwargs(string json = """{"messages": [{"role": "user", "content": "hi"}]}""") => JsonNode.Parse(json)!.AsObject();

    [Theory]
    // template, line, column, start of the reason
    [InlineData("line one\n  {{ x + }}", 2, 10, "TemplateSyntaxError: unexpected 'end of print statement'")]
    [InlineData("{% for m in messages %}\n{{ m }}\n", 2, 8, "TemplateSyntaxError: Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")]
    [InlineData("a\nb {% if x %}{% endfor %}", 2, 16, "TemplateSyntaxError: Encountered unknown tag 'endfor'.")]
    [InlineData("{{ x | no_such_filter }}", 1, 8, "TemplateAssertionError: No filter named 'no_such_filter'.")]
    [InlineData("{% if x is no_such_test %}{% endif %}", 1, 12, "TemplateAssertionError: No test named 'no_such_test'.")]
    [InlineData("\n\n   {{ 'open }}", 3, 7, "TemplateSyntaxError: unexpected char \"'\"")]
    [InlineData("{{ (1 + 2 }}", 1, 11, "TemplateSyntaxError: unexpected '}', expected ')'")]
    [InlineData("{# never closed", 1, 1, "TemplateSyntaxError: Missing end of comment tag")]
    [InlineData("{{ '\\x4' }}", 1, 5, "TemplateSyntaxError: truncated \\xXX escape")]
    [InlineData("{% macro m(a=1, b) %}{% endmacro %}", 1, 18, "TemplateSyntaxError: non-default argument follows default argument")]
    public void Syntax_errors_are_reported_at_parse_time_with_position(string source, int line, int column, string reason)
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(source, "t.jinja"));
        Assert.StartsWith(reason, e.Reason);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Equal("t.jinja", e.TemplateName);
        Assert.Contains($"template 't.jinja' line {line}, column {column}", e.Message);
    }

    [Theory]
    [InlineData("{% for m in messages %}\n{{ m.content + 1 }}\n{% endfor %}", 2, 14, "TypeError: can only concatenate str (not \"int\") to str")]
    [InlineData("{{ a.b.c }}", 1, 7, "UndefinedError: 'dict object' has no attribute 'b'")]
    [InlineData("x\n{{ raise_exception('Only user and assistant roles are supported!') }}", 2, 4, "TemplateError: Only user and assistant roles are supported!")]
    [InlineData("{{ messages[0].content | items | list }}", 1, 26, "TypeError: Can only get item pairs from a mapping.")]
    [InlineData("{% for x in 5 %}{% endfor %}", 1, 4, "TypeError: 'int' object is not iterable")]
    [InlineData("{% set n = 0 %}\n  {{ 1 / n }}", 2, 8, "ZeroDivisionError: division by zero")]
    [InlineData("{{ messages.append(1) }}", 1, 19, "SecurityError: access to attribute 'append' of 'list' object is unsafe.")]
    public void Runtime_errors_point_at_the_failing_expression(string source, int line, int column, string reason)
    {
        var chat = ChatTemplate.Parse(source, "t.jinja");
        var e = Assert.Throws<TemplateException>(() => chat.Render(Kwargs("""{"messages": [{"role": "user", "content": "hi"}], "a": {}}""")));
        Assert.Equal(reason, e.Reason);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void The_reference_error_case_points_into_qwen3_coder()
    {
        var c = TemplateFixtures.Cases.Single(x => x.Expected == null);
        var e = Assert.Throws<TemplateException>(() => TemplateFixtures.Template(c.Template).Render(TemplateFixtures.Kwargs(c)));
        // {%- for args_name, args_value in tool_call.arguments|items %} is on line 99 of qwen3-coder.jinja
        var lines = TemplateFixtures.TemplateSource("qwen3-coder").Split('\n');
        Assert.Contains("tool_call.arguments|items", lines[e.Line - 1]);
    }
}

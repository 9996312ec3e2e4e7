using System.CommandLine;
using System.Text;
using QwenSharp.Cli;

namespace QwenSharp.Tests.Cli;

/// <summary>
/// docs/cli.md is generated from the command definitions: this test renders the reference from the real command
/// tree and fails when the file differs. Run with QWENSHARP_UPDATE_DOCS=1 to rewrite the file.
/// </summary>
public class CliReferenceTests
{
    public static string Render(RootCommand root)
    {
        var sb = new StringBuilder();
        sb.Append("# CLI reference\n\n");
        sb.Append("Generated from the command definitions by `CliReferenceTests` (run the tests with `QWENSHARP_UPDATE_DOCS=1` to refresh).\n");
        sb.Append("Every command prints its own help with `qwensharp COMMAND --help`. Errors are one line on stderr with a non-zero exit code\n");
        sb.Append("(2 for bad arguments, 1 for bad input files or failures, 130 when interrupted).\n\n");
        foreach (var c in root.Subcommands.OrderBy(c => c.Name, StringComparer.Ordinal))
            sb.Append($"* [`{c.Name}`](#{c.Name}) — {c.Description}\n");
        foreach (var c in root.Subcommands.OrderBy(c => c.Name, StringComparer.Ordinal)) RenderCommand(sb, c, "qwensharp " + c.Name);
        return sb.ToString();
    }

    static void RenderCommand(StringBuilder sb, Command c, string path)
    {
        sb.Append($"\n## {c.Name}\n\n{c.Description}\n\n```\n{path}");
        foreach (var a in c.Arguments) sb.Append($" <{a.Name}>");
        if (c.Options.Any()) sb.Append(" [options]");
        sb.Append("\n```\n");
        if (c.Arguments.Any())
        {
            sb.Append("\n| argument | description |\n| --- | --- |\n");
            foreach (var a in c.Arguments) sb.Append($"| `{a.Name}` | {Escape(a.Description)} |\n");
        }
        if (c.Options.Any())
        {
            sb.Append("\n| option | description |\n| --- | --- |\n");
            foreach (var o in c.Options)
            {
                var names = string.Join(", ", new[] { o.Name }.Concat(o.Aliases).Select(n => $"`{n}`"));
                string req = o.Required ? " (required)" : "";
                sb.Append($"| {names} | {Escape(o.Description)}{req} |\n");
            }
        }
        foreach (var sub in c.Subcommands) RenderCommand(sb, sub, path + " " + sub.Name);
    }

    static string Escape(string? s) => (s ?? "").Replace("|", "\\|").Replace("\n", " ");

    [Fact]
    public void CliReferenceMatchesTheCommandDefinitions()
    {
        string expected = Render(Program.BuildRoot());
        string path = Path.Combine(TestPaths.RepoRoot, "docs", "cli.md");
        if (Environment.GetEnvironmentVariable("QWENSHARP_UPDATE_DOCS") == "1") File.WriteAllText(path, expected);
        Assert.True(File.Exists(path), "docs/cli.md is missing: run the tests with QWENSHARP_UPDATE_DOCS=1");
        Assert.True(expected == File.ReadAllText(path), "docs/cli.md is out of date: run the tests with QWENSHARP_UPDATE_DOCS=1 and commit docs/cli.md");
    }
}

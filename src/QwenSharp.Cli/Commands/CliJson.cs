using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Cli.Commands;

/// <summary>Helpers for the commands' --json output, built as JSON nodes (no serialization by reflection).</summary>
static class CliJson
{
    /// <summary>Indented output, as the --json listings print.</summary>
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static JsonArray Strings(IEnumerable<string> items)
    {
        var a = new JsonArray();
        foreach (var s in items) a.Add((JsonNode)s);
        return a;
    }
}

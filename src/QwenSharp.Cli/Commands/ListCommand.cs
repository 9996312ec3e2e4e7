using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Catalog;
using QwenSharp.Hub;

namespace QwenSharp.Cli.Commands;

/// <summary><c>qwensharp list</c>: the models in the cache, with revision, size, format and whether QwenSharp runs them.</summary>
public static class ListCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub)" };
        var cmd = new Command("list", "List the models in the cache (shared with Python's huggingface_hub)") { json, cacheDir };
        cmd.SetAction(parse => PullCommand.Guard(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            HubCache cache;
            IReadOnlyList<CachedModel> models;
            try
            {
                cache = new HubCache(parse.GetValue(cacheDir));
                models = cache.List();
            }
            catch (Exception e) when (e is HubException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read the cache: {e.Message}", 1);
            }
            if (parse.GetValue(json))
            {
                // Built as JSON nodes (no serialization by reflection: NativeAOT-safe).
                var list = new JsonArray();
                foreach (var m in models)
                {
                    var revisions = new JsonArray();
                    foreach (var r in m.Revisions)
                        revisions.Add((JsonNode)new JsonObject
                        {
                            ["commit"] = r.Commit, ["refs"] = CliJson.Strings(r.Refs), ["path"] = r.Path, ["size"] = r.SizeBytes,
                            ["format"] = FormatName(r.Info.Format), ["architecture"] = r.Info.Architecture, ["runnable"] = r.Info.Runnable,
                            ["reason"] = r.Info.Reason, ["ggufFiles"] = CliJson.Strings(r.Info.GgufFiles), ["files"] = CliJson.Strings(r.Files),
                        });
                    list.Add((JsonNode)new JsonObject
                    {
                        ["repo"] = m.Repo.Id, ["path"] = m.Path, ["sizeOnDisk"] = m.SizeOnDisk, ["incompleteBytes"] = m.IncompleteBytes,
                        ["revisions"] = revisions,
                    });
                }
                var data = new JsonObject { ["cache"] = cache.Root, ["models"] = list };
                output.WriteLine(data.ToJsonString(CliJson.Indented));
                return 0;
            }
            if (models.Count == 0)
            {
                output.WriteLine($"no models in the cache ({cache.Root}); download one with: qwensharp pull Qwen/Qwen3-0.6B");
                return 0;
            }
            var rows = new List<string[]> { new[] { "REPO", "REVISION", "SIZE", "FORMAT", "RUNNABLE" } };
            foreach (var m in models)
            {
                if (m.Revisions.Count == 0)
                    rows.Add([m.Repo.Id, "-", Units.FormatBytes(m.SizeOnDisk), "-", m.IncompleteBytes > 0 ? "no: partial download (pull again to resume)" : "no: empty"]);
                string partial = m.IncompleteBytes > 0 && m.Revisions.Count > 0 ? $" (+{Units.FormatBytes(m.IncompleteBytes)} partial download: pull again to resume)" : "";
                foreach (var r in m.Revisions)
                    rows.Add([m.Repo.Id, r.DisplayName, Units.FormatBytes(r.SizeBytes), FormatName(r.Info.Format), (r.Info.Runnable ? r.Info.Reason : "no: " + r.Info.Reason) + partial]);
            }
            var widths = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (var r in rows)
                output.WriteLine(string.Join("  ", r.Select((c, i) => i == r.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
            long total = models.Sum(m => m.SizeOnDisk);
            output.WriteLine($"{models.Count} repositories, {Units.FormatBytes(total)} on disk in {cache.Root}");
            return 0;
        }));
        return cmd;
    }

    internal static string FormatName(ModelFormat f) => f switch
    {
        ModelFormat.Safetensors => "safetensors",
        ModelFormat.Gguf => "gguf",
        ModelFormat.SafetensorsAndGguf => "safetensors+gguf",
        _ => "other",
    };
}

using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Catalog;

namespace QwenSharp.Cli.Commands;

/// <summary><c>qwensharp recommend</c>: which Qwen model and quantization to run on this machine, and the command for it.</summary>
public static class RecommendCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "chat, code, math, reasoning, vision, audio or multilingual", DefaultValueFactory = _ => "chat" };
        var memory = new Option<string>("--memory") { Description = "Memory for the model, e.g. 16GB, or auto (85% of this machine's, at most what is free)", DefaultValueFactory = _ => "auto" };
        var context = new Option<string>("--context") { Description = "Context length to plan for, e.g. 8k, 32k, 128k", DefaultValueFactory = _ => "8k" };
        var priority = new Option<string>("--priority") { Description = "speed, balanced or quality", DefaultValueFactory = _ => "balanced" };
        var count = new Option<int>("--count") { Description = "How many to list", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var cmd = new Command("recommend", "Recommend Qwen models and quantizations that fit this machine, with the command to run each")
        {
            task, memory, context, priority, count, json,
        };
        cmd.SetAction(parse => PullCommand.Guard(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var t = ParseTask(parse.GetValue(task)!);
            var p = parse.GetValue(priority)!.Trim().ToLowerInvariant() switch
            {
                "speed" or "fast" => RecommendPriority.Speed,
                "balanced" => RecommendPriority.Balanced,
                "quality" or "best" => RecommendPriority.Quality,
                var other => throw new CliException($"--priority: '{other}' is not speed, balanced or quality", 2),
            };
            string ctxText = parse.GetValue(context)!;
            if (!Units.TryParseContext(ctxText, out int ctx)) throw new CliException($"--context: '{ctxText}' is not a context length (e.g. 8k, 32k, 131072)", 2);
            int n = parse.GetValue(count);
            if (n < 1) throw new CliException("--count must be at least 1", 2);

            string memText = parse.GetValue(memory)!;
            MachineInfo? machine = null;
            long budget;
            if (memText.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase))
            {
                machine = MachineInfo.Detect();
                budget = machine.UsableMemoryBytes;
            }
            else if (!Units.TryParseBytes(memText, out budget))
                throw new CliException($"--memory: '{memText}' is not a size (e.g. 16GB, 512MB) or auto", 2);

            var recs = ModelCatalog.Recommend(t, budget, ctx, p, n);
            if (parse.GetValue(json))
            {
                // Built as JSON nodes (no serialization by reflection: NativeAOT-safe).
                var list = new JsonArray();
                foreach (var r in recs)
                    list.Add((JsonNode)new JsonObject
                    {
                        ["rank"] = r.Rank, ["repo"] = r.Model.Repo, ["ggufRepo"] = r.Quant == GgufQuant.BF16 ? null : r.Model.GgufRepo,
                        ["quant"] = r.Quant.ToString(), ["totalParams"] = r.Model.TotalParams, ["activeParams"] = r.Model.ActiveParams,
                        ["totalBytes"] = r.Memory.TotalBytes, ["weightBytes"] = r.Memory.WeightBytes, ["kvCacheBytes"] = r.Memory.KvCacheBytes,
                        ["needsYarn"] = r.NeedsYarn, ["runnableToday"] = r.Model.RunnableToday, ["license"] = r.Model.License,
                        ["explanation"] = r.Explanation, ["command"] = r.Command,
                    });
                var data = new JsonObject
                {
                    ["task"] = t.ToString().ToLowerInvariant(), ["priority"] = p.ToString().ToLowerInvariant(), ["context"] = ctx, ["memoryBytes"] = budget,
                    ["machine"] = machine == null ? null : new JsonObject
                    {
                        ["totalMemoryBytes"] = machine.TotalMemoryBytes, ["availableMemoryBytes"] = machine.AvailableMemoryBytes,
                        ["cores"] = machine.Cores, ["architecture"] = machine.Architecture, ["cpuFeatures"] = CliJson.Strings(machine.CpuFeatures),
                    },
                    ["recommendations"] = list,
                };
                output.WriteLine(data.ToJsonString(CliJson.Indented));
                return recs.Count == 0 ? 1 : 0;
            }

            if (machine != null)
                output.WriteLine($"machine: {Units.FormatBytes(machine.TotalMemoryBytes)} memory ({Units.FormatBytes(machine.AvailableMemoryBytes)} free), " +
                                 $"{machine.Cores} cores, {machine.Architecture}{(machine.CpuFeatures.Count > 0 ? " " + string.Join(" ", machine.CpuFeatures) : "")}" +
                                 (machine.HasFastSimd ? "" : " (no AVX2/NEON: expect slow generation, prefer small models)"));
            output.WriteLine($"budget {Units.FormatBytes(budget)}, task {t.ToString().ToLowerInvariant()}, context {Units.FormatContext(ctx)}, priority {p.ToString().ToLowerInvariant()}");
            if (recs.Count == 0)
            {
                output.WriteLine($"no catalog model fits {Units.FormatBytes(budget)} at a {Units.FormatContext(ctx)} context for {t.ToString().ToLowerInvariant()}; " +
                                 "try a shorter --context or more --memory");
                return 1;
            }
            output.WriteLine();
            foreach (var r in recs)
            {
                output.WriteLine($"{r.Rank}. {r.Model.Repo}  {(r.Quant == GgufQuant.BF16 ? "BF16" : r.Quant.ToString())}  {Units.FormatBytes(r.Memory.TotalBytes)}" +
                                 $"{(r.Model.RunnableToday ? "" : "  (not runnable in QwenSharp yet)")}");
                output.WriteLine($"   {r.Explanation}");
                output.WriteLine($"   {r.Command}");
            }
            return 0;
        }));
        return cmd;
    }

    internal static ModelTask ParseTask(string text) => text.Trim().ToLowerInvariant() switch
    {
        "chat" => ModelTask.Chat,
        "code" or "coding" => ModelTask.Code,
        "math" => ModelTask.Math,
        "reasoning" or "reason" => ModelTask.Reasoning,
        "vision" or "image" => ModelTask.Vision,
        "audio" or "speech" => ModelTask.Audio,
        "multilingual" or "translation" => ModelTask.Multilingual,
        var other => throw new CliException($"--task: '{other}' is not chat, code, math, reasoning, vision, audio or multilingual", 2),
    };
}

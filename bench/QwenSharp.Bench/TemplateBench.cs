using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Bench;

/// <summary>
/// `template [--template NAME] [--iterations N]`: parses a Qwen chat template once, then renders a typical
/// tool-use conversation (system, user, assistant tool call, tool result, assistant answer, user; two tools;
/// generation prompt) through ChatTemplate.Render(JsonObject), as a server would per request.
/// </summary>
public sealed class TemplateBench : IBenchmark
{
    public string Name => "template";
    public string Description => "Chat template: parse once, then render a Qwen3 prompt with tools (µs per render)";

    public int Run(string[] args)
    {
        string name = "qwen3";
        int iterations = 20_000;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--template" && i + 1 < args.Length) name = args[++i];
            else if (args[i] == "--iterations" && i + 1 < args.Length) iterations = int.Parse(args[++i]);
            else { Console.Error.WriteLine("usage: template [--template NAME] [--iterations N]"); return 2; }
        }
        string path = Path.Combine(FindRoot(), "tests", "fixtures", "templates", name + ".jinja");
        string source = File.ReadAllText(path);

        var sw = Stopwatch.StartNew();
        var chat = ChatTemplate.Parse(source, name);
        double firstParseMs = sw.Elapsed.TotalMilliseconds;
        const int parses = 500;
        for (int i = 0; i < 1_500; i++) ChatTemplate.Parse(source, name); // warm up (JIT tiers)
        sw.Restart();
        for (int i = 0; i < parses; i++) ChatTemplate.Parse(source, name);
        double parseUs = sw.Elapsed.TotalMicroseconds / parses;

        var kwargs = Conversation();
        string prompt = chat.Render(kwargs);
        for (int i = 0; i < 2_000; i++) chat.Render(kwargs); // warm up (JIT tiers)

        const int batches = 20;
        int perBatch = Math.Max(1, iterations / batches);
        var batchUs = new double[batches];
        long allocBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int b = 0; b < batches; b++)
        {
            sw.Restart();
            for (int i = 0; i < perBatch; i++) chat.Render(kwargs);
            batchUs[b] = sw.Elapsed.TotalMicroseconds / perBatch;
        }
        long allocated = (GC.GetAllocatedBytesForCurrentThread() - allocBefore) / (batches * perBatch);
        Array.Sort(batchUs);

        Console.WriteLine($"template {name}.jinja ({source.Length} chars), prompt {prompt.Length} chars, {batches * perBatch} renders");
        Console.WriteLine($"  parse:  first {firstParseMs:F2} ms (cold), then {parseUs:F1} µs");
        Console.WriteLine($"  render: median {batchUs[batches / 2]:F1} µs, best batch {batchUs[0]:F1} µs, worst batch {batchUs[^1]:F1} µs; {allocated / 1024.0:F1} KiB allocated per render");
        return 0;
    }

    static JsonObject Conversation()
    {
        JsonObject Tool(string fn, string description, JsonObject properties, params string[] required) => new()
        {
            ["type"] = "function",
            ["function"] = new JsonObject
            {
                ["name"] = fn,
                ["description"] = description,
                ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = new JsonArray(required.Select(r => (JsonNode)r).ToArray()) },
            },
        };
        return new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "You are a helpful assistant. Answer concisely." },
                new JsonObject { ["role"] = "user", ["content"] = "What's the weather in Paris today, and should I take an umbrella?" },
                new JsonObject
                {
                    ["role"] = "assistant",
                    ["content"] = "",
                    ["reasoning_content"] = "The user wants the current weather in Paris. I should call get_current_weather.",
                    ["tool_calls"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = "get_current_weather", ["arguments"] = new JsonObject { ["location"] = "Paris, France", ["unit"] = "celsius" } },
                    }),
                },
                new JsonObject { ["role"] = "tool", ["content"] = "{\"temperature\": 14, \"condition\": \"light rain\", \"precipitation_probability\": 0.8}" },
                new JsonObject { ["role"] = "assistant", ["content"] = "It is 14 °C with light rain in Paris (80% chance of rain). Yes, take an umbrella." },
                new JsonObject { ["role"] = "user", ["content"] = "Thanks! And what about Lyon tomorrow?" }),
            ["tools"] = new JsonArray(
                Tool("get_current_weather", "Get the current weather in a given location",
                    new JsonObject
                    {
                        ["location"] = new JsonObject { ["type"] = "string", ["description"] = "The city and country, e.g. Paris, France" },
                        ["unit"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("celsius", "fahrenheit") },
                    }, "location"),
                Tool("get_forecast", "Get the weather forecast for the next days",
                    new JsonObject
                    {
                        ["location"] = new JsonObject { ["type"] = "string", ["description"] = "The city and country" },
                        ["days"] = new JsonObject { ["type"] = "integer", ["description"] = "Number of days, 1 to 7", ["minimum"] = 1, ["maximum"] = 7 },
                    }, "location", "days")),
            ["add_generation_prompt"] = true,
        };
    }

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (QwenSharp.slnx)");
    }
}

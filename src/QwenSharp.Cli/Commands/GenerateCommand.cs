using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp generate --model PATH --prompt TEXT`: one answer, streamed to stdout (reasoning to stderr),
/// or with --json one object {"text", "reasoning", "tool_calls", "tokens", "finish_reason", "usage"}.
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var flags = new GenerationFlags();
        var prompt = new Option<string>("--prompt", "-p") { Description = "The prompt (a user message, or with --raw the model's input as is)", Required = true };
        var raw = new Option<bool>("--raw") { Description = "No chat template: the prompt goes to the model as is (special-token text in it is parsed, as transformers' tokenizer does)" };
        var tools = new Option<string?>("--tools") { Description = "JSON file with OpenAI-style tool definitions; parsed calls come out in tool_calls" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of streaming text" };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-generation tokens (benchmarks, parity runs)" };
        var cmd = new Command("generate", "Generate one answer to a prompt, with every sampling option") { prompt, raw, tools, json, ignoreEos };
        flags.AddTo(cmd);
        cmd.SetAction((r, ct) => Run(r, flags, r.GetValue(prompt)!, r.GetValue(raw), r.GetValue(tools), r.GetValue(json), r.GetValue(ignoreEos), ct));
        return cmd;
    }

    static async Task<int> Run(ParseResult r, GenerationFlags flags, string prompt, bool raw, string? toolsFile, bool json, bool ignoreEos, CancellationToken ct)
    {
        var stdout = r.InvocationConfiguration.Output;
        var stderr = r.InvocationConfiguration.Error;
        var sampling = flags.ValidSampling(r) with { IgnoreEos = ignoreEos };
        var toolDefs = toolsFile is null ? null : GenerationFlags.ReadTools(toolsFile);
        if (raw && (toolDefs != null || r.GetValue(flags.System) != null || flags.EnableThinking(r) != null))
            throw new CliException("--raw sends the prompt as is: it cannot be combined with --tools, --system, --think or --no-think", 2);
        using var qwen = flags.Load(r, stderr);

        IAsyncEnumerable<ChatUpdate> stream;
        if (raw)
        {
            stream = qwen.CompleteStreamAsync(prompt, sampling, ct);
        }
        else
        {
            var messages = new JsonArray();
            if (r.GetValue(flags.System) is { } sys) messages.Add((JsonNode)ChatMessages.System(sys));
            messages.Add((JsonNode)ChatMessages.User(prompt));
            var options = new GenerationOptions
            {
                Sampling = sampling,
                EnableThinking = flags.EnableThinking(r),
                ThinkingBudget = r.GetValue(flags.ThinkingBudget),
                Tools = toolDefs,
            };
            stream = qwen.ChatStreamAsync(messages, options, ct);
        }

        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new List<ToolCall>();
        var tokens = new List<int>();
        ChatUpdate? final = null;
        var sw = Stopwatch.StartNew();
        try
        {
            await foreach (var u in stream)
            {
                if (u.TokenIds != null) tokens.AddRange(u.TokenIds);
                switch (u.Kind)
                {
                    case ChatUpdateKind.Content:
                        text.Append(u.Text);
                        if (!json) { stdout.Write(u.Text); stdout.Flush(); }
                        break;
                    case ChatUpdateKind.Reasoning:
                        reasoning.Append(u.Text);
                        if (!json) stderr.Write(u.Text);
                        break;
                    case ChatUpdateKind.ToolCall:
                        calls.Add(u.ToolCall!);
                        break;
                    case ChatUpdateKind.Finished:
                        final = u;
                        break;
                }
            }
        }
        catch (ArgumentException e) { throw new CliException(e.Message, 2); }
        if (final?.Error is { } err) throw new CliException($"generation failed: {err}", 1);
        var usage = final?.Usage ?? new Usage(0, 0);
        if (json)
        {
            var o = new JsonObject
            {
                ["text"] = text.ToString(),
                ["reasoning"] = reasoning.ToString(),
                ["tool_calls"] = new JsonArray(calls.Select(c => (JsonNode)new JsonObject
                {
                    ["id"] = c.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments },
                    ["error"] = c.Error,
                }).ToArray()),
                ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()),
                ["finish_reason"] = final?.FinishReason ?? "stop",
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = usage.PromptTokens,
                    ["completion_tokens"] = usage.CompletionTokens,
                    ["total_tokens"] = usage.TotalTokens,
                },
            };
            stdout.WriteLine(o.ToJsonString(JsonText.Options));
        }
        else
        {
            foreach (var c in calls) stdout.WriteLine($"\n[tool call] {c.Name}({c.Arguments})" + (c.Error is null ? "" : $"  error: {c.Error}"));
            stdout.WriteLine();
            double secs = sw.Elapsed.TotalSeconds;
            stderr.WriteLine($"[{usage.CompletionTokens} tokens in {secs:0.00} s, {usage.CompletionTokens / Math.Max(secs, 1e-9):0.0} tok/s, finish: {final?.FinishReason}]");
        }
        return final?.FinishReason == "cancelled" ? 130 : 0;
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp chat [--model PATH]`: an interactive chat in the terminal. Answers stream as they are
/// generated, reasoning dimmed; /think, /no_think, /reset, /system TEXT, /save FILE, /exit; tokens/s after
/// each answer; Ctrl+C stops the answer, not the program.
/// </summary>
public static class ChatCommand
{
    public const string Help = "commands: /think  /no_think  /reset  /system TEXT  /save FILE  /help  /exit   (Ctrl+C stops an answer)";

    public static Command Create()
    {
        var flags = new GenerationFlags();
        var tools = new Option<string?>("--tools") { Description = "JSON file with OpenAI-style tool definitions offered to the model" };
        var cmd = new Command("chat", "Chat with a model in the terminal (default model: " + ModelResolver.DefaultModel + ")") { tools };
        flags.AddTo(cmd);
        cmd.SetAction((r, ct) => Run(r, flags, r.GetValue(tools), ct));
        return cmd;
    }

    static async Task<int> Run(ParseResult r, GenerationFlags flags, string? toolsFile, CancellationToken ct)
    {
        var stdout = r.InvocationConfiguration.Output;
        var stderr = r.InvocationConfiguration.Error;
        var sampling = flags.ValidSampling(r);
        var toolDefs = toolsFile is null ? null : GenerationFlags.ReadTools(toolsFile);
        bool color = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        string Dim(string s) => color ? $"\u001b[2m{s}\u001b[0m" : s;
        stderr.WriteLine($"loading {r.GetValue(flags.Model) ?? ModelResolver.DefaultModel} ...");
        using var qwen = flags.Load(r, stderr);
        stdout.WriteLine($"{qwen.Name}: {qwen.Model.Config.ModelType}, {qwen.Model.Config.NumHiddenLayers} layers, template {(qwen.ChatTemplate.IsFallback ? "ChatML (fallback)" : "from the model")}");
        stdout.WriteLine(Help);

        bool? thinking = flags.EnableThinking(r);
        string? system = r.GetValue(flags.System);
        var history = new JsonArray();
        CancellationTokenSource? answer = null;
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (answer is { IsCancellationRequested: false } a) { e.Cancel = true; a.Cancel(); }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var input = Console.In;
            while (!ct.IsCancellationRequested)
            {
                stdout.Write(color ? "\u001b[1m> \u001b[0m" : "> ");
                stdout.Flush();
                string? line = input.ReadLine();
                if (line is null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line.StartsWith('/'))
                {
                    var (cmd, arg) = line.IndexOf(' ') is var i and > 0 ? (line[..i], line[(i + 1)..].Trim()) : (line, "");
                    switch (cmd)
                    {
                        case "/exit" or "/quit": return 0;
                        case "/think": thinking = true; stdout.WriteLine("thinking on"); continue;
                        case "/no_think": thinking = false; stdout.WriteLine("thinking off"); continue;
                        case "/reset": history.Clear(); stdout.WriteLine("conversation cleared"); continue;
                        case "/system": system = arg.Length > 0 ? arg : null; history.Clear(); stdout.WriteLine(system is null ? "system prompt removed" : "system prompt set; conversation cleared"); continue;
                        case "/save":
                            if (arg.Length == 0) { stdout.WriteLine("usage: /save FILE"); continue; }
                            try
                            {
                                var all = Conversation(system, history);
                                AtomicFile.Write(arg, s => s.Write(Encoding.UTF8.GetBytes(all.ToJsonString(new System.Text.Json.JsonSerializerOptions(JsonText.Options) { WriteIndented = true }))));
                                stdout.WriteLine($"saved {all.Count} messages to {arg}");
                            }
                            catch (Exception e) when (e is CliException or IOException or UnauthorizedAccessException) { stdout.WriteLine($"cannot save: {e.Message}"); }
                            continue;
                        case "/help": stdout.WriteLine(Help); continue;
                        default: stdout.WriteLine($"unknown command {cmd}; {Help}"); continue;
                    }
                }

                history.Add((JsonNode)ChatMessages.User(line));
                var options = new GenerationOptions { Sampling = sampling, EnableThinking = thinking, ThinkingBudget = r.GetValue(flags.ThinkingBudget), Tools = toolDefs };
                answer = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var text = new StringBuilder();
                var calls = new List<ToolCall>();
                ChatUpdate? final = null;
                var sw = Stopwatch.StartNew();
                bool inReasoning = false;
                try
                {
                    await foreach (var u in qwen.ChatStreamAsync(Conversation(system, history), options, answer.Token))
                    {
                        switch (u.Kind)
                        {
                            case ChatUpdateKind.Reasoning:
                                if (!inReasoning) { stdout.Write(Dim("thinking: ")); inReasoning = true; }
                                stdout.Write(Dim(u.Text ?? ""));
                                break;
                            case ChatUpdateKind.Content:
                                if (inReasoning && !string.IsNullOrEmpty(u.Text)) { stdout.WriteLine(); stdout.WriteLine(); inReasoning = false; }
                                text.Append(u.Text);
                                stdout.Write(u.Text);
                                break;
                            case ChatUpdateKind.ToolCall:
                                calls.Add(u.ToolCall!);
                                stdout.Write($"\n[tool call] {u.ToolCall!.Name}({u.ToolCall.Arguments})");
                                break;
                            case ChatUpdateKind.Finished:
                                final = u;
                                break;
                        }
                        stdout.Flush();
                    }
                }
                catch (ArgumentException e) { stdout.WriteLine($"\nerror: {e.Message}"); history.RemoveAt(history.Count - 1); continue; }
                finally { answer.Dispose(); answer = null; }
                stdout.WriteLine();
                history.Add((JsonNode)ChatMessages.Assistant(text.ToString(), null, calls));
                var usage = final?.Usage;
                double secs = sw.Elapsed.TotalSeconds;
                string note = final?.FinishReason == "cancelled" ? ", stopped" : final?.FinishReason == "length" ? ", hit the token limit" : "";
                if (final?.Error is { } err) note += $", error: {err}";
                stdout.WriteLine(Dim($"[{usage?.CompletionTokens ?? 0} tokens, {(usage?.CompletionTokens ?? 0) / Math.Max(secs, 1e-9):0.0} tok/s{note}]"));
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    static JsonArray Conversation(string? system, JsonArray history)
    {
        var all = new JsonArray();
        if (system != null) all.Add((JsonNode)ChatMessages.System(system));
        foreach (var m in history) all.Add(m!.DeepClone());
        return all;
    }
}

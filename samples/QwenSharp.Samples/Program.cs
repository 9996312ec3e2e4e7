namespace QwenSharp.Samples;

/// <summary>Runs one sample by name: `dotnet run --project samples/QwenSharp.Samples -- NAME [--model PATH|REPO] [--max-tokens N]`.</summary>
public static class Program
{
    public static readonly Dictionary<string, (string Shows, Func<SampleArgs, Task<int>> Run)> Samples = new()
    {
        ["basic-chat"] = ("Qwen3 chat through its own template, with sampling", BasicChat.RunAsync),
        ["system-prompt"] = ("Qwen2.5-Instruct with a system prompt", SystemPrompt.RunAsync),
        ["code"] = ("code generation with Qwen2.5-Coder", CodeGeneration.RunAsync),
        ["math"] = ("step-by-step math with Qwen2.5-Math", StepByStepMath.RunAsync),
        ["thinking"] = ("Qwen3 thinking on and off, a thinking budget, reasoning and answer apart", Thinking.RunAsync),
        ["edge"] = ("a small model quantized at load to 8 and 4 bits, prompt truncated to a budget, memory and tokens/s", EdgeDeployment.RunAsync),
        ["finetune"] = ("LoRA fine-tuning on a small JSONL dataset, then chat with the adapter", Finetuning.RunAsync),
        ["prompt-builders"] = ("prompt builders: step by step, coding with constraints, several languages", PromptBuilderSample.RunAsync),
        ["serving"] = ("the OpenAI-compatible server in-process, called with the official OpenAI .NET client: one prompt and a batch", Serving.RunAsync),
        ["security"] = ("API keys, per-key rate limits, input length limits, logs without prompt text", Security.RunAsync),
        ["service"] = ("a production service: async streaming and batch generation behind an interface, with cancellation", ProductionService.RunAsync),
        ["function-calling"] = ("IChatClient with function calling through UseFunctionInvocation()", FunctionCalling.RunAsync),
        ["monitoring"] = ("tokens/s, time to first token, memory and a degraded-health check, as OpenTelemetry metrics", Monitoring.RunAsync),
    };

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || !Samples.TryGetValue(args[0], out var sample))
        {
            Console.WriteLine("usage: QwenSharp.Samples NAME [--model PATH|REPO] [--max-tokens N]\n");
            foreach (var (name, (shows, _)) in Samples) Console.WriteLine($"  {name,-18} {shows}");
            return args.Length == 0 ? 0 : 2;
        }
        return await sample.Run(new SampleArgs(args[1..]));
    }
}

/// <summary>The arguments every sample takes.</summary>
public sealed class SampleArgs(string[] args)
{
    public string? Get(string name)
    {
        int i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>--model: a local folder or .gguf (works offline), or a Hub repo id (the sample's default).</summary>
    public string Model(string defaultRepo) => Get("model") ?? defaultRepo;

    /// <summary>--max-tokens: keeps answers short (CI runs every sample with a small value).</summary>
    public int MaxTokens(int fallback) => int.TryParse(Get("max-tokens"), out var n) ? n : fallback;
}

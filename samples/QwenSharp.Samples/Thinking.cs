// Shows: Qwen3's thinking mode: on (reasoning, then the answer), off (answer only), and a thinking budget
// that ends the reasoning after N tokens; reasoning and answer are printed apart.
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static class Thinking
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        var question = new JsonArray(ChatMessages.User("How many r's are in the word 'strawberry'?"));
        int max = args.MaxTokens(1024);
        var modes = new (string Name, GenerationOptions Options)[]
        {
            ("thinking on", new() { EnableThinking = true, Sampling = new SamplingParams { Temperature = 0.6f, TopP = 0.95f, TopK = 20, MaxTokens = max } }),
            ("thinking off", new() { EnableThinking = false, Sampling = new SamplingParams { Temperature = 0.7f, TopP = 0.8f, TopK = 20, MaxTokens = max } }),
            ("thinking budget of 32 tokens", new() { EnableThinking = true, ThinkingBudget = Math.Min(32, max / 2), Sampling = new SamplingParams { MaxTokens = max } }),
        };
        foreach (var (name, options) in modes)
        {
            var r = await qwen.ChatAsync(question, options);
            Console.WriteLine($"== {name}");
            Console.WriteLine($"reasoning ({r.Reasoning.Length} chars): {r.Reasoning}");
            Console.WriteLine($"answer: {r.Text}");
            Console.WriteLine($"[{r.Usage.ReasoningTokens} reasoning tokens, {r.Usage.CompletionTokens} in all]");
        }
        return 0;
    }
}

// Shows: the prompt builders of the Qwen guides: step-by-step reasoning, coding with constraints, and one
// answer in several languages.
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static class PromptBuilderSample
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        var options = new GenerationOptions { EnableThinking = false, Sampling = new SamplingParams { Temperature = 0.7f, TopP = 0.8f, MaxTokens = args.MaxTokens(300) } };
        var prompts = new[]
        {
            ("step by step", PromptBuilders.StepByStep("A train travels 120 km in 1.5 hours. What is its average speed?")),
            ("coding with constraints", PromptBuilders.Coding("parse a CSV line into fields", "C#", ["handle quoted fields", "no regular expressions", "O(n) time"])),
            ("several languages", PromptBuilders.Multilingual("What is machine learning?", ["English", "中文", "Español"])),
        };
        foreach (var (name, messages) in prompts)
        {
            var r = await qwen.ChatAsync(messages, options);
            Console.WriteLine($"== {name}\n{r.Text}\n");
        }
        return 0;
    }
}

// Shows: step-by-step math with Qwen2.5-Math and its recommended chain-of-thought instruction;
// the final answer is read from \boxed{...}.
using System.Text.RegularExpressions;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static partial class StepByStepMath
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen2.5-Math-1.5B-Instruct"));
        var messages = PromptBuilders.StepByStep("Find the value of x that satisfies the equation 4x + 5 = 6x + 7.");
        var result = await qwen.ChatAsync(messages, new GenerationOptions { Sampling = new SamplingParams { Temperature = 0, MaxTokens = args.MaxTokens(512) } });
        Console.WriteLine(result.Text);
        var boxed = Boxed().Match(result.Text);
        Console.WriteLine(boxed.Success ? $"final answer: {boxed.Groups[1].Value}" : "[no \\boxed{} answer]");
        return 0;
    }

    [GeneratedRegex(@"\\boxed\{([^{}]*)\}")]
    private static partial Regex Boxed();
}

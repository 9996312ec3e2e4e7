// Shows: Qwen2.5-Instruct with a system prompt, answered whole (not streamed).
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static class SystemPrompt
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen2.5-0.5B-Instruct"));
        var messages = new JsonArray(
            ChatMessages.System("You are Qwen, created by Alibaba Cloud. You are a helpful assistant who answers in one paragraph."),
            ChatMessages.User("What is the capital of France, and why is it famous?"));
        var result = await qwen.ChatAsync(messages, new GenerationOptions { Sampling = new SamplingParams { MaxTokens = args.MaxTokens(200) } });
        Console.WriteLine(result.Text);
        Console.WriteLine($"[prompt {result.Usage.PromptTokens} tokens, answer {result.Usage.CompletionTokens} tokens]");
        return 0;
    }
}

// Shows: chatting with Qwen3 through the model's own chat template, with sampling settings
// (the Qwen3 non-thinking recommendation: temperature 0.7, top_p 0.8, top_k 20).
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static class BasicChat
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        var messages = new JsonArray(ChatMessages.User("Give me a short introduction to large language models."));
        var options = new GenerationOptions
        {
            EnableThinking = false,
            Sampling = new SamplingParams { Temperature = 0.7f, TopP = 0.8f, TopK = 20, MaxTokens = args.MaxTokens(256) },
        };
        // Stream the answer as it is generated.
        await foreach (var update in qwen.ChatStreamAsync(messages, options))
        {
            if (update.Kind == ChatUpdateKind.Content) Console.Write(update.Text);
            if (update.Kind == ChatUpdateKind.Finished) Console.WriteLine($"\n[{update.Usage!.CompletionTokens} tokens, {update.FinishReason}]");
        }
        return 0;
    }
}

// Shows: a production-style service: an interface the app depends on, async streaming for one caller, batch
// generation for many prompts at once (the engine batches them together), and cancellation with a timeout.
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

/// <summary>What the rest of the application sees: no model details.</summary>
public interface ITextGenerator
{
    IAsyncEnumerable<string> StreamAsync(string prompt, CancellationToken ct = default);
    Task<IReadOnlyList<string>> GenerateBatchAsync(IReadOnlyList<string> prompts, CancellationToken ct = default);
}

public sealed class QwenTextGenerator(Qwen qwen, int maxTokens) : ITextGenerator
{
    GenerationOptions Options => new() { EnableThinking = false, Sampling = new SamplingParams { Temperature = 0.7f, TopP = 0.8f, MaxTokens = maxTokens } };

    public async IAsyncEnumerable<string> StreamAsync(string prompt, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var u in qwen.ChatStreamAsync(new JsonArray(ChatMessages.User(prompt)), Options, ct))
            if (u.Kind == ChatUpdateKind.Content && !string.IsNullOrEmpty(u.Text)) yield return u.Text;
    }

    public async Task<IReadOnlyList<string>> GenerateBatchAsync(IReadOnlyList<string> prompts, CancellationToken ct = default)
    {
        // Submitted together, the requests share every forward pass (continuous batching).
        var tasks = prompts.Select(p => qwen.ChatAsync(new JsonArray(ChatMessages.User(p)), Options, ct));
        return (await Task.WhenAll(tasks)).Select(r => r.Text).ToList();
    }
}

public static class ProductionService
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        ITextGenerator generator = new QwenTextGenerator(qwen, args.MaxTokens(128));

        Console.WriteLine("== streaming");
        await foreach (var piece in generator.StreamAsync("Write a haiku about autumn.")) Console.Write(piece);
        Console.WriteLine();

        Console.WriteLine("== batch");
        var answers = await generator.GenerateBatchAsync(["Define latency.", "Define throughput.", "Define bandwidth."]);
        for (int i = 0; i < answers.Count; i++) Console.WriteLine($"{i + 1}. {answers[i]}");

        Console.WriteLine("== cancellation after 200 ms");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        int pieces = 0;
        try
        {
            await foreach (var _ in generator.StreamAsync("Tell me a very long story.", cts.Token)) pieces++;
            Console.WriteLine($"finished before the timeout ({pieces} pieces)");
        }
        catch (OperationCanceledException) { Console.WriteLine($"cancelled after {pieces} pieces; the sequence's memory is freed"); }
        Console.WriteLine($"active sequences now: {qwen.Engine.ActiveSequences}");
        return 0;
    }
}

// Shows: edge deployment: a small model quantized to 8-bit and then 4-bit at load (the .NET counterpart of
// load_in_8bit / load_in_4bit), the prompt truncated to a token budget, memory use and tokens/s printed.
using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Samples;

public static class EdgeDeployment
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        string path = await Hub.ModelLocator.Resolve(args.Model("Qwen/Qwen2.5-0.5B-Instruct"));
        const int promptBudget = 64;
        string longText = string.Join(" ", Enumerable.Repeat("Edge devices have little memory and slow processors.", 40));
        foreach (var quantize in new[] { QwenSharp.Tensors.GgmlType.Q8_0, QwenSharp.Tensors.GgmlType.Q4_0 })
        {
            var sw = Stopwatch.StartNew();
            using var qwen = Qwen.Load(path, new QwenOptions { Load = new ModelLoadOptions { Quantize = quantize } });
            double load = sw.Elapsed.TotalSeconds;
            // Keep the prompt within the budget: cut the user text at a token boundary.
            var ids = qwen.Tokenizer.Encode(longText);
            string truncated = ids.Length > promptBudget ? qwen.Tokenizer.Decode(ids.AsSpan(0, promptBudget)) : longText;
            var messages = new JsonArray(ChatMessages.User("Summarize: " + truncated));
            sw.Restart();
            var r = await qwen.ChatAsync(messages, new GenerationOptions { EnableThinking = false, Sampling = new SamplingParams { Temperature = 0, MaxTokens = args.MaxTokens(64) } });
            double secs = sw.Elapsed.TotalSeconds;
            var info = ModelInfo.Describe(qwen.Model);
            Console.WriteLine($"== {quantize}: weights {ModelInfo.FormatBytes(info.WeightBytes)}, process memory {Environment.WorkingSet / (1 << 20)} MiB, loaded in {load:0.0} s");
            Console.WriteLine($"prompt {r.Usage.PromptTokens} tokens (user text cut from {ids.Length} to {Math.Min(ids.Length, promptBudget)}), {r.Usage.CompletionTokens / secs:0.0} tokens/s");
            Console.WriteLine(r.Text);
        }
        return 0;
    }
}

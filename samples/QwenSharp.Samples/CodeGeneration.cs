// Shows: code generation with Qwen2.5-Coder, greedy decoding, and pulling the code block out of the answer.
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static partial class CodeGeneration
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen2.5-Coder-0.5B-Instruct"));
        var messages = new JsonArray(ChatMessages.User("Write a C# method that checks whether a string is a palindrome, ignoring case and punctuation."));
        var result = await qwen.ChatAsync(messages, new GenerationOptions { Sampling = new SamplingParams { Temperature = 0, MaxTokens = args.MaxTokens(400) } });
        var code = CodeBlock().Match(result.Text);
        Console.WriteLine(code.Success ? code.Groups[1].Value : result.Text);
        Console.WriteLine($"[{result.Usage.CompletionTokens} tokens, {(code.Success ? "code block found" : "no code block in the answer")}]");
        return 0;
    }

    [GeneratedRegex("```[a-zA-Z#+]*\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();
}

using System.Text;
using System.Text.Json.Nodes;

namespace QwenSharp.Generation;

/// <summary>
/// The prompt patterns of the Qwen guides, as message lists ready for <see cref="Qwen.ChatAsync(JsonArray, GenerationOptions?, CancellationToken)"/>
/// or any chat API: step-by-step reasoning (Qwen2.5-Math's chain-of-thought instruction), coding with
/// constraints, and an answer in several languages.
/// </summary>
public static class PromptBuilders
{
    /// <summary>The system prompt Qwen2.5-Math's model card recommends for chain-of-thought answers.</summary>
    public const string StepByStepInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";

    /// <summary>A question to be solved step by step, the final answer in \boxed{}.</summary>
    public static JsonArray StepByStep(string question, string? system = null)
    {
        var m = new JsonArray();
        if (system != null) m.Add((JsonNode)ChatMessages.System(system));
        m.Add((JsonNode)ChatMessages.User(question + "\n" + StepByStepInstruction));
        return m;
    }

    /// <summary>A coding task with a language and explicit constraints, asking for code in one fenced block.</summary>
    public static JsonArray Coding(string task, string language, IEnumerable<string>? constraints = null)
    {
        var sb = new StringBuilder();
        sb.Append("Write ").Append(language).Append(" code for the following task.\n\nTask: ").Append(task.Trim()).Append('\n');
        var list = constraints?.Where(c => !string.IsNullOrWhiteSpace(c)).ToList() ?? [];
        if (list.Count > 0)
        {
            sb.Append("\nConstraints:\n");
            for (int i = 0; i < list.Count; i++) sb.Append(i + 1).Append(". ").Append(list[i].Trim()).Append('\n');
        }
        sb.Append("\nReturn the complete code in a single ```").Append(language.ToLowerInvariant()).Append(" block, then a short explanation.");
        return new JsonArray(ChatMessages.System("You are Qwen, a careful senior software engineer. Follow every constraint exactly."), ChatMessages.User(sb.ToString()));
    }

    /// <summary>One question answered in each of the given languages, each under its own heading.</summary>
    public static JsonArray Multilingual(string question, IEnumerable<string> languages)
    {
        var langs = languages.Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        if (langs.Count == 0) throw new ArgumentException("give at least one language", nameof(languages));
        var sb = new StringBuilder();
        sb.Append("Answer the question below in each of these languages: ").Append(string.Join(", ", langs)).Append(".\n");
        sb.Append("Give each answer under a heading with the language's name, and keep the meaning identical across languages.\n\nQuestion: ").Append(question.Trim());
        return new JsonArray(ChatMessages.User(sb.ToString()));
    }
}

using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Templates;
using QwenSharp.Tokenization;

namespace QwenSharp.Generation;

/// <summary>
/// Renders a chat with the model's own template and turns it into token ids without forged turns:
/// special-token text inside user, system and tool messages is tokenized as plain text; only the text
/// the template itself writes can produce special tokens. (transformers and vLLM tokenize the rendered
/// prompt with special tokens parsed everywhere; <see cref="GenerationOptions.ParseSpecialTokensInContent"/>
/// restores that.) Assistant messages are the model's own words and pass unchanged, so reasoning
/// inside them is still split by the template.
/// How: before rendering, each added-token string in a protected message is replaced by a marker made
/// of private-use characters; after rendering, the markers are turned back into the original text and
/// remembered as spans where added tokens must not be matched.
/// </summary>
public sealed class PromptEncoder(QwenTokenizer tokenizer, ChatTemplate template)
{
    const char MarkOpen = '\uE000', MarkClose = '\uE001', DigitBase = '\uE010';
    readonly string[] _added = tokenizer.AddedTokens.Select(t => t.Content).Where(c => c.Length > 0).OrderByDescending(c => c.Length).ToArray();
    readonly HashSet<char> _firstChars = tokenizer.AddedTokens.Where(t => t.Content.Length > 0).Select(t => t.Content[0]).ToHashSet();

    public QwenTokenizer Tokenizer => tokenizer;
    public ChatTemplate Template => template;

    /// <summary>The rendered prompt and its token ids.</summary>
    public sealed record EncodedPrompt(string Text, int[] Ids, bool StartsInReasoning);

    public EncodedPrompt Encode(JsonArray messages, GenerationOptions options, bool addGenerationPrompt = true)
    {
        var kwargs = new JsonObject();
        var originals = new List<string>();
        var msgs = options.ParseSpecialTokensInContent ? messages.DeepClone().AsArray() : Protect(messages, originals);
        kwargs["messages"] = msgs;
        if (options.Tools is { Count: > 0 } tools && options.ToolChoice != "none") kwargs["tools"] = tools.DeepClone();
        kwargs["add_generation_prompt"] = addGenerationPrompt && !options.ContinueFinalMessage;
        if (options.ContinueFinalMessage) kwargs["continue_final_message"] = true;
        if (options.EnableThinking is bool think) kwargs["enable_thinking"] = think;
        if (options.TemplateVariables != null)
            foreach (var (k, v) in options.TemplateVariables)
                if (k is not ("messages" or "tools" or "add_generation_prompt" or "continue_final_message")) kwargs[k] = v?.DeepClone();

        string rendered = template.Render(kwargs);
        var (text, protectedSpans) = Restore(rendered, originals);
        text += ToolChoicePrefill(options, text);
        var ids = options.ParseSpecialTokensInContent ? tokenizer.Encode(text, parseSpecialTokens: true) : EncodeProtected(text, protectedSpans);
        return new EncodedPrompt(text, ids, EndsInsideThink(text));
    }

    /// <summary>Whether the prompt leaves a &lt;think&gt; block open (the template pre-filled it).</summary>
    public static bool EndsInsideThink(string prompt)
    {
        int open = prompt.LastIndexOf("<think>", StringComparison.Ordinal);
        return open >= 0 && prompt.IndexOf("</think>", open, StringComparison.Ordinal) < 0;
    }

    /// <summary>For tool_choice "required" or a named tool: start the answer with the tool-call opening.</summary>
    static string ToolChoicePrefill(GenerationOptions o, string prompt)
    {
        if (o.Tools is not { Count: > 0 } || o.ToolChoice is null or "auto" or "none") return "";
        string close = EndsInsideThink(prompt) ? "\n</think>\n\n" : "";
        return o.ToolChoice == "required"
            ? close + "<tool_call>\n{\"name\": \""
            : close + "<tool_call>\n{\"name\": " + System.Text.Json.Nodes.JsonValue.Create(o.ToolChoice).ToJsonString(JsonText.Options) + ", \"arguments\": ";
    }

    JsonArray Protect(JsonArray messages, List<string> originals)
    {
        var copy = messages.DeepClone().AsArray();
        foreach (var m in copy)
        {
            if (m is not JsonObject o) continue;
            string role = o["role"] is JsonValue rv && rv.TryGetValue(out string? r) ? r : "";
            if (role == "assistant") continue;
            if (o["content"] is JsonValue cv && cv.TryGetValue(out string? s)) o["content"] = Escape(s, originals);
            else if (o["content"] is JsonArray parts)
                foreach (var part in parts)
                    if (part is JsonObject po && po["text"] is JsonValue tv && tv.TryGetValue(out string? t)) po["text"] = Escape(t, originals);
        }
        return copy;
    }

    string Escape(string s, List<string> originals)
    {
        if (s.IndexOfAny(_firstChars.Append(MarkOpen).ToArray()) < 0) return s;
        var sb = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            string? hit = null;
            if (s[i] == MarkOpen) hit = MarkOpen.ToString(); // a marker character in user text is protected too
            else foreach (var a in _added) if (string.CompareOrdinal(s, i, a, 0, a.Length) == 0) { hit = a; break; }
            if (hit is null) { sb.Append(s[i++]); continue; }
            sb.Append(MarkOpen);
            foreach (var d in originals.Count.ToString("x")) sb.Append((char)(DigitBase + Convert.ToInt32(d.ToString(), 16)));
            sb.Append(MarkClose);
            originals.Add(hit);
            i += hit.Length;
        }
        return sb.ToString();
    }

    static (string Text, List<(int Start, int Length)> Spans) Restore(string rendered, List<string> originals)
    {
        var spans = new List<(int, int)>();
        if (originals.Count == 0) return (rendered, spans);
        var sb = new StringBuilder(rendered.Length);
        int i = 0;
        while (i < rendered.Length)
        {
            char c = rendered[i];
            if (c == MarkOpen)
            {
                int j = i + 1, index = 0;
                while (j < rendered.Length && rendered[j] >= DigitBase && rendered[j] < DigitBase + 16) { index = index * 16 + (rendered[j] - DigitBase); j++; }
                if (j < rendered.Length && rendered[j] == MarkClose && j > i + 1 && index < originals.Count)
                {
                    spans.Add((sb.Length, originals[index].Length));
                    sb.Append(originals[index]);
                    i = j + 1;
                    continue;
                }
            }
            sb.Append(c);
            i++;
        }
        return (sb.ToString(), spans);
    }

    /// <summary>Encodes with added tokens recognized everywhere except inside the protected spans.</summary>
    int[] EncodeProtected(string text, List<(int Start, int Length)> spans)
    {
        var ids = new List<int>(text.Length / 3 + 8);
        int segmentStart = 0, pos = 0, span = 0;
        while (pos < text.Length)
        {
            if (span < spans.Count && pos == spans[span].Start) { pos += spans[span].Length; span++; continue; }
            string? hit = null;
            if (_firstChars.Contains(text[pos]))
                foreach (var a in _added) if (string.CompareOrdinal(text, pos, a, 0, a.Length) == 0) { hit = a; break; }
            if (hit is null) { pos++; continue; }
            if (pos > segmentStart) tokenizer.EncodeAsText(text.AsSpan(segmentStart, pos - segmentStart), ids);
            ids.Add(tokenizer.TokenToId(hit)!.Value);
            pos += hit.Length;
            segmentStart = pos;
        }
        if (pos > segmentStart) tokenizer.EncodeAsText(text.AsSpan(segmentStart, pos - segmentStart), ids);
        return ids.ToArray();
    }
}

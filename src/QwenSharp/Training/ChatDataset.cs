using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Templates;
using QwenSharp.Tokenization;

namespace QwenSharp.Training;

/// <summary>One tokenized training conversation: token ids and, per position, the label (the next token when it belongs to an assistant turn, else -1).</summary>
public sealed record ChatExample(int[] Tokens, int[] Labels)
{
    public int Length => Tokens.Length;
    public int LabelCount => Labels.Count(l => l >= 0);
}

/// <summary>
/// Chat-format JSONL training data ({"messages": [...], "tools": [...]?} per line, as TRL's SFTTrainer
/// takes it), rendered with the model's own chat template. The loss covers the assistant turns only:
/// everything the template writes after "&lt;|im_start|&gt;assistant\n" up to and including "&lt;|im_end|&gt;"
/// (Qwen's templates are ChatML). Special-token text is parsed everywhere, as transformers' tokenizer does.
/// </summary>
public sealed class ChatDataset
{
    const string AssistantHeader = "<|im_start|>assistant\n", TurnEnd = "<|im_end|>";

    public IReadOnlyList<ChatExample> Examples { get; }
    /// <summary>Examples cut to the maximum length.</summary>
    public int Truncated { get; }
    /// <summary>Examples dropped because no assistant token was left after truncation.</summary>
    public int Dropped { get; }
    public string Source { get; }

    ChatDataset(List<ChatExample> examples, int truncated, int dropped, string source)
    {
        Examples = examples;
        Truncated = truncated;
        Dropped = dropped;
        Source = source;
    }

    public long TotalTokens => Examples.Sum(e => (long)e.Length);

    /// <summary>Reads a JSONL file; errors name the file and line.</summary>
    public static ChatDataset Load(string path, QwenTokenizer tokenizer, ChatTemplate template, int maxLength)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), "the maximum sequence length must be at least 2");
        var list = new List<ChatExample>();
        int lineNo = 0, truncated = 0, dropped = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject o;
            try { o = JsonNode.Parse(line) as JsonObject ?? throw new InvalidDataException($"{path}:{lineNo}: expected a JSON object with \"messages\""); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{lineNo}: not valid JSON: {e.Message}"); }
            if (o["messages"] is not JsonArray messages) throw new InvalidDataException($"{path}:{lineNo}: missing \"messages\" (a list of {{\"role\", \"content\"}} objects)");
            try
            {
                var ex = Encode(messages, o["tools"] as JsonArray, tokenizer, template);
                if (ex.Length > maxLength)
                {
                    truncated++;
                    var labels = ex.Labels[..maxLength];
                    labels[^1] = -1;
                    ex = new ChatExample(ex.Tokens[..maxLength], labels);
                }
                if (ex.LabelCount == 0) { dropped++; continue; }
                list.Add(ex);
            }
            catch (InvalidDataException e) { throw new InvalidDataException($"{path}:{lineNo}: {e.Message}"); }
        }
        if (list.Count == 0) throw new InvalidDataException($"{path}: no usable example (every line is empty or has no assistant tokens within the length limit)");
        return new ChatDataset(list, truncated, dropped, path);
    }

    /// <summary>Renders one conversation and marks its assistant tokens.</summary>
    public static ChatExample Encode(JsonArray messages, JsonArray? tools, QwenTokenizer tokenizer, ChatTemplate template)
    {
        bool hasAssistant = false;
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject m || m["role"] is not JsonValue rv || !rv.TryGetValue(out string? role))
                throw new InvalidDataException($"message {i} is not an object with a \"role\"");
            hasAssistant |= role == "assistant";
        }
        if (!hasAssistant) throw new InvalidDataException("no assistant message to learn from");
        var kwargs = new JsonObject { ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = false };
        if (tools is { Count: > 0 }) kwargs["tools"] = tools.DeepClone();
        string text;
        try { text = template.Render(kwargs); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw new InvalidDataException($"the chat template failed: {e.Message}"); }

        var ids = new List<int>();
        var trained = new List<bool>();
        int pos = 0;
        while (pos < text.Length)
        {
            int h = text.IndexOf(AssistantHeader, pos, StringComparison.Ordinal);
            if (h < 0) { Append(text[pos..], false); break; }
            int start = h + AssistantHeader.Length;
            Append(text[pos..start], false);
            int end = text.IndexOf(TurnEnd, start, StringComparison.Ordinal);
            end = end < 0 ? text.Length : end + TurnEnd.Length;
            Append(text[start..end], true);
            pos = end;
        }
        var labels = new int[ids.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = i + 1 < ids.Count && trained[i + 1] ? ids[i + 1] : -1;
        return new ChatExample(ids.ToArray(), labels);

        void Append(string piece, bool train)
        {
            if (piece.Length == 0) return;
            int before = ids.Count;
            tokenizer.Encode(piece.AsSpan(), ids, parseSpecialTokens: true);
            for (int i = before; i < ids.Count; i++) trained.Add(train);
        }
    }

    /// <summary>
    /// Groups examples into rows of at most <paramref name="maxLength"/> tokens (first-fit, longest first), each
    /// example keeping its own positions and attention: fewer, fuller micro-batches with the same loss.
    /// </summary>
    public static List<ChatExample[]> Pack(IReadOnlyList<ChatExample> examples, int maxLength)
    {
        var bins = new List<List<ChatExample>>();
        var used = new List<int>();
        foreach (var e in examples.OrderByDescending(e => e.Length))
        {
            int b = used.FindIndex(u => u + e.Length <= maxLength);
            if (b < 0) { bins.Add([e]); used.Add(e.Length); }
            else { bins[b].Add(e); used[b] += e.Length; }
        }
        return bins.Select(b => b.ToArray()).ToList();
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Generation;

/// <summary>A tool call the model made. <see cref="Arguments"/> is a JSON object text; <see cref="Error"/>
/// is set (and Arguments holds the raw text) when the call could not be parsed.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments, string? Error = null)
{
    public bool IsValid => Error is null;
}

/// <summary>A piece of parsed model output: reasoning text, answer text, or a complete tool call.</summary>
public readonly record struct OutputDelta(string? Reasoning, string? Content, ToolCall? ToolCall);

/// <summary>
/// Splits streamed model text into reasoning (between &lt;think&gt; and &lt;/think&gt;), answer content, and
/// tool calls (&lt;tool_call&gt;{"name": ..., "arguments": ...}&lt;/tool_call&gt; as Qwen2.5/Qwen3 write them, and
/// Qwen3-Coder's &lt;function=...&gt;&lt;parameter=...&gt; form), token by token: text that might be the start of a
/// tag is held back until it is clear, so a tag split across tokens is still found.
/// Works whatever the template did: &lt;think&gt; written by the model, pre-filled by the template
/// (<c>startInReasoning</c>), an empty think block (thinking off), or no think block at all.
/// </summary>
public sealed class ChatOutputParser
{
    const string ThinkOpen = "<think>", ThinkClose = "</think>", CallOpen = "<tool_call>", CallClose = "</tool_call>";

    enum Mode { Start, Reasoning, Content, ToolCall, Done }

    readonly bool _parseToolCalls;
    readonly IReadOnlyDictionary<string, JsonObject>? _toolSchemas;
    Mode _mode;
    readonly StringBuilder _pending = new();   // unprocessed text (possible partial tag)
    readonly StringBuilder _call = new();      // body of the current tool call
    bool _reasoningStarted;                    // a leading "\n" after <think> is dropped
    bool _contentStarted;                      // leading "\n" after </think> are dropped
    bool _afterCall;                           // whitespace right after a tool call is dropped
    int _callCount;
    readonly string _idPrefix;

    /// <param name="startInReasoning">The prompt ends inside an open &lt;think&gt; block (pre-filled by the template).</param>
    /// <param name="parseToolCalls">Recognize &lt;tool_call&gt; blocks (when the request offered tools).</param>
    /// <param name="toolSchemas">Tool name → JSON schema of its parameters, to type Qwen3-Coder's XML parameter values.</param>
    /// <param name="callIdPrefix">Prefix of the ids given to parsed tool calls (null: the default).</param>
    public ChatOutputParser(bool startInReasoning, bool parseToolCalls = true, IReadOnlyDictionary<string, JsonObject>? toolSchemas = null, string? callIdPrefix = null)
    {
        _mode = startInReasoning ? Mode.Reasoning : Mode.Start;
        _parseToolCalls = parseToolCalls;
        _toolSchemas = toolSchemas;
        _idPrefix = callIdPrefix ?? "call_" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>Whether the parser is inside reasoning now.</summary>
    public bool InReasoning => _mode == Mode.Reasoning;

    /// <summary>Feeds generated text; returns what can be emitted now.</summary>
    public List<OutputDelta> Push(string text)
    {
        var output = new List<OutputDelta>();
        _pending.Append(text);
        Process(output, final: false);
        return output;
    }

    /// <summary>At the end of generation: everything still held, unfinished blocks included.</summary>
    public List<OutputDelta> Finish()
    {
        var output = new List<OutputDelta>();
        Process(output, final: true);
        if (_mode == Mode.ToolCall)
        {
            string raw = _call.ToString();
            output.Add(new OutputDelta(null, null, new ToolCall(NextId(), "", raw, "the tool call was not finished (no </tool_call>)")));
            _call.Clear();
        }
        _mode = Mode.Done;
        return output;
    }

    void Process(List<OutputDelta> output, bool final)
    {
        while (_pending.Length > 0)
        {
            string s = _pending.ToString();
            switch (_mode)
            {
                case Mode.Start:
                    {
                        // Before any content: the model may open a think block (after optional whitespace).
                        string trimmed = s.TrimStart();
                        if (trimmed.StartsWith(ThinkOpen, StringComparison.Ordinal))
                        {
                            _pending.Clear().Append(trimmed[ThinkOpen.Length..]);
                            _mode = Mode.Reasoning;
                            continue;
                        }
                        if (!final && (trimmed.Length == 0 || ThinkOpen.StartsWith(trimmed, StringComparison.Ordinal))) return;
                        _mode = Mode.Content;
                        continue;
                    }
                case Mode.Reasoning:
                    {
                        if (!_reasoningStarted)
                        {
                            if (s[0] == '\n') { _pending.Remove(0, 1); _reasoningStarted = true; continue; }
                            _reasoningStarted = true;
                        }
                        int close = s.IndexOf(ThinkClose, StringComparison.Ordinal);
                        if (close >= 0)
                        {
                            string r = s[..close];
                            if (r.EndsWith('\n')) r = r[..^1];
                            if (r.Length > 0) output.Add(new OutputDelta(r, null, null));
                            _pending.Remove(0, close + ThinkClose.Length);
                            _mode = Mode.Content;
                            continue;
                        }
                        // Hold back a possible partial "</think>" and one trailing newline (it belongs to the tag).
                        int hold = final ? 0 : PartialSuffix(s, ThinkClose);
                        if (!final && hold == 0 && s.EndsWith('\n')) hold = 1;
                        else if (!final && hold > 0 && s.Length > hold && s[s.Length - hold - 1] == '\n') hold++;
                        string emit = s[..(s.Length - hold)];
                        if (emit.Length > 0) output.Add(new OutputDelta(emit, null, null));
                        _pending.Remove(0, emit.Length);
                        return;
                    }
                case Mode.Content:
                    {
                        if (!_contentStarted)
                        {
                            int k = 0;
                            while (k < s.Length && s[k] == '\n') k++;
                            if (k == s.Length && !final) { _pending.Clear(); return; }
                            if (k > 0) { _pending.Remove(0, k); s = s[k..]; }
                            _contentStarted = s.Length > 0;
                            if (s.Length == 0) return;
                        }
                        if (_afterCall)
                        {
                            int ws = 0;
                            while (ws < s.Length && char.IsWhiteSpace(s[ws])) ws++;
                            if (ws == s.Length && !final) { _pending.Clear(); return; }
                            _pending.Remove(0, ws);
                            s = s[ws..];
                            _afterCall = false;
                            if (s.Length == 0) return;
                        }
                        if (_parseToolCalls)
                        {
                            int open = s.IndexOf(CallOpen, StringComparison.Ordinal);
                            if (open >= 0)
                            {
                                string before = s[..open];
                                if (before.Length > 0) output.Add(new OutputDelta(null, before, null));
                                _pending.Remove(0, open + CallOpen.Length);
                                _mode = Mode.ToolCall;
                                continue;
                            }
                        }
                        int hold = final || !_parseToolCalls ? 0 : PartialSuffix(s, CallOpen);
                        string emit = s[..(s.Length - hold)];
                        if (emit.Length > 0) output.Add(new OutputDelta(null, emit, null));
                        _pending.Remove(0, emit.Length);
                        return;
                    }
                case Mode.ToolCall:
                    {
                        int close = s.IndexOf(CallClose, StringComparison.Ordinal);
                        if (close < 0)
                        {
                            int hold = final ? 0 : PartialSuffix(s, CallClose);
                            _call.Append(s, 0, s.Length - hold);
                            _pending.Remove(0, s.Length - hold);
                            return;
                        }
                        _call.Append(s, 0, close);
                        _pending.Remove(0, close + CallClose.Length);
                        output.Add(new OutputDelta(null, null, ParseCall(_call.ToString())));
                        _call.Clear();
                        // Whitespace after a call (usually "\n" before the next one) is dropped.
                        _mode = Mode.Content;
                        _afterCall = true;
                        continue;
                    }
                default:
                    _pending.Clear();
                    return;
            }
        }
    }

    /// <summary>Length of the longest suffix of s that is a proper prefix of tag.</summary>
    static int PartialSuffix(string s, string tag)
    {
        for (int k = Math.Min(tag.Length - 1, s.Length); k > 0; k--)
            if (string.CompareOrdinal(s, s.Length - k, tag, 0, k) == 0) return k;
        return 0;
    }

    string NextId() => $"{_idPrefix}_{_callCount++}";

    ToolCall ParseCall(string body)
    {
        string b = body.Trim();
        if (b.StartsWith("<function=", StringComparison.Ordinal)) return ParseXmlCall(b);
        try
        {
            var node = JsonNode.Parse(b);
            if (node is not JsonObject o) return new ToolCall(NextId(), "", b, "tool call is not a JSON object");
            if (o["name"] is not JsonValue nv || !nv.TryGetValue(out string? name) || string.IsNullOrEmpty(name))
                return new ToolCall(NextId(), "", b, "tool call has no \"name\"");
            var args = o["arguments"] ?? o["parameters"];
            string argsJson = args switch
            {
                null => "{}",
                // Some models write the arguments as a JSON string; unwrap it when it holds an object.
                JsonValue v when v.TryGetValue(out string? str) => TryObject(str) ?? "{}",
                _ => args.ToJsonString(JsonText.Options),
            };
            if (args is JsonValue sv && sv.TryGetValue(out string? raw) && TryObject(raw) is null)
                return new ToolCall(NextId(), name, raw, "tool call arguments are not a JSON object");
            return new ToolCall(NextId(), name, argsJson);
        }
        catch (JsonException e)
        {
            return new ToolCall(NextId(), "", b, $"tool call is not valid JSON: {e.Message}");
        }
    }

    static string? TryObject(string s)
    {
        try { return JsonNode.Parse(s) is JsonObject o ? o.ToJsonString(JsonText.Options) : null; }
        catch (JsonException) { return null; }
    }

    /// <summary>Qwen3-Coder: &lt;function=NAME&gt;&lt;parameter=P&gt;VALUE&lt;/parameter&gt;...&lt;/function&gt;.</summary>
    ToolCall ParseXmlCall(string b)
    {
        int nameEnd = b.IndexOf('>');
        if (nameEnd < 0) return new ToolCall(NextId(), "", b, "malformed <function=...> tag");
        string name = b[10..nameEnd].Trim();
        int fnEnd = b.LastIndexOf("</function>", StringComparison.Ordinal);
        if (fnEnd < 0) return new ToolCall(NextId(), name, b, "missing </function>");
        string inner = b[(nameEnd + 1)..fnEnd];
        var args = new JsonObject();
        JsonObject? props = _toolSchemas != null && _toolSchemas.TryGetValue(name, out var schema) ? schema["properties"] as JsonObject : null;
        int pos = 0;
        while (true)
        {
            int p = inner.IndexOf("<parameter=", pos, StringComparison.Ordinal);
            if (p < 0) break;
            int pe = inner.IndexOf('>', p);
            if (pe < 0) return new ToolCall(NextId(), name, b, "malformed <parameter=...> tag");
            string pname = inner[(p + 11)..pe].Trim();
            int end = inner.IndexOf("</parameter>", pe, StringComparison.Ordinal);
            if (end < 0) return new ToolCall(NextId(), name, b, $"parameter '{pname}' has no </parameter>");
            string value = inner[(pe + 1)..end];
            if (value.StartsWith('\n')) value = value[1..];
            if (value.EndsWith('\n')) value = value[..^1];
            string? type = props?[pname]?["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : null;
            args[pname] = ConvertParameter(value, type);
            pos = end + 12;
        }
        return new ToolCall(NextId(), name, args.ToJsonString(JsonText.Options));
    }

    static JsonNode? ConvertParameter(string value, string? type)
    {
        switch (type)
        {
            case "string": return JsonValue.Create(value);
            case "integer" when long.TryParse(value.Trim(), out var l): return JsonValue.Create(l);
            case "number" when double.TryParse(value.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d): return JsonValue.Create(d);
            case "boolean" when value.Trim().ToLowerInvariant() is "true" or "false": return JsonValue.Create(value.Trim().Equals("true", StringComparison.OrdinalIgnoreCase));
        }
        if (type is "string") return JsonValue.Create(value);
        try
        {
            var node = JsonNode.Parse(value);
            if (node != null && (type is null or "object" or "array" or "integer" or "number" or "boolean")) return node;
        }
        catch (JsonException) { }
        return JsonValue.Create(value);
    }
}

using System.Buffers;
using System.Text;
using System.Text.Json;

namespace QwenSharp.Router;

/// <summary>
/// What the router knows about a request's prompt prefix, computed from a canonical form of it: the model name,
/// the tools, then each message (role, text, tool calls) in order, as UTF-8 bytes. Each message is written on its
/// own, so the canonical form of a chat's next turn starts with the canonical form of this turn.
/// <list type="bullet">
/// <item><see cref="Anchor"/>: the hash of the prefix up to the end of the first non-system message (tools, system
/// prompt and the conversation's opening). It never changes as a chat goes on, so rendezvous hashing on it keeps a
/// conversation on one replica, and different conversations sharing a system prompt still spread.</item>
/// <item><see cref="Boundaries"/>: the hash of the prefix at every boundary where a later request may continue it:
/// the end of each message of a chat (each turn of a ChatML prompt), or each whole block of
/// <see cref="PrefixOptions.BlockBytes"/> bytes of a plain prompt. The last one (<see cref="Full"/>) is remembered
/// with the replica chosen; the next turn of the conversation finds it among its own boundaries and follows it, even
/// when the conversation had been moved away from its rendezvous replica (overload, a failed replica).</item>
/// </list>
/// </summary>
public sealed class PrefixKey
{
    PrefixKey(string? model, ulong anchor, ulong[] boundaries, int firstAffinityBoundary, int length)
    {
        Model = model;
        Anchor = anchor;
        Boundaries = boundaries;
        FirstAffinityBoundary = firstAffinityBoundary;
        Length = length;
    }

    /// <summary>The request's <c>model</c> field, if any.</summary>
    public string? Model { get; }
    /// <summary>Hash of the leading part that identifies the conversation; the rendezvous key.</summary>
    public ulong Anchor { get; }
    /// <summary>Hashes of the canonical form up to each boundary, shortest first.</summary>
    public IReadOnlyList<ulong> Boundaries { get; }
    /// <summary>Index of the first boundary long enough to be remembered and followed: for a chat, the first covering
    /// the whole conversation opening (the anchor), so that a match means the same conversation and a system prompt
    /// shared by many conversations never glues them to one replica.</summary>
    public int FirstAffinityBoundary { get; }
    /// <summary>Length in bytes of the canonical form.</summary>
    public int Length { get; }
    /// <summary>The hash remembered for this request: its last boundary, or null when that does not reach
    /// <see cref="FirstAffinityBoundary"/>.</summary>
    public ulong? Full => Boundaries.Count > 0 && Boundaries.Count - 1 >= FirstAffinityBoundary ? Boundaries[^1] : null;

    /// <summary>Summarizes a /v1/chat/completions body. Returns null when it is not a JSON object (the replica
    /// will answer the error).</summary>
    public static PrefixKey? FromChatRequest(ReadOnlySpan<byte> json, PrefixOptions options)
    {
        if (!TryParse(json, out var doc)) return null;
        using (doc)
        {
            var root = doc!.RootElement;
            var canon = new CanonicalWriter();
            string? model = canon.Model(root);
            if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array) canon.Write("tools", tools);
            int anchorEnd = -1;
            var boundaries = new List<int>();
            if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
            {
                foreach (var m in messages.EnumerateArray())
                {
                    string role = m.ValueKind == JsonValueKind.Object && m.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
                    canon.Message(role, m);
                    boundaries.Add(canon.Length);
                    if (anchorEnd < 0 && role is not ("system" or "developer")) anchorEnd = canon.Length;
                }
            }
            if (anchorEnd < 0) anchorEnd = canon.Length;
            return canon.ToKey(model, anchorEnd, boundaries, anchorEnd);
        }
    }

    /// <summary>
    /// Summarizes a /v1/completions body. A prompt in ChatML (<c>&lt;|im_start|&gt;role ... &lt;|im_end|&gt;</c>, what
    /// Qwen's template renders) is anchored like a chat at the end of its first non-system turn; any other prompt at
    /// its first <see cref="PrefixOptions.CompletionAnchorBytes"/> bytes, and any of its blocks is remembered: a prompt
    /// that grows (a client keeping its own history) follows the replica of its earlier, shorter form.
    /// </summary>
    public static PrefixKey? FromCompletionRequest(ReadOnlySpan<byte> json, PrefixOptions options)
    {
        if (!TryParse(json, out var doc)) return null;
        using (doc)
        {
            var root = doc!.RootElement;
            var canon = new CanonicalWriter();
            string? model = canon.Model(root);
            int start = canon.Length;
            string prompt = "";
            if (root.TryGetProperty("prompt", out var p))
            {
                // A batch of prompts routes by the first one; token-id prompts by their numbers' text.
                if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() > 0 && p[0].ValueKind is JsonValueKind.String or JsonValueKind.Array) p = p[0];
                prompt = p.ValueKind == JsonValueKind.String ? p.GetString()! : p.GetRawText();
            }
            canon.Text(prompt);
            int anchorEnd, affinityEnd;
            var boundaries = new List<int>();
            const string Open = "<|im_start|>", Close = "<|im_end|>";
            if (prompt.StartsWith(Open, StringComparison.Ordinal))
            {
                // Turns end after each <|im_end|>; the conversation's opening is its first non-system turn.
                int anchorChars = -1;
                for (int open = 0; open >= 0 && open < prompt.Length; open = prompt.IndexOf(Open, open + Open.Length, StringComparison.Ordinal))
                {
                    int close = prompt.IndexOf(Close, open, StringComparison.Ordinal);
                    if (close < 0) break;
                    int turnEnd = close + Close.Length;
                    boundaries.Add(start + Encoding.UTF8.GetByteCount(prompt.AsSpan(0, turnEnd)));
                    if (anchorChars < 0 && !prompt.AsSpan(open + Open.Length).StartsWith("system")) anchorChars = turnEnd;
                }
                if (anchorChars < 0) anchorChars = prompt.Length;
                anchorEnd = affinityEnd = start + Encoding.UTF8.GetByteCount(prompt.AsSpan(0, anchorChars));
            }
            else
            {
                anchorEnd = Math.Min(canon.Length, start + options.CompletionAnchorBytes);
                affinityEnd = start + 1;
                int block = Math.Max(1, options.BlockBytes);
                for (int end = block; end <= canon.Length; end += block) boundaries.Add(end);
            }
            return canon.ToKey(model, anchorEnd, boundaries, affinityEnd);
        }
    }

    static bool TryParse(ReadOnlySpan<byte> json, out JsonDocument? doc)
    {
        doc = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return true;
            doc.Dispose();
            doc = null;
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Builds the canonical bytes. Separators are ASCII control characters, which JSON text cannot hold raw.</summary>
    sealed class CanonicalWriter
    {
        readonly ArrayBufferWriter<byte> _buf = new(1024);

        public int Length => _buf.WrittenCount;

        public string? Model(JsonElement root)
        {
            string? model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            Text(model ?? "");
            Sep(0x1e);
            return model;
        }

        public void Text(string s) => Encoding.UTF8.GetBytes(s, _buf);

        void Sep(byte b) => _buf.Write([b]);

        public void Write(string tag, JsonElement value)
        {
            Text(tag);
            Sep(0x1f);
            using (var w = new Utf8JsonWriter(_buf, new JsonWriterOptions { SkipValidation = true })) value.WriteTo(w);
            Sep(0x1e);
        }

        /// <summary>What a chat template renders of a message: its role, text, tool calls (name and arguments).
        /// Ids and fields templates do not render (reasoning of earlier turns, refusal, name) are left out, so a
        /// client echoing the assistant's turn back with small differences still matches.</summary>
        public void Message(string role, JsonElement m)
        {
            Text(role);
            Sep(0x1f);
            if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("content", out var c)) Content(c);
            Sep(0x1f);
            if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
            {
                foreach (var call in calls.EnumerateArray())
                {
                    if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object) continue;
                    if (f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String) Text(n.GetString()!);
                    Sep(0x1d);
                    if (f.TryGetProperty("arguments", out var a)) Content(a);
                    Sep(0x1c);
                }
            }
            Sep(0x1e);
        }

        void Content(JsonElement c)
        {
            switch (c.ValueKind)
            {
                case JsonValueKind.String:
                    Text(c.GetString()!);
                    break;
                case JsonValueKind.Array:
                    foreach (var part in c.EnumerateArray())
                    {
                        if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String) Text(t.GetString()!);
                        else Write("part", part);
                    }
                    break;
                case JsonValueKind.Null:
                case JsonValueKind.Undefined:
                    break;
                default:
                    Write("value", c);
                    break;
            }
        }

        /// <summary>Hashes the canonical bytes at each boundary (ascending offsets) in one pass.</summary>
        public PrefixKey ToKey(string? model, int anchorEnd, List<int> boundaries, int affinityEnd)
        {
            var bytes = _buf.WrittenSpan;
            var hashes = new ulong[boundaries.Count];
            ulong h = PrefixHash.Seed;
            int done = 0, first = boundaries.Count;
            for (int i = 0; i < hashes.Length; i++)
            {
                int end = boundaries[i];
                hashes[i] = h = PrefixHash.Bytes(bytes[done..end], h);
                done = end;
                if (first == boundaries.Count && end >= affinityEnd) first = i;
            }
            ulong anchor = PrefixHash.Mix(PrefixHash.Bytes(bytes[..Math.Min(anchorEnd, bytes.Length)]));
            return new PrefixKey(model, anchor, hashes, first, bytes.Length);
        }
    }
}

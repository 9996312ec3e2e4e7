using System.Text.Json;
using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>What a tokenizer source (tokenizer.json or a GGUF vocabulary) defines: the BPE model and the added tokens.</summary>
internal sealed record TokenizerDefinition(BpeModel Model, IReadOnlyList<AddedToken> AddedTokens);

/// <summary>
/// Reads a Hugging Face tokenizer.json with a streaming JSON reader (the 151k-token vocabulary and its
/// merges load in tens of milliseconds). Only what Qwen's tokenizer uses is accepted: a BPE model, the NFC
/// normalizer, Qwen's Split regex + ByteLevel pre-tokenizer, the ByteLevel decoder; anything else is a
/// <see cref="NotSupportedException"/> that names the file and the field, never a silent approximation.
/// </summary>
internal static class TokenizerJson
{
    public static TokenizerDefinition Read(string path)
    {
        byte[] json;
        try { json = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(path, $"cannot read the tokenizer file: {e.Message}");
        }
        try
        {
            return Parse(json, path);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e) when (e.Source == "System.Text.Json")
        {
            throw new ModelFormatException(path, $"unexpected JSON value: {e.Message}");
        }
    }

    static TokenizerDefinition Parse(byte[] json, string path)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        Expect(ref reader, JsonTokenType.StartObject, path, "the top level");
        List<AddedToken> added = [];
        ModelParts? model = null;
        bool sawModel = false;
        while (Next(ref reader, path) != JsonTokenType.EndObject)
        {
            string name = reader.GetString()!;
            Next(ref reader, path);
            switch (name)
            {
                case "added_tokens":
                    using (var doc = JsonDocument.ParseValue(ref reader)) added = ReadAddedTokens(doc.RootElement, path);
                    break;
                case "normalizer":
                    using (var doc = JsonDocument.ParseValue(ref reader)) CheckNormalizer(doc.RootElement, path, "normalizer");
                    break;
                case "pre_tokenizer":
                    using (var doc = JsonDocument.ParseValue(ref reader)) CheckPreTokenizer(doc.RootElement, path);
                    break;
                case "post_processor":
                    using (var doc = JsonDocument.ParseValue(ref reader)) CheckByteLevelOrNull(doc.RootElement, path, "post_processor", allowNull: true);
                    break;
                case "decoder":
                    using (var doc = JsonDocument.ParseValue(ref reader)) CheckByteLevelOrNull(doc.RootElement, path, "decoder", allowNull: false);
                    break;
                case "truncation" or "padding":
                    if (reader.TokenType != JsonTokenType.Null)
                        throw Unsupported(path, name, "is set", "null (QwenSharp does not truncate or pad inside the tokenizer)");
                    break;
                case "model":
                    model = ReadModel(ref reader, path);
                    sawModel = true;
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (!sawModel || model == null) throw new ModelFormatException(path, "no 'model' field");
        return new TokenizerDefinition(model.Build(path), added);
    }

    // ---- model ----------------------------------------------------------------------------------

    /// <summary>The model's fields as read; merges seen before the vocabulary are kept as strings until it comes.</summary>
    sealed class ModelParts
    {
        public Dictionary<string, int>? Vocab;
        public MergeTable? Merges;
        public List<(string A, string B)>? PendingMerges;
        public bool IgnoreMerges;
        public string? UnkToken;
        public int MaxId = -1;

        public BpeModel Build(string path)
        {
            if (Vocab == null) throw new ModelFormatException(path, "model.vocab is missing");
            if (Merges == null && PendingMerges == null) throw new ModelFormatException(path, "model.merges is missing");
            if (PendingMerges != null)
            {
                Merges = new MergeTable(PendingMerges.Count);
                var lookup = Vocab.GetAlternateLookup<ReadOnlySpan<char>>();
                for (int i = 0; i < PendingMerges.Count; i++)
                {
                    var (a, b) = PendingMerges[i];
                    AddMerge(Merges, lookup, a, b, i, path);
                }
            }
            var idToToken = new string?[MaxId + 1];
            foreach (var (token, id) in Vocab)
            {
                if (idToToken[id] != null)
                    throw new ModelFormatException(path, $"model.vocab gives id {id} to both '{idToToken[id]}' and '{token}'");
                idToToken[id] = token;
            }
            var bpe = new BpeModel(Vocab, idToToken, Merges!, IgnoreMerges);
            if (UnkToken != null && !bpe.CoversAllBytes)
                throw Unsupported(path, "model.unk_token", $"is '{UnkToken}' and some bytes have no token", "null, or a vocabulary with all 256 byte tokens");
            return bpe;
        }
    }

    static ModelParts ReadModel(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(path, "'model' is not an object");
        var m = new ModelParts();
        string? type = null;
        char[] buf = new char[256];
        while (Next(ref reader, path) != JsonTokenType.EndObject)
        {
            string name = reader.GetString()!;
            Next(ref reader, path);
            switch (name)
            {
                case "type":
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    if (type != "BPE") throw Unsupported(path, "model.type", $"is '{type}'", "'BPE'");
                    break;
                case "dropout":
                    if (reader.TokenType != JsonTokenType.Null && !(reader.TokenType == JsonTokenType.Number && reader.GetDouble() == 0))
                        throw Unsupported(path, "model.dropout", "is set", "null (BPE dropout is random; inference needs exact ids)");
                    break;
                case "unk_token":
                    m.UnkToken = reader.TokenType == JsonTokenType.Null ? null : reader.GetString();
                    break;
                case "continuing_subword_prefix" or "end_of_word_suffix":
                    if (reader.TokenType != JsonTokenType.Null && reader.GetString() is { Length: > 0 } affix)
                        throw Unsupported(path, "model." + name, $"is '{affix}'", "null or empty");
                    break;
                case "byte_fallback":
                    if (reader.TokenType == JsonTokenType.True)
                        throw Unsupported(path, "model.byte_fallback", "is true", "false (byte-level BPE)");
                    break;
                case "ignore_merges":
                    m.IgnoreMerges = reader.TokenType == JsonTokenType.True;
                    break;
                case "vocab":
                    ReadVocab(ref reader, path, m);
                    break;
                case "merges":
                    ReadMerges(ref reader, path, m, ref buf);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (type == null) throw new ModelFormatException(path, "model.type is missing");
        return m;
    }

    static void ReadVocab(ref Utf8JsonReader reader, string path, ModelParts m)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(path, "model.vocab is not an object");
        var vocab = new Dictionary<string, int>(160_000, StringComparer.Ordinal);
        int maxId = -1;
        while (Next(ref reader, path) != JsonTokenType.EndObject)
        {
            string token = reader.GetString()!;
            Next(ref reader, path);
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0 || id >= 1 << 24)
                throw new ModelFormatException(path, $"model.vocab['{token}'] is not a token id (an integer from 0 to {(1 << 24) - 1})");
            if (!vocab.TryAdd(token, id)) throw new ModelFormatException(path, $"model.vocab lists '{token}' twice");
            if (id > maxId) maxId = id;
        }
        m.Vocab = vocab;
        m.MaxId = maxId;
    }

    static void ReadMerges(ref Utf8JsonReader reader, string path, ModelParts m, ref char[] buf)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new ModelFormatException(path, "model.merges is not an array");
        MergeTable? table = m.Vocab != null ? new MergeTable(m.Vocab.Count) : null;
        var lookup = m.Vocab?.GetAlternateLookup<ReadOnlySpan<char>>();
        List<(string, string)>? pending = table == null ? [] : null;
        int rank = 0;
        while (Next(ref reader, path) != JsonTokenType.EndArray)
        {
            int aLen, bLen;
            if (reader.TokenType == JsonTokenType.String)
            {
                // Legacy form "a b": exactly two parts separated by one space; "#version" lines are comments.
                int len = CopyString(ref reader, ref buf, 0);
                var s = buf.AsSpan(0, len);
                if (s.StartsWith("#version")) continue;
                int space = s.IndexOf(' ');
                if (space < 0 || s[(space + 1)..].Contains(' '))
                    throw new ModelFormatException(path, $"model.merges[{rank}] '{s}' is not two tokens separated by one space");
                aLen = space;
                // Lay the pair out as a, b, a+b in the buffer.
                bLen = len - space - 1;
                EnsureCapacity(ref buf, len + aLen + bLen);
                buf.AsSpan(space + 1, bLen).CopyTo(buf.AsSpan(aLen, bLen)); // b right after a
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                Next(ref reader, path);
                if (reader.TokenType != JsonTokenType.String) throw new ModelFormatException(path, $"model.merges[{rank}] is not a pair of strings");
                aLen = CopyString(ref reader, ref buf, 0);
                Next(ref reader, path);
                if (reader.TokenType != JsonTokenType.String) throw new ModelFormatException(path, $"model.merges[{rank}] is not a pair of strings");
                bLen = CopyString(ref reader, ref buf, aLen);
                if (Next(ref reader, path) != JsonTokenType.EndArray) throw new ModelFormatException(path, $"model.merges[{rank}] has more than two strings");
            }
            else throw new ModelFormatException(path, $"model.merges[{rank}] is neither a string nor a pair of strings");

            var a = buf.AsSpan(0, aLen);
            var b = buf.AsSpan(aLen, bLen);
            if (table != null) AddMerge(table, lookup!.Value, a, b, rank, path);
            else pending!.Add((a.ToString(), b.ToString()));
            rank++;
        }
        m.Merges = table;
        m.PendingMerges = pending;
    }

    /// <summary>Adds merge (a, b) with its rank; a, b and a+b must all be tokens.</summary>
    internal static void AddMerge(MergeTable table, Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup,
        ReadOnlySpan<char> a, ReadOnlySpan<char> b, int rank, string path, string field = "model.merges")
    {
        if (!lookup.TryGetValue(a, out int ia)) throw new ModelFormatException(path, $"{field}[{rank}]: '{a}' is not in the vocabulary");
        if (!lookup.TryGetValue(b, out int ib)) throw new ModelFormatException(path, $"{field}[{rank}]: '{b}' is not in the vocabulary");
        Span<char> joined = a.Length + b.Length <= 512 ? stackalloc char[a.Length + b.Length] : new char[a.Length + b.Length];
        a.CopyTo(joined);
        b.CopyTo(joined[a.Length..]);
        if (!lookup.TryGetValue(joined, out int merged))
            throw new ModelFormatException(path, $"{field}[{rank}]: the merged token '{joined}' is not in the vocabulary");
        table.Add(ia, ib, rank, merged);
    }

    static int CopyString(ref Utf8JsonReader reader, ref char[] buf, int offset)
    {
        int max = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        EnsureCapacity(ref buf, offset + max);
        return reader.CopyString(buf.AsSpan(offset));
    }

    static void EnsureCapacity(ref char[] buf, int n)
    {
        if (buf.Length < n) Array.Resize(ref buf, Math.Max(n, buf.Length * 2));
    }

    // ---- added tokens ---------------------------------------------------------------------------

    static List<AddedToken> ReadAddedTokens(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return [];
        if (e.ValueKind != JsonValueKind.Array) throw new ModelFormatException(path, "added_tokens is not an array");
        var list = new List<AddedToken>();
        int i = 0;
        foreach (var t in e.EnumerateArray())
        {
            string where = $"added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, $"{where} is not an object");
            if (!t.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id) || id < 0 || id >= 1 << 24)
                throw new ModelFormatException(path, $"{where}.id is missing or not a token id");
            if (!t.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(path, $"{where}.content is missing or not a string");
            list.Add(new AddedToken(id, c.GetString()!,
                Special: Flag(t, "special", false, path, where),
                Normalized: Flag(t, "normalized", true, path, where),
                LStrip: Flag(t, "lstrip", false, path, where),
                RStrip: Flag(t, "rstrip", false, path, where),
                SingleWord: Flag(t, "single_word", false, path, where)));
        }
        return list;
    }

    static bool Flag(JsonElement t, string name, bool dflt, string path, string where)
    {
        if (!t.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return dflt;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException(path, $"{where}.{name} is not a boolean"),
        };
    }

    // ---- normalizer, pre-tokenizer, decoder -----------------------------------------------------

    static void CheckNormalizer(JsonElement e, string path, string field)
    {
        if (e.ValueKind == JsonValueKind.Null) return;
        string type = TypeOf(e, path, field);
        if (type == "NFC") return;
        if (type == "Sequence" && e.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            // Only a sequence of NFCs (NFC is idempotent, so any number of them is NFC).
            int i = 0;
            foreach (var n in list.EnumerateArray()) CheckNormalizer(n, path, $"{field}.normalizers[{i++}]");
            return;
        }
        throw Unsupported(path, field + ".type", $"is '{type}'", "'NFC' or null");
    }

    static void CheckPreTokenizer(JsonElement e, string path)
    {
        const string expected = "Sequence [Split (Qwen's regex, Isolated), ByteLevel (add_prefix_space false, use_regex false)]";
        if (e.ValueKind == JsonValueKind.Null) throw Unsupported(path, "pre_tokenizer", "is null", expected);
        string type = TypeOf(e, path, "pre_tokenizer");
        if (type != "Sequence") throw Unsupported(path, "pre_tokenizer.type", $"is '{type}'", expected);
        if (!e.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(path, "pre_tokenizer.pretokenizers is missing or not an array");
        var items = list.EnumerateArray().ToArray();
        if (items.Length != 2) throw Unsupported(path, "pre_tokenizer.pretokenizers", $"has {items.Length} entries", expected);

        var split = items[0];
        string t0 = TypeOf(split, path, "pre_tokenizer.pretokenizers[0]");
        if (t0 != "Split") throw Unsupported(path, "pre_tokenizer.pretokenizers[0].type", $"is '{t0}'", expected);
        string? regex = split.TryGetProperty("pattern", out var pat) && pat.ValueKind == JsonValueKind.Object
            && pat.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        if (regex != QwenPreTokenizer.Pattern)
            throw Unsupported(path, "pre_tokenizer.pretokenizers[0].pattern.Regex",
                regex == null ? "is missing (or a String pattern)" : $"is '{regex}'", $"Qwen's regex '{QwenPreTokenizer.Pattern}'");
        string? behavior = split.TryGetProperty("behavior", out var be) ? be.GetString() : null;
        if (behavior != "Isolated") throw Unsupported(path, "pre_tokenizer.pretokenizers[0].behavior", $"is '{behavior}'", "'Isolated'");
        if (split.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True)
            throw Unsupported(path, "pre_tokenizer.pretokenizers[0].invert", "is true", "false");

        var bl = items[1];
        string t1 = TypeOf(bl, path, "pre_tokenizer.pretokenizers[1]");
        if (t1 != "ByteLevel") throw Unsupported(path, "pre_tokenizer.pretokenizers[1].type", $"is '{t1}'", expected);
        if (bl.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
            throw Unsupported(path, "pre_tokenizer.pretokenizers[1].add_prefix_space", "is true", "false");
        if (bl.TryGetProperty("use_regex", out var ur) && ur.ValueKind != JsonValueKind.False)
            throw Unsupported(path, "pre_tokenizer.pretokenizers[1].use_regex", "is not false", "false (Qwen splits with its own regex first)");
    }

    static void CheckByteLevelOrNull(JsonElement e, string path, string field, bool allowNull)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            if (allowNull) return;
            throw Unsupported(path, field, "is null", "'ByteLevel'");
        }
        string type = TypeOf(e, path, field);
        if (type != "ByteLevel") throw Unsupported(path, field + ".type", $"is '{type}'", allowNull ? "'ByteLevel' or null" : "'ByteLevel'");
    }

    static string TypeOf(JsonElement e, string path, string field)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, $"{field} is not an object");
        if (!e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(path, $"{field}.type is missing");
        return t.GetString()!;
    }

    static NotSupportedException Unsupported(string path, string field, string what, string supported) =>
        new($"{path}: field '{field}' {what}; QwenSharp's tokenizer supports only {supported}");

    // ---- reader helpers -------------------------------------------------------------------------

    static JsonTokenType Next(ref Utf8JsonReader reader, string path)
    {
        if (!reader.Read()) throw new ModelFormatException(path, "unexpected end of the JSON (the file may be truncated)");
        return reader.TokenType;
    }

    static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string path, string what)
    {
        if (Next(ref reader, path) != type) throw new ModelFormatException(path, $"{what} is not a JSON {type}");
    }
}

using System.Runtime.CompilerServices;
using System.Text.Json;
using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

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
                    model = ReadModel(ref reader, path, Math.Clamp(json.Length / 75, 1024, 1 << 20));
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

    /// <summary>The model's fields as read; merges seen before the vocabulary are kept as bytes until it comes.</summary>
    sealed class ModelParts
    {
        public Utf8TokenTable? Table;
        public string?[]? IdToToken;
        public MergeTable? Merges;
        public List<(byte[] A, byte[] B)>? PendingMerges;
        public bool IgnoreMerges;
        public string? UnkToken;
        public int SizeHint = 1024;

        public BpeModel Build(string path)
        {
            if (Table == null || IdToToken == null) throw new ModelFormatException(path, "model.vocab is missing");
            if (Merges == null && PendingMerges == null) throw new ModelFormatException(path, "model.merges is missing");
            if (PendingMerges != null)
            {
                Merges = new MergeTable(PendingMerges.Count);
                var join = new byte[256];
                for (int i = 0; i < PendingMerges.Count; i++)
                {
                    var (a, b) = PendingMerges[i];
                    if (join.Length < a.Length + b.Length) join = new byte[a.Length + b.Length];
                    a.CopyTo(join, 0);
                    b.CopyTo(join, a.Length);
                    AddMerge(Merges, Table, join, a.Length, b.Length, i, path);
                }
            }
            var bpe = new BpeModel(IdToToken, Merges!, IgnoreMerges);
            if (UnkToken != null && !bpe.CoversAllBytes)
                throw Unsupported(path, "model.unk_token", $"is '{UnkToken}' and some bytes have no token", "null, or a vocabulary with all 256 byte tokens");
            return bpe;
        }
    }

    static ModelParts ReadModel(ref Utf8JsonReader reader, string path, int sizeHint)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(path, "'model' is not an object");
        var m = new ModelParts { SizeHint = sizeHint };
        string? type = null;
        byte[] buf = new byte[256];
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

    static readonly System.Text.UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    static void ReadVocab(ref Utf8JsonReader reader, string path, ModelParts m)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelFormatException(path, "model.vocab is not an object");
        int hint = m.SizeHint;
        var table = new Utf8TokenTable(hint);
        var tokens = new List<(string Token, int Id)>(hint);
        byte[] buf = new byte[256];
        int maxId = -1;
        while (Next(ref reader, path) != JsonTokenType.EndObject)
        {
            int len = CopyBytes(ref reader, ref buf, 0);
            var key = buf.AsSpan(0, len);
            string token;
            try { token = StrictUtf8.GetString(key); }
            catch (System.Text.DecoderFallbackException) { throw new ModelFormatException(path, $"model.vocab entry {tokens.Count} is not valid UTF-8"); }
            Next(ref reader, path);
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0 || id >= 1 << 24)
                throw new ModelFormatException(path, $"model.vocab['{token}'] is not a token id (an integer from 0 to {(1 << 24) - 1})");
            if (!table.Add(key, id)) throw new ModelFormatException(path, $"model.vocab lists '{token}' twice");
            tokens.Add((token, id));
            if (id > maxId) maxId = id;
        }
        var idToToken = new string?[maxId + 1];
        foreach (var (token, id) in tokens)
        {
            if (idToToken[id] != null)
                throw new ModelFormatException(path, $"model.vocab gives id {id} to both '{idToToken[id]}' and '{token}'");
            idToToken[id] = token;
        }
        m.Table = table;
        m.IdToToken = idToToken;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    static void ReadMerges(ref Utf8JsonReader reader, string path, ModelParts m, ref byte[] buf)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new ModelFormatException(path, "model.merges is not an array");
        MergeTable? table = m.Table != null ? new MergeTable(m.Table.Count) : null;
        List<(byte[], byte[])>? pending = table == null ? [] : null;
        int rank = 0;
        while (Next(ref reader, path) != JsonTokenType.EndArray)
        {
            // Lay each pair out in buf as a, then b right after it: a+b is then buf[..aLen+bLen].
            int aLen, bLen;
            if (reader.TokenType == JsonTokenType.String)
            {
                // Legacy form "a b": exactly two parts separated by one space; "#version" lines are comments.
                int len = CopyBytes(ref reader, ref buf, 0);
                var s = buf.AsSpan(0, len);
                if (s.StartsWith("#version"u8)) continue;
                int space = s.IndexOf((byte)' ');
                if (space < 0 || s[(space + 1)..].Contains((byte)' '))
                    throw new ModelFormatException(path, $"model.merges[{rank}] '{System.Text.Encoding.UTF8.GetString(s)}' is not two tokens separated by one space");
                aLen = space;
                bLen = len - space - 1;
                s.Slice(space + 1, bLen).CopyTo(buf.AsSpan(aLen));
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                if (Next(ref reader, path) != JsonTokenType.String) throw new ModelFormatException(path, $"model.merges[{rank}] is not a pair of strings");
                aLen = CopyBytes(ref reader, ref buf, 0);
                if (Next(ref reader, path) != JsonTokenType.String) throw new ModelFormatException(path, $"model.merges[{rank}] is not a pair of strings");
                bLen = CopyBytes(ref reader, ref buf, aLen);
                if (Next(ref reader, path) != JsonTokenType.EndArray) throw new ModelFormatException(path, $"model.merges[{rank}] has more than two strings");
            }
            else throw new ModelFormatException(path, $"model.merges[{rank}] is neither a string nor a pair of strings");

            if (table != null) AddMerge(table, m.Table!, buf, aLen, bLen, rank, path);
            else pending!.Add((buf.AsSpan(0, aLen).ToArray(), buf.AsSpan(aLen, bLen).ToArray()));
            rank++;
        }
        m.Merges = table;
        m.PendingMerges = pending;
    }

    /// <summary>Adds merge (a, b) with its rank, a and b being laid out one after the other in <paramref name="pair"/>;
    /// a, b and a+b must all be tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    static void AddMerge(MergeTable table, Utf8TokenTable vocab, byte[] pair, int aLen, int bLen, int rank, string path)
    {
        int ia = vocab.Find(pair.AsSpan(0, aLen));
        int ib = vocab.Find(pair.AsSpan(aLen, bLen));
        int merged = vocab.Find(pair.AsSpan(0, aLen + bLen));
        if (ia < 0 || ib < 0 || merged < 0)
        {
            string a = System.Text.Encoding.UTF8.GetString(pair, 0, aLen), b = System.Text.Encoding.UTF8.GetString(pair, aLen, bLen);
            string missing = ia < 0 ? $"'{a}'" : ib < 0 ? $"'{b}'" : $"the merged token '{a + b}'";
            throw new ModelFormatException(path, $"model.merges[{rank}]: {missing} is not in the vocabulary");
        }
        table.Add(ia, ib, rank, merged);
    }

    /// <summary>Adds merge (a, b) with its rank; a, b and a+b must all be tokens (string form, for GGUF vocabularies).</summary>
    internal static void AddMerge(MergeTable table, Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup,
        ReadOnlySpan<char> a, ReadOnlySpan<char> b, int rank, string path, string field)
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

    /// <summary>Copies the current string's UTF-8 bytes (unescaped) to buf at offset; returns their count.</summary>
    static int CopyBytes(ref Utf8JsonReader reader, ref byte[] buf, int offset)
    {
        var raw = reader.ValueSpan; // the input is one array, so never a sequence
        if (buf.Length < offset + raw.Length) Array.Resize(ref buf, Math.Max(buf.Length * 2, offset + raw.Length));
        if (!reader.ValueIsEscaped)
        {
            raw.CopyTo(buf.AsSpan(offset));
            return raw.Length;
        }
        return reader.CopyString(buf.AsSpan(offset)); // unescaped is never longer than escaped
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

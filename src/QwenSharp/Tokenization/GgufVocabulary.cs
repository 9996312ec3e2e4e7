using System.Runtime.CompilerServices;
using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>
/// Reads the tokenizer that llama.cpp's converter stores in a GGUF: <c>tokenizer.ggml.model</c> = gpt2,
/// <c>tokenizer.ggml.pre</c> = qwen2, <c>tokens</c> (index = id), <c>token_type</c>, <c>merges</c> ("a b", in rank order).
/// Token types: 1 normal (and 2 unknown, 6 byte) → BPE vocabulary; 3 control → added token, special;
/// 4 user-defined → added token, not special; 5 unused (the [PAD] rows that pad the vocabulary) → left out.
/// The converter marks as control every token that is special in tokenizer.json and also every
/// <c>&lt;|...|&gt;</c> token, so <c>&lt;|fim_prefix|&gt;</c> etc. are special here though not in tokenizer.json;
/// encoding with special tokens parsed gives the same ids either way.
/// </summary>
internal static class GgufVocabulary
{
    public const int TypeNormal = 1, TypeUnknown = 2, TypeControl = 3, TypeUserDefined = 4, TypeUnused = 5, TypeByte = 6;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per load: skip tier-0 code
    public static TokenizerDefinition Read(GgufFile gguf, out TokenizerConfig config, out int? bosId, out int? eosId, out int? padId)
    {
        string path = gguf.Path;
        string? model = gguf.GetString("tokenizer.ggml.model");
        if (model == null) throw new ModelFormatException(path, "no tokenizer in this GGUF (metadata 'tokenizer.ggml.model' is missing)");
        if (model != "gpt2")
            throw new NotSupportedException($"{path}: field 'tokenizer.ggml.model' is '{model}'; QwenSharp's tokenizer supports only 'gpt2' (byte-level BPE)");
        string? pre = gguf.GetString("tokenizer.ggml.pre");
        if (pre != "qwen2")
            throw new NotSupportedException($"{path}: field 'tokenizer.ggml.pre' is {(pre == null ? "missing" : $"'{pre}'")}; QwenSharp's tokenizer supports only 'qwen2' (Qwen's pre-tokenizer regex)");
        var tokens = gguf.GetArray<string>("tokenizer.ggml.tokens") ?? throw new ModelFormatException(path, "metadata 'tokenizer.ggml.tokens' is missing");
        var merges = gguf.GetArray<string>("tokenizer.ggml.merges") ?? throw new ModelFormatException(path, "metadata 'tokenizer.ggml.merges' is missing");
        int[]? types = null;
        if (gguf.Metadata.TryGetValue("tokenizer.ggml.token_type", out var tt))
        {
            types = tt switch
            {
                int[] a => a,
                uint[] u => Array.ConvertAll(u, x => (int)x),
                _ => throw new ModelFormatException(path, $"metadata 'tokenizer.ggml.token_type' is {GgufFile.DescribeValue(tt)}, expected an array of integers"),
            };
            if (types.Length != tokens.Length)
                throw new ModelFormatException(path, $"metadata 'tokenizer.ggml.token_type' has {types.Length} entries for {tokens.Length} tokens");
        }

        var vocab = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        var added = new List<AddedToken>();
        int maxModelId = -1;
        for (int id = 0; id < tokens.Length; id++)
        {
            int type = types?[id] ?? TypeNormal;
            switch (type)
            {
                case TypeNormal or TypeUnknown or TypeByte:
                    vocab[tokens[id]] = id; // as llama.cpp: of two equal strings the later id wins the lookup
                    maxModelId = id;
                    break;
                case TypeControl:
                    added.Add(new AddedToken(id, tokens[id], Special: true));
                    break;
                case TypeUserDefined:
                    added.Add(new AddedToken(id, tokens[id], Special: false));
                    break;
                case TypeUnused:
                    break;
                default:
                    throw new ModelFormatException(path, $"metadata 'tokenizer.ggml.token_type'[{id}] is {type} (known types are 1 to 6)");
            }
        }
        var idToToken = new string?[maxModelId + 1];
        for (int id = 0; id <= maxModelId; id++)
        {
            int type = types?[id] ?? TypeNormal;
            if (type is TypeNormal or TypeUnknown or TypeByte) idToToken[id] = tokens[id];
        }

        var table = new MergeTable(merges.Length);
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int rank = 0; rank < merges.Length; rank++)
        {
            string m = merges[rank];
            int space = m.IndexOf(' ', Math.Min(1, m.Length));
            if (space < 0) throw new ModelFormatException(path, $"metadata 'tokenizer.ggml.merges'[{rank}] '{m}' is not two tokens separated by a space");
            TokenizerJson.AddMerge(table, lookup, m.AsSpan(0, space), m.AsSpan(space + 1), rank, path, "metadata 'tokenizer.ggml.merges'");
        }

        config = new TokenizerConfig();
        string? template = gguf.GetString("tokenizer.chat_template");
        if (template != null) config.ChatTemplates["default"] = template;
        foreach (var (key, value) in gguf.Metadata)
            if (key.StartsWith("tokenizer.chat_template.", StringComparison.Ordinal) && value is string named)
                config.ChatTemplates[key["tokenizer.chat_template.".Length..]] = named;
        config.ChatTemplate = template;

        bosId = Id(gguf, "tokenizer.ggml.bos_token_id", tokens.Length);
        eosId = Id(gguf, "tokenizer.ggml.eos_token_id", tokens.Length);
        padId = Id(gguf, "tokenizer.ggml.padding_token_id", tokens.Length);
        foreach (var key in new[] { "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" })
            if (Id(gguf, key, tokens.Length) is int id && !config.GenerationEosIds.Contains(id)) config.GenerationEosIds.Add(id);

        return new TokenizerDefinition(new BpeModel(idToToken, table, ignoreMerges: false, vocab), added);
    }

    static int? Id(GgufFile gguf, string key, int count)
    {
        long? v = gguf.GetInteger(key);
        if (v == null || v == -1 || v == uint.MaxValue) return null; // "none" as some converters write it
        if (v < 0 || v >= count) throw new ModelFormatException(gguf.Path, $"metadata '{key}' is {v}, not a token id (0 to {count - 1})");
        return (int)v;
    }
}

using System.Text;
using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>
/// The Qwen2 / Qwen2.5 / Qwen3 tokenizer, giving exactly the ids of Hugging Face's tokenizer
/// (<c>Qwen2TokenizerFast</c>): added tokens cut out first (leftmost-longest), NFC on the rest, Qwen's
/// pre-tokenizer regex, byte-level BPE. Loads from a Hugging Face folder (tokenizer.json) or from the
/// vocabulary in a GGUF. Thread-safe: one instance can encode and decode on many threads at once.
/// </summary>
public sealed class QwenTokenizer
{
    readonly BpeModel _model;
    readonly AddedToken?[] _addedById;
    readonly string?[] _decodeContent; // what an added token decodes as (its content, NFC'd when normalized)
    readonly Dictionary<string, int> _addedByContent;
    readonly AddedVocabulary _rawAdded, _normalizedAdded;

    /// <summary>Where the tokenizer came from (tokenizer.json or GGUF path), for messages.</summary>
    public string Source { get; }
    /// <summary>Number of ids: one more than the highest id of the vocabulary and the added tokens (151,669 for Qwen3).</summary>
    public int VocabSize { get; }
    /// <summary>Added tokens, by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    public string? BosToken { get; }
    public string? EosToken { get; }
    public string? PadToken { get; }
    /// <summary>tokenizer_config.json's bos_token (null for Qwen, which adds no BOS), or a GGUF's bos_token_id.</summary>
    public int? BosTokenId { get; }
    /// <summary>tokenizer_config.json's eos_token (<c>&lt;|im_end|&gt;</c> for instruct models), or a GGUF's eos_token_id.</summary>
    public int? EosTokenId { get; }
    public int? PadTokenId { get; }
    /// <summary>Every id that ends generation: generation_config.json's eos_token_id (an int or a list) then
    /// tokenizer_config.json's eos_token; from a GGUF, eos_token_id then eot_token_id and eom_token_id when present.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>The chat template: tokenizer_config.json's chat_template (the "default" one when it is a list), else
    /// chat_template.jinja in the folder; from a GGUF, tokenizer.chat_template.</summary>
    public string? ChatTemplate { get; }
    /// <summary>All named chat templates (e.g. "default", "tool_use").</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; }

    QwenTokenizer(TokenizerDefinition def, string source, TokenizerConfig config, int? bosId, int? eosId, int? padId)
    {
        if (!NfcNormalizer.IsAvailable)
            throw new NotSupportedException($"{source}: Qwen's tokenizer normalizes text to NFC, and Unicode normalization is not available in this process (globalization-invariant mode); run with InvariantGlobalization=false");
        _model = def.Model;
        Source = source;
        int size = _model.IdToToken.Length;
        var byId = new SortedDictionary<int, AddedToken>();
        foreach (var t in def.AddedTokens)
        {
            if (t.Content.Length == 0) continue; // Hugging Face ignores empty added tokens
            byId[t.Id] = t; // a later entry for the same id replaces the earlier one
            size = Math.Max(size, t.Id + 1);
        }
        VocabSize = size;
        AddedTokens = byId.Values.ToArray();
        _addedById = new AddedToken?[size];
        _decodeContent = new string?[size];
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in AddedTokens)
        {
            _addedById[t.Id] = t;
            _decodeContent[t.Id] = t.Normalized ? NfcNormalizer.Normalize(t.Content).ToString() : t.Content;
            _addedByContent[t.Content] = t.Id;
        }
        _rawAdded = new AddedVocabulary(AddedTokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedAdded = new AddedVocabulary(AddedTokens.Where(t => t.Normalized).Select(t => (_decodeContent[t.Id]!, t)));

        ChatTemplates = config.ChatTemplates;
        ChatTemplate = config.ChatTemplate;
        BosToken = config.BosToken ?? (bosId is int b ? IdToTokenOrNull(b) : null);
        EosToken = config.EosToken ?? (eosId is int e ? IdToTokenOrNull(e) : null);
        PadToken = config.PadToken ?? (padId is int p ? IdToTokenOrNull(p) : null);
        BosTokenId = bosId ?? (BosToken != null ? TokenToId(BosToken) : null);
        EosTokenId = eosId ?? (EosToken != null ? TokenToId(EosToken) : null);
        PadTokenId = padId ?? (PadToken != null ? TokenToId(PadToken) : null);
        var eos = new List<int>(config.GenerationEosIds);
        if (EosTokenId is int eid && !eos.Contains(eid)) eos.Add(eid);
        EosTokenIds = eos;
    }

    // ---- loading --------------------------------------------------------------------------------

    /// <summary>Loads a Hugging Face model folder: tokenizer.json, plus tokenizer_config.json, generation_config.json
    /// and chat_template.jinja when present.</summary>
    public static QwenTokenizer FromDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: no such folder");
        string json = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(json)) throw new FileNotFoundException($"{dir}: no tokenizer.json in this folder", json);
        string? Opt(string name) => File.Exists(Path.Combine(dir, name)) ? Path.Combine(dir, name) : null;
        var tok = Load(json, Opt("tokenizer_config.json"), Opt("generation_config.json"), Opt("chat_template.jinja"));
        return tok;
    }

    /// <summary>Loads tokenizer.json, with the BOS/EOS/PAD tokens and chat template of tokenizer_config.json and the
    /// end-of-generation ids of generation_config.json when given.</summary>
    public static QwenTokenizer FromTokenizerJson(string tokenizerJsonPath, string? tokenizerConfigPath = null, string? generationConfigPath = null) =>
        Load(tokenizerJsonPath, tokenizerConfigPath, generationConfigPath, null);

    static QwenTokenizer Load(string json, string? tokenizerConfig, string? generationConfig, string? jinja)
    {
        if (!File.Exists(json)) throw new FileNotFoundException($"{json}: no such file", json);
        var def = TokenizerJson.Read(json);
        var config = new TokenizerConfig();
        if (tokenizerConfig != null) TokenizerConfig.ReadTokenizerConfig(tokenizerConfig, config);
        if (generationConfig != null) TokenizerConfig.ReadGenerationConfig(generationConfig, config);
        if (config.ChatTemplate == null && jinja != null)
        {
            config.ChatTemplate = File.ReadAllText(jinja);
            config.ChatTemplates["default"] = config.ChatTemplate;
        }
        return new QwenTokenizer(def, json, config, null, null, null);
    }

    /// <summary>Loads the tokenizer stored in a GGUF's <c>tokenizer.ggml.*</c> metadata.</summary>
    public static QwenTokenizer FromGguf(GgufFile gguf)
    {
        var def = GgufVocabulary.Read(gguf, out var config, out int? bos, out int? eos, out int? pad);
        return new QwenTokenizer(def, gguf.Path, config, bos, eos, pad);
    }

    // ---- vocabulary -----------------------------------------------------------------------------

    /// <summary>The id of a token string (an added token's content or a byte-level vocabulary string such as "Ġthe"), or null.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out int id)) return id;
        return _model.Vocab.TryGetValue(token, out id) ? id : null;
    }

    /// <summary>The token string of an id (byte-level form for vocabulary tokens, e.g. "Ġthe").</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in the vocabulary.</exception>
    public string IdToToken(int id) =>
        IdToTokenOrNull(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in the vocabulary of {Source} (0 to {VocabSize - 1})");

    string? IdToTokenOrNull(int id)
    {
        if ((uint)id >= (uint)VocabSize) return null;
        return _addedById[id]?.Content ?? (id < _model.IdToToken.Length ? _model.IdToToken[id] : null);
    }

    /// <summary>True for added tokens marked special (<c>&lt;|im_start|&gt;</c>, <c>&lt;|endoftext|&gt;</c>...); false for
    /// <c>&lt;think&gt;</c>, <c>&lt;tool_call&gt;</c> and other non-special added tokens, and for vocabulary tokens.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)VocabSize && _addedById[id] is { Special: true };

    // ---- encoding -------------------------------------------------------------------------------

    /// <summary>Encodes text to ids. No BOS/EOS is added (Qwen adds none).</summary>
    /// <param name="text">The text. Lone surrogates are read as U+FFFD, as its UTF-8 form has them.</param>
    /// <param name="parseSpecialTokens">True: special added tokens in the text become their ids. False: they are
    /// plain text (Hugging Face's <c>split_special_tokens</c>), so user content cannot inject <c>&lt;|im_start|&gt;</c>;
    /// non-special added tokens (<c>&lt;think&gt;</c>, <c>&lt;tool_call&gt;</c>) are still recognized, as in Hugging Face.</param>
    public int[] Encode(string text, bool parseSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scratch = EncoderScratch.Current;
        var ids = scratch.Ids;
        ids.Clear();
        Encode(text.AsSpan(), ids, parseSpecialTokens);
        var result = ids.ToArray();
        if (ids.Capacity > EncoderScratch.RetainLimit) { ids.Clear(); ids.Capacity = 1024; }
        return result;
    }

    /// <summary>Encodes text, appending the ids to <paramref name="ids"/> (no other allocation once the caches are warm).</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> ids, bool parseSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (text.IsEmpty) return;
        if (text.ContainsAnyInRange('\uD800', '\uDFFF') && HasLoneSurrogate(text)) text = ReplaceLoneSurrogates(text);
        var scratch = EncoderScratch.Current;
        if (_rawAdded.IsEmpty)
        {
            EncodeText(text, ids, parseSpecialTokens, scratch);
            return;
        }
        var segments = scratch.Segments;
        segments.Clear();
        _rawAdded.FindMatches(text, !parseSpecialTokens, segments);
        for (int i = 0; i < segments.Count; i++)
        {
            var seg = segments[i];
            if (seg.Token != null) ids.Add(seg.Token.Id);
            else EncodeText(text[seg.Start..seg.End], ids, parseSpecialTokens, scratch);
        }
        if (segments.Capacity > EncoderScratch.RetainLimit) scratch.Segments = new();
    }

    /// <summary>
    /// Encodes text with no added token recognized at all, special or not: every character is text
    /// (NFC, the Qwen pre-tokenizer and BPE). For message content that must not produce control tokens.
    /// </summary>
    public void EncodeAsText(ReadOnlySpan<char> text, List<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (text.IsEmpty) return;
        if (text.ContainsAnyInRange('\uD800', '\uDFFF')) text = ReplaceLoneSurrogates(text);
        EncodePreTokens(NfcNormalizer.Normalize(text), ids, EncoderScratch.Current);
    }

    /// <summary>A stretch of text between raw added tokens: NFC, then normalized added tokens, then pre-tokens and BPE.</summary>
    void EncodeText(ReadOnlySpan<char> text, List<int> ids, bool parseSpecialTokens, EncoderScratch scratch)
    {
        var normalized = NfcNormalizer.Normalize(text);
        if (_normalizedAdded.IsEmpty)
        {
            EncodePreTokens(normalized, ids, scratch);
            return;
        }
        var segments = new List<Segment>();
        _normalizedAdded.FindMatches(normalized, !parseSpecialTokens, segments);
        foreach (var seg in segments)
        {
            if (seg.Token != null) ids.Add(seg.Token.Id);
            else EncodePreTokens(normalized[seg.Start..seg.End], ids, scratch);
        }
    }

    void EncodePreTokens(ReadOnlySpan<char> text, List<int> ids, EncoderScratch scratch)
    {
        int i = 0;
        while (i < text.Length)
        {
            int end = QwenPreTokenizer.NextEnd(text, i);
            _model.Tokenize(text[i..end], ids, scratch);
            i = end;
        }
    }

    static bool HasLoneSurrogate(ReadOnlySpan<char> text)
    {
        for (int i = text.IndexOfAnyInRange('\uD800', '\uDFFF'); i >= 0 && i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            return true;
        }
        return false;
    }

    static string ReplaceLoneSurrogates(ReadOnlySpan<char> text)
    {
        var chars = text.ToArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    // ---- decoding -------------------------------------------------------------------------------

    [ThreadStatic] static ByteBuffer? _decodeBuffer;

    /// <summary>Decodes ids to text as Hugging Face does: the bytes of every token, then UTF-8 with each invalid
    /// sequence as U+FFFD. Ids that are not in the vocabulary are skipped (as Hugging Face skips them).</summary>
    /// <param name="ids">The token ids.</param>
    /// <param name="skipSpecialTokens">Leave out special added tokens (<c>&lt;think&gt;</c> and other non-special ones stay).</param>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var buf = _decodeBuffer ??= new ByteBuffer();
        buf.Clear();
        foreach (int id in ids) AppendTokenBytes(id, skipSpecialTokens, buf);
        var s = Encoding.UTF8.GetString(buf.Span);
        if (buf.Length > EncoderScratch.RetainLimit) _decodeBuffer = null;
        return s;
    }

    /// <summary>A decoder for streaming: feed ids one at a time and get text as soon as it is complete UTF-8.</summary>
    public IncrementalDecoder CreateIncrementalDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>Appends the bytes of one token; false when it is skipped (special and skipped, or unknown).</summary>
    internal bool AppendTokenBytes(int id, bool skipSpecialTokens, ByteBuffer output)
    {
        if ((uint)id >= (uint)VocabSize) return false;
        var added = _addedById[id];
        if (added != null)
        {
            if (skipSpecialTokens && added.Special) return false;
            ByteLevel.AppendTokenBytes(_decodeContent[id]!, output);
            return true;
        }
        string? token = id < _model.IdToToken.Length ? _model.IdToToken[id] : null;
        if (token == null) return false;
        ByteLevel.AppendTokenBytes(token, output);
        return true;
    }

    internal BpeModel Model => _model;
}

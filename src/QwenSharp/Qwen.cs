using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Formats;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Templates;
using QwenSharp.Tokenization;

namespace QwenSharp;

/// <summary>How to load a model for generation.</summary>
public sealed record QwenOptions
{
    public ModelLoadOptions Load { get; init; } = new();
    public EngineOptions Engine { get; init; } = new();
    /// <summary>A chat template to use instead of the model's own (Jinja source).</summary>
    public string? ChatTemplateOverride { get; init; }
}

/// <summary>
/// A loaded Qwen model ready to chat: the weights, its tokenizer, its own chat template, its generation
/// defaults, and the engine that runs requests (continuous batching, so one instance serves many callers).
/// <code>
/// using var qwen = Qwen.Load("path/to/Qwen3-0.6B");          // a Hugging Face folder or a .gguf file
/// var answer = await qwen.ChatAsync("Why is the sky blue?");
/// Console.WriteLine(answer.Text);
/// </code>
/// </summary>
public sealed class Qwen : IDisposable
{
    /// <summary>Text injected when a thinking budget is spent (from Qwen's documentation).</summary>
    public const string ThinkingBudgetEndText = "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking directly now.\n</think>\n\n";

    public QwenModel Model { get; }
    public QwenTokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public GenerationConfig GenerationConfig { get; }
    public InferenceEngine Engine { get; }
    public PromptEncoder Prompts { get; }
    /// <summary>Token ids that end generation (generation_config.json's eos_token_id and the tokenizer's).</summary>
    public IReadOnlyCollection<int> EosTokenIds { get; }
    /// <summary>A short name for the model (folder or file name).</summary>
    public string Name { get; }

    Qwen(QwenModel model, QwenTokenizer tokenizer, ChatTemplate template, GenerationConfig generation, EngineOptions engine, string name)
    {
        Model = model;
        Tokenizer = tokenizer;
        ChatTemplate = template;
        GenerationConfig = generation;
        Name = name;
        EosTokenIds = generation.EosTokenIds.Concat(tokenizer.EosTokenIds).Distinct().ToArray();
        Prompts = new PromptEncoder(tokenizer, template);
        Engine = new InferenceEngine(model, tokenizer, engine);
    }

    /// <summary>Loads a Hugging Face folder or a GGUF file.</summary>
    public static Qwen Load(string path, QwenOptions? options = null)
    {
        options ??= new QwenOptions();
        var (kind, file) = ModelPath.Resolve(path);
        string name = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
        QwenModel? model = null;
        try
        {
            if (kind == ModelPath.Kind.Gguf)
            {
                model = QwenModel.Load(file, options.Load);
                QwenTokenizer tokenizer;
                using (var gguf = new GgufFile(file)) tokenizer = QwenTokenizer.FromGguf(gguf);
                var template = options.ChatTemplateOverride is { } src ? ChatTemplate.Parse(src, "override")
                    : tokenizer.ChatTemplate is { } t ? ChatTemplate.Parse(t, Path.GetFileName(file)) : ChatTemplate.ChatML;
                var gen = new GenerationConfig { EosTokenIds = tokenizer.EosTokenIds };
                return new Qwen(model, tokenizer, template, gen, options.Engine, name);
            }
            else
            {
                model = QwenModel.Load(file, options.Load);
                var tokenizer = QwenTokenizer.FromDirectory(file);
                var template = options.ChatTemplateOverride is { } src ? ChatTemplate.Parse(src, "override") : ChatTemplate.FromModel(file);
                var gen = GenerationConfig.Load(Path.Combine(file, "generation_config.json"));
                return new Qwen(model, tokenizer, template, gen, options.Engine, name);
            }
        }
        catch
        {
            model?.Dispose();
            throw;
        }
    }

    /// <summary>Loads a local path, or a Hub repo id (Org/Name[@revision]) downloaded on first use.</summary>
    public static async Task<Qwen> LoadAsync(string model, QwenOptions? options = null, CancellationToken ct = default)
    {
        string path = await Hub.ModelLocator.Resolve(model, ct: ct).ConfigureAwait(false);
        return Load(path, options);
    }

    // ---- LoRA adapters -------------------------------------------------------------------------

    readonly Dictionary<string, (Lora.LoraAdapter Adapter, int Slot)> _adapters = new(StringComparer.Ordinal);
    readonly object _adapterLock = new();

    /// <summary>The adapters loaded into this instance by name; a request picks one with <see cref="GenerationOptions.Adapter"/>.</summary>
    public IReadOnlyDictionary<string, Lora.LoraAdapter> Adapters
    {
        get { lock (_adapterLock) return _adapters.ToDictionary(a => a.Key, a => a.Value.Adapter); }
    }

    /// <summary>The adapter used by requests that name none (null: the base model).</summary>
    public string? DefaultAdapter
    {
        get => _defaultAdapter;
        set
        {
            if (value != null) lock (_adapterLock) if (!_adapters.ContainsKey(value)) throw new ArgumentException($"no adapter named '{value}' is loaded", nameof(value));
            _defaultAdapter = value;
        }
    }
    string? _defaultAdapter;

    /// <summary>
    /// Loads a LoRA adapter (a PEFT folder or a GGUF LoRA file) under <paramref name="name"/>, applied at run
    /// time to the requests that ask for it; requests with different adapters share batches.
    /// </summary>
    public Lora.LoraAdapter LoadAdapter(string name, string path)
    {
        var adapter = Lora.LoraAdapter.Load(path, name);
        AddAdapter(adapter);
        return adapter;
    }

    /// <summary>Adds an adapter built or loaded elsewhere, under its <see cref="Lora.LoraAdapter.Name"/>.</summary>
    public void AddAdapter(Lora.LoraAdapter adapter)
    {
        if (string.IsNullOrEmpty(adapter.Name)) throw new ArgumentException("an adapter needs a name", nameof(adapter));
        lock (_adapterLock)
        {
            if (_adapters.ContainsKey(adapter.Name)) throw new ArgumentException($"an adapter named '{adapter.Name}' is already loaded", nameof(adapter));
            int slot = Model.AttachAdapter(adapter);
            _adapters[adapter.Name] = (adapter, slot);
        }
    }

    /// <summary>Unloads an adapter: new requests can no longer ask for it (requests already running with it finish on the base weights).</summary>
    public bool UnloadAdapter(string name)
    {
        lock (_adapterLock)
        {
            if (!_adapters.Remove(name, out var a)) return false;
            Model.DetachAdapter(a.Slot);
            if (_defaultAdapter == name) _defaultAdapter = null;
            return true;
        }
    }

    /// <summary>The engine slot for an adapter name (null: the default adapter; "": the base model).</summary>
    int AdapterSlot(string? name)
    {
        name ??= _defaultAdapter;
        if (string.IsNullOrEmpty(name)) return -1;
        lock (_adapterLock)
        {
            if (_adapters.TryGetValue(name, out var a)) return a.Slot;
            var known = _adapters.Keys.Order().ToArray();
            throw new ArgumentException($"adapter: no adapter named '{name}' is loaded" + (known.Length > 0 ? $" (loaded: {string.Join(", ", known)})" : " (none are loaded)"));
        }
    }

    // ---- chat --------------------------------------------------------------------------------

    /// <summary>One user message, answered whole.</summary>
    public Task<ChatResult> ChatAsync(string userMessage, GenerationOptions? options = null, CancellationToken ct = default) =>
        ChatAsync(new JsonArray(ChatMessages.User(userMessage)), options, ct);

    /// <summary>A conversation (OpenAI-style message objects), answered whole.</summary>
    public async Task<ChatResult> ChatAsync(JsonArray messages, GenerationOptions? options = null, CancellationToken ct = default)
    {
        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new List<ToolCall>();
        var ids = new List<int>();
        List<TokenLogprobInfo>? logprobs = null;
        ChatUpdate? last = null;
        await foreach (var u in ChatStreamAsync(messages, options, ct).ConfigureAwait(false))
        {
            switch (u.Kind)
            {
                case ChatUpdateKind.Content: text.Append(u.Text); break;
                case ChatUpdateKind.Reasoning: reasoning.Append(u.Text); break;
                case ChatUpdateKind.ToolCall: calls.Add(u.ToolCall!); break;
                case ChatUpdateKind.Finished: last = u; break;
            }
            if (u.TokenIds != null) ids.AddRange(u.TokenIds);
            if (u.Logprobs != null) (logprobs ??= []).AddRange(u.Logprobs);
        }
        if (last?.Error is { } err) throw new InvalidOperationException(err);
        return new ChatResult
        {
            Text = text.ToString(), Reasoning = reasoning.ToString(), ToolCalls = calls, TokenIds = ids, Logprobs = logprobs,
            FinishReason = last?.FinishReason ?? "stop", Usage = last?.Usage ?? new Usage(0, 0),
        };
    }

    /// <summary>
    /// A conversation answered as a stream of updates: reasoning text, answer text and tool calls as
    /// they are generated, then one Finished update with the finish reason and usage. Cancelling stops
    /// generation and frees the sequence's cache.
    /// </summary>
    public async IAsyncEnumerable<ChatUpdate> ChatStreamAsync(JsonArray messages, GenerationOptions? options = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        options ??= new GenerationOptions();
        var prompt = Prompts.Encode(messages, options);
        var request = BuildRequest(prompt.Ids, options, prompt.StartsInReasoning);
        bool tools = options.Tools is { Count: > 0 } && options.ToolChoice != "none";
        var parser = new ChatOutputParser(prompt.StartsInReasoning, tools, tools ? ToolSchemas(options.Tools!) : null);
        // tool_choice required/named pre-filled the start of the call: the parser sees it too.
        int prefillAt = prompt.Text.LastIndexOf("<tool_call>", StringComparison.Ordinal);
        var pending = new List<ChatUpdate>();
        if (tools && options.ToolChoice is not (null or "auto" or "none") && prefillAt >= 0)
            foreach (var d in parser.Push(prompt.Text[prefillAt..])) { }
        int calls = 0, reasoningTokens = 0;
        await foreach (var e in Engine.GenerateAsync(request, ct).ConfigureAwait(false))
        {
            if (e.Finish is { } finish)
            {
                foreach (var u in ToUpdates(parser.Push(e.Text), null, null)) yield return u;
                foreach (var u in ToUpdates(parser.Finish(), null, null)) if (Keep(u)) yield return u;
                string reason = finish switch
                {
                    FinishReason.Length => "length",
                    FinishReason.Cancelled => "cancelled",
                    FinishReason.Error => "error",
                    _ => calls > 0 ? "tool_calls" : "stop",
                };
                yield return new ChatUpdate
                {
                    Kind = ChatUpdateKind.Finished, FinishReason = reason, Error = e.Error?.Message,
                    Usage = new Usage(e.PromptTokens, e.CompletionTokens, e.CachedPromptTokens, reasoningTokens),
                };
                yield break;
            }
            if (parser.InReasoning) reasoningTokens++;
            var info = options.Sampling.Logprobs || options.Sampling.TopLogprobs > 0 ? LogprobInfo(e) : null;
            bool first = true;
            foreach (var u in ToUpdates(parser.Push(e.Text), first ? [e.TokenId] : null, first ? info : null))
            {
                first = false;
                if (Keep(u)) yield return u;
            }
            if (first) yield return new ChatUpdate { Kind = parser.InReasoning ? ChatUpdateKind.Reasoning : ChatUpdateKind.Content, Text = "", TokenIds = [e.TokenId], Logprobs = info };
        }

        bool Keep(ChatUpdate u)
        {
            if (u.Kind != ChatUpdateKind.ToolCall) return true;
            if (!options.ParallelToolCalls && calls > 0) return false;
            calls++;
            return true;
        }
    }

    static IEnumerable<ChatUpdate> ToUpdates(List<OutputDelta> deltas, int[]? ids, TokenLogprobInfo[]? info)
    {
        foreach (var d in deltas)
        {
            if (d.ToolCall != null) yield return new ChatUpdate { Kind = ChatUpdateKind.ToolCall, ToolCall = d.ToolCall, TokenIds = ids, Logprobs = info };
            else if (d.Reasoning != null) yield return new ChatUpdate { Kind = ChatUpdateKind.Reasoning, Text = d.Reasoning, TokenIds = ids, Logprobs = info };
            else yield return new ChatUpdate { Kind = ChatUpdateKind.Content, Text = d.Content, TokenIds = ids, Logprobs = info };
            ids = null;
            info = null;
        }
    }

    TokenLogprobInfo[] LogprobInfo(EngineEvent e) =>
    [
        new TokenLogprobInfo(e.TokenId, Tokenizer.Decode([e.TokenId]), e.Logprob,
            (e.TopLogprobs ?? []).Select(t => (t.TokenId, Tokenizer.Decode([t.TokenId]), t.Logprob)).ToList()),
    ];

    static Dictionary<string, JsonObject> ToolSchemas(JsonArray tools)
    {
        var d = new Dictionary<string, JsonObject>();
        foreach (var t in tools)
        {
            var fn = t?["function"] as JsonObject ?? t as JsonObject;
            if (fn?["name"] is JsonValue n && n.TryGetValue(out string? name) && fn["parameters"] is JsonObject p) d[name] = p;
        }
        return d;
    }

    /// <summary>The engine request for a prompt: sampling merged with the model's defaults, end tokens, thinking budget.</summary>
    public EngineRequest BuildRequest(int[] promptIds, GenerationOptions options, bool startsInReasoning)
    {
        var sampling = options.Sampling.WithDefaults(GenerationConfig.Defaults);
        sampling.Validate();
        ThinkingBudget? budget = null;
        if (options.ThinkingBudget is int b)
        {
            if (b < 0) throw new ArgumentException($"thinking_budget: {b} must not be negative", nameof(options));
            int? open = Tokenizer.TokenToId("<think>"), close = Tokenizer.TokenToId("</think>");
            if (open is null || close is null) throw new ArgumentException("thinking_budget: this model's tokenizer has no <think> / </think> tokens", nameof(options));
            budget = new ThinkingBudget(b, open.Value, close.Value, Tokenizer.Encode(ThinkingBudgetEndText, parseSpecialTokens: true), startsInReasoning);
        }
        return new EngineRequest
        {
            Prompt = promptIds,
            Sampling = sampling,
            EosTokenIds = EosTokenIds,
            ThinkingBudget = budget,
            SkipSpecialTokens = false,
            AdapterSlot = AdapterSlot(options.Adapter),
        };
    }

    // ---- raw text completion -----------------------------------------------------------------

    /// <summary>
    /// Continues a raw prompt (no chat template). Special-token text in the prompt is parsed as special
    /// tokens, as transformers' tokenizer does. Streams text updates, then a Finished update.
    /// </summary>
    public IAsyncEnumerable<ChatUpdate> CompleteStreamAsync(string prompt, SamplingParams? sampling = null, CancellationToken ct = default) =>
        CompleteStreamAsync(prompt, sampling, adapter: null, ct);

    /// <summary>Continues a raw prompt with a named LoRA adapter (null: <see cref="DefaultAdapter"/>; "": the base model).</summary>
    public async IAsyncEnumerable<ChatUpdate> CompleteStreamAsync(string prompt, SamplingParams? sampling, string? adapter, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var ids = Tokenizer.Encode(prompt, parseSpecialTokens: true);
        var options = new GenerationOptions { Sampling = sampling ?? new SamplingParams(), Adapter = adapter };
        var request = BuildRequest(ids, options, false);
        await foreach (var e in Engine.GenerateAsync(request, ct).ConfigureAwait(false))
        {
            var info = options.Sampling.Logprobs || options.Sampling.TopLogprobs > 0 ? LogprobInfo(e) : null;
            if (e.Finish is { } f)
            {
                if (e.Text.Length > 0) yield return new ChatUpdate { Kind = ChatUpdateKind.Content, Text = e.Text };
                yield return new ChatUpdate
                {
                    Kind = ChatUpdateKind.Finished, Error = e.Error?.Message,
                    FinishReason = f switch { FinishReason.Length => "length", FinishReason.Cancelled => "cancelled", FinishReason.Error => "error", _ => "stop" },
                    Usage = new Usage(e.PromptTokens, e.CompletionTokens, e.CachedPromptTokens),
                };
                yield break;
            }
            yield return new ChatUpdate { Kind = ChatUpdateKind.Content, Text = e.Text, TokenIds = [e.TokenId], Logprobs = info };
        }
    }

    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
    }
}

/// <summary>Builds OpenAI-style message objects for <see cref="Qwen.ChatAsync(JsonArray, GenerationOptions?, CancellationToken)"/>.</summary>
public static class ChatMessages
{
    public static JsonObject System(string content) => new() { ["role"] = "system", ["content"] = content };
    public static JsonObject User(string content) => new() { ["role"] = "user", ["content"] = content };

    public static JsonObject Assistant(string? content, string? reasoning = null, IEnumerable<ToolCall>? toolCalls = null)
    {
        var o = new JsonObject { ["role"] = "assistant", ["content"] = content ?? "" };
        if (reasoning != null) o["reasoning_content"] = reasoning;
        if (toolCalls != null)
        {
            var arr = new JsonArray();
            foreach (var c in toolCalls)
                arr.Add((JsonNode)new JsonObject
                {
                    ["id"] = c.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = JsonNode.Parse(c.IsValid ? c.Arguments : "{}") },
                });
            if (arr.Count > 0) o["tool_calls"] = arr;
        }
        return o;
    }

    public static JsonObject Tool(string toolCallId, string content, string? name = null)
    {
        var o = new JsonObject { ["role"] = "tool", ["tool_call_id"] = toolCallId, ["content"] = content };
        if (name != null) o["name"] = name;
        return o;
    }
}

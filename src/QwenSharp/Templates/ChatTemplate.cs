using System.Text.Json.Nodes;
using QwenSharp.Templates.Jinja;

namespace QwenSharp.Templates;

/// <summary>
/// A model's chat template: the Jinja2 program from its tokenizer_config.json (<c>chat_template</c>) or GGUF
/// metadata (<c>tokenizer.chat_template</c>), rendered exactly as Hugging Face transformers'
/// <c>apply_chat_template(..., tokenize=False)</c> renders it. Parse once (syntax errors surface here, with line
/// and column), render many times; rendering is thread-safe.
/// </summary>
/// <remarks>
/// Fallback: a model without a template gets <see cref="ChatML"/> (transformers' former default ChatML
/// template: <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per message, plus
/// <c>&lt;|im_start|&gt;assistant\n</c> with add_generation_prompt) and <see cref="IsFallback"/> is true.
/// </remarks>
public sealed class ChatTemplate
{
    /// <summary>The source of <see cref="ChatML"/>.</summary>
    public const string ChatMLSource =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    const string ContinueTag = "CONTINUE_FINAL_MESSAGE_TAG ";

    static readonly Lazy<ChatTemplate> ChatMLTemplate = new(() => Parse(ChatMLSource, "chatml"));

    readonly JinjaTemplate _template;

    ChatTemplate(JinjaTemplate template, string source, bool isFallback, string origin, IReadOnlyDictionary<string, JsonNode?> specialTokens)
    {
        _template = template;
        Source = source;
        IsFallback = isFallback;
        Origin = origin;
        SpecialTokens = specialTokens;
    }

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <summary>The name used in error messages.</summary>
    public string Name => _template.Source.Name;

    /// <summary>True when the model had no template and <see cref="ChatML"/> is used instead.</summary>
    public bool IsFallback { get; }

    /// <summary>Where the template came from (a file and field, or "ChatML fallback").</summary>
    public string Origin { get; }

    /// <summary>The special-token variables passed to every render, as transformers passes its
    /// <c>special_tokens_map</c> (<c>bos_token</c>, <c>eos_token</c>, <c>pad_token</c>, <c>unk_token</c>,
    /// <c>additional_special_tokens</c>, ...); a render's own variables override them.</summary>
    public IReadOnlyDictionary<string, JsonNode?> SpecialTokens { get; }

    public TemplateLimits Limits => _template.Limits;

    /// <summary>The clock behind <c>strftime_now</c>; null means the local time.</summary>
    internal Func<DateTime>? Clock { get; init; }

    /// <summary>transformers' former default template (ChatML), used when a model has none.</summary>
    public static ChatTemplate ChatML => ChatMLTemplate.Value;

    /// <summary>Parses a template. A syntax error (or an unknown filter, test or tag) throws
    /// <see cref="TemplateException"/> with the line and column.</summary>
    public static ChatTemplate Parse(string source, string? name = null, TemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var t = JinjaTemplate.Parse(source, name ?? "<template>", limits ?? TemplateLimits.Default);
        return new ChatTemplate(t, source, false, name ?? "string", EmptyTokens);
    }

    /// <summary>
    /// The template of a model: a folder (chat_template.jinja, else tokenizer_config.json's
    /// <c>chat_template</c> — a string, or a list of {name, template} from which "default" or
    /// <paramref name="templateName"/> is taken — else chat_template.json), a .gguf file
    /// (<c>tokenizer.chat_template</c>, or <c>tokenizer.chat_template.NAME</c>), a tokenizer_config.json, or a
    /// .jinja file. Falls back to <see cref="ChatML"/> (with <see cref="IsFallback"/> set) when the model has no
    /// template. The model's special tokens become <see cref="SpecialTokens"/>.
    /// </summary>
    public static ChatTemplate FromModel(string path, string? templateName = null, TemplateLimits? limits = null)
    {
        var found = ModelTemplateReader.Read(path, templateName);
        limits ??= TemplateLimits.Default;
        if (found.Source == null)
        {
            var t = JinjaTemplate.Parse(ChatMLSource, "chatml", limits);
            return new ChatTemplate(t, ChatMLSource, true, $"ChatML fallback ({found.Origin} has no chat template)", found.SpecialTokens);
        }
        var parsed = JinjaTemplate.Parse(found.Source, found.Origin, limits);
        return new ChatTemplate(parsed, found.Source, false, found.Origin, found.SpecialTokens);
    }

    /// <summary>The same template with other special-token variables.</summary>
    public ChatTemplate WithSpecialTokens(IReadOnlyDictionary<string, JsonNode?> specialTokens) =>
        new(_template, Source, IsFallback, Origin, specialTokens) { Clock = Clock };

    internal ChatTemplate WithClock(Func<DateTime> clock) => new(_template, Source, IsFallback, Origin, SpecialTokens) { Clock = clock };

    static readonly IReadOnlyDictionary<string, JsonNode?> EmptyTokens = new Dictionary<string, JsonNode?>();

    static readonly HashSet<string> IgnoredKwargs = new(StringComparer.Ordinal)
    {
        "padding", "truncation", "max_length", "return_tensors", "return_dict", "tokenizer_kwargs", "return_assistant_tokens_mask",
    };

    /// <summary>
    /// Renders with the keyword arguments a caller would pass to transformers' <c>apply_chat_template</c>:
    /// <c>messages</c> (required), <c>tools</c>, <c>documents</c>, <c>add_generation_prompt</c>,
    /// <c>continue_final_message</c> and any other template variables (<c>enable_thinking</c>, ...).
    /// Tokenizer options (<c>tokenize</c> false, <c>padding</c>, <c>return_tensors</c>, ...) are ignored.
    /// Any failure, in the template or in the input, is a <see cref="TemplateException"/>.
    /// </summary>
    public string Render(JsonObject kwargs)
    {
        ArgumentNullException.ThrowIfNull(kwargs);
        JsonNode? messages = null, tools = null, documents = null, addGen = JsonValue.Create(false), cont = null;
        bool hasMessages = false;
        var extra = new List<KeyValuePair<string, JsonNode?>>();
        foreach (var (key, value) in kwargs)
        {
            switch (key)
            {
                case "messages":
                case "conversation":
                    if (hasMessages) throw InputError("give the messages once, as 'messages' or as 'conversation'");
                    messages = value;
                    hasMessages = true;
                    break;
                case "tools": tools = value; break;
                case "documents": documents = value; break;
                case "add_generation_prompt": addGen = value; break;
                case "continue_final_message": cont = value; break;
                case "tokenize":
                    if (value is JsonValue v && v.TryGetValue<bool>(out var tok) && tok)
                        throw InputError("'tokenize': true is not supported here; the template renders text (tokenize it afterwards)");
                    break;
                case "chat_template":
                    throw InputError("'chat_template' cannot be chosen through kwargs; load the template with ChatTemplate.Parse or FromModel");
                default:
                    if (!IgnoredKwargs.Contains(key)) extra.Add(new(key, value));
                    break;
            }
        }
        if (!hasMessages) throw InputError("the kwargs have no 'messages'");
        return RenderCore(messages, tools, documents, Convert(addGen, "add_generation_prompt"), Convert(cont, "continue_final_message"), extra);
    }

    /// <summary>Renders the typed input; see <see cref="Render(JsonObject)"/>.</summary>
    public string Render(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        JsonNode? documents = null;
        var extra = new List<KeyValuePair<string, JsonNode?>>();
        foreach (var (key, value) in input.Variables ?? new Dictionary<string, JsonNode?>())
        {
            if (key is "messages" or "tools" or "add_generation_prompt" or "continue_final_message")
                throw InputError($"variable '{key}' must be given through ChatTemplateInput's own property");
            if (key == "documents") documents = value;
            else extra.Add(new(key, value));
        }
        return RenderCore(input.Messages, input.Tools, documents, input.AddGenerationPrompt, input.ContinueFinalMessage, extra);
    }

    static TemplateException InputError(string message) => new("InputError: " + message);

    static object? Convert(JsonNode? node, string what)
    {
        try { return JsonValues.FromNode(node); }
        catch (JinjaError e) { throw InputError($"{what}: {e.Message}"); }
    }

    string RenderCore(JsonNode? messagesNode, JsonNode? toolsNode, JsonNode? documentsNode, object? addGenerationPrompt,
        object? continueFinalMessage, List<KeyValuePair<string, JsonNode?>> extra)
    {
        if (messagesNode is not JsonArray) throw InputError($"'messages' must be a list of messages, not {Describe(messagesNode)}");
        var messages = (List<object?>)Convert(messagesNode, "messages")!;
        if (toolsNode != null && toolsNode is not JsonArray) throw InputError($"'tools' must be a list of JSON schemas or null, not {Describe(toolsNode)}");
        var tools = Convert(toolsNode, "tools");
        if (tools is List<object?> toolList && toolList.Any(t => t is not PyDict))
            throw InputError("each tool must be a JSON schema object (transformers also takes Python functions, which JSON cannot carry)");
        if (documentsNode != null && documentsNode is not JsonArray) throw InputError($"'documents' must be a list of objects or null, not {Describe(documentsNode)}");
        var documents = Convert(documentsNode, "documents");
        if (documents is List<object?> docList && docList.Any(d => d is not PyDict))
            throw InputError("Documents should be a list of dicts with 'title' and 'text' keys!");

        string? finalText = null;
        if (PyOps.Truthy(continueFinalMessage))
        {
            if (PyOps.Truthy(addGenerationPrompt))
                throw InputError("continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when you want the model to continue the final message, and add_generation_prompt when you want to add a header that will prompt it to generate a new assistant message instead.");
            finalText = MarkFinalMessage(messages, continueFinalMessage is string field ? field : "content");
        }

        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in SpecialTokens) vars[k] = Convert(v, k);
        foreach (var (k, v) in extra) vars[k] = Convert(v, k);
        vars["messages"] = messages;
        vars["tools"] = tools;
        vars["documents"] = documents;
        vars["add_generation_prompt"] = addGenerationPrompt;

        string rendered = _template.Render(vars, Clock);
        return finalText == null ? rendered : CutAtFinalMessage(rendered, finalText);
    }

    static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "a list",
        _ => node.GetValueKind().ToString().ToLowerInvariant(),
    };

    /// <summary>transformers' continue_final_message, step 1: append the tag to the final message's text
    /// (its content, or the last content part that has "text"); returns that text as it was.</summary>
    string MarkFinalMessage(List<object?> messages, string field)
    {
        if (messages.Count == 0) throw InputError("continue_final_message is set but there are no messages");
        if (messages[^1] is not PyDict last) throw InputError("continue_final_message is set but the final message is not an object");
        if (!last.TryGetValue(field, out var final) || final == null)
            throw InputError($"continue_final_message is set but the final message has no \"{field}\" to continue!");
        if (!Source.Contains(field, StringComparison.Ordinal))
            throw InputError($"continue_final_message is set to \"{field}\" but this is not an accepted field in the chat_template");
        if (final is List<object?> parts)
        {
            for (int i = parts.Count - 1; i >= 0; i--)
            {
                if (parts[i] is PyDict block && block.TryGetValue("text", out var text))
                {
                    if (text is not string s) throw InputError("continue_final_message: the final text block's \"text\" is not a string");
                    block.Set("text", s + ContinueTag);
                    return s;
                }
            }
            throw InputError("continue_final_message is set but we could not find any text to continue in the final message!");
        }
        if (final is not string str) throw InputError($"continue_final_message: the final message's \"{field}\" is not a string");
        last.Set(field, str + ContinueTag);
        return str;
    }

    /// <summary>transformers' continue_final_message, step 2: cut the output where the final message's text ends.</summary>
    static string CutAtFinalMessage(string rendered, string finalText)
    {
        string tag = ContinueTag.TrimEnd();
        if (!rendered.Contains(PyText.Strip(finalText), StringComparison.Ordinal) || !rendered.Contains(tag, StringComparison.Ordinal))
            throw InputError("continue_final_message is set but the final message does not appear in the chat after applying the chat template! This can happen if the chat template deletes portions of the final message.");
        int at = rendered.LastIndexOf(tag, StringComparison.Ordinal);
        if (string.CompareOrdinal(rendered, at, ContinueTag, 0, ContinueTag.Length) == 0 && at + ContinueTag.Length <= rendered.Length)
            return rendered[..at];
        return PyText.RStrip(rendered[..at]);
    }
}

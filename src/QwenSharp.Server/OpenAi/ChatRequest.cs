using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Generation;

namespace QwenSharp.Server.OpenAi;

/// <summary>A POST /v1/chat/completions body, read and checked: the conversation for the chat template and the generation options.</summary>
public sealed class ChatRequest
{
    public required JsonArray Messages { get; init; }
    public required GenerationOptions Options { get; init; }
    /// <summary>Whether max_tokens came from the request (true) or the server's default (false).</summary>
    public bool MaxTokensRequested { get; init; }
    public int N { get; init; } = 1;
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public string? Model { get; init; }

    static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatRequest Parse(JsonObject body, QwenServerOptions server, ServedModels models, int vocabSize)
    {
        var f = new RequestFields(body);
        string? model = f.String("model");
        string? adapter = models.Resolve(model);
        var messages = ReadMessages(f.Array("messages") ?? throw OpenAiException.BadRequest("'messages' is required", "messages", "missing_required_parameter"), server.RejectUnknownFields);

        var sampling = SamplingFields.Read(f, vocabSize);
        int? maxTokens = SamplingFields.MaxTokens(f, server, chat: true);
        bool logprobs = f.Bool("logprobs") ?? false;
        int? top = f.Int("top_logprobs");
        if (top is not null && !logprobs && top > 0) throw OpenAiException.BadRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs");
        sampling = sampling with { MaxTokens = maxTokens ?? server.MaxTokensCap, Logprobs = logprobs, TopLogprobs = top ?? 0 };
        SamplingFields.Validate(sampling);

        int n = f.Int("n") ?? 1;
        if (n < 1 || n > server.MaxSequencesPerRequest)
            throw OpenAiException.Unprocessable($"'n' must be between 1 and {server.MaxSequencesPerRequest} (got {n})", "n");
        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = false;
        if (f.Nested("stream_options") is { } so)
        {
            if (!stream) throw OpenAiException.BadRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
            includeUsage = so.Bool("include_usage") ?? false;
            if (server.RejectUnknownFields) so.RejectUnknown();
        }

        // Tools.
        var tools = f.Array("tools");
        var toolNames = new HashSet<string>(StringComparer.Ordinal);
        if (tools != null)
        {
            tools = tools.DeepClone().AsArray();
            for (int i = 0; i < tools.Count; i++)
            {
                string p = $"tools[{i}]";
                if (tools[i] is not JsonObject t) throw OpenAiException.BadRequest($"'{p}' must be an object", "tools", "invalid_type");
                var tf = new RequestFields(t, p + ".");
                string type = tf.String("type") ?? "function";
                if (type != "function") throw OpenAiException.Unprocessable($"'{p}.type' '{type}' is not supported (only \"function\")", "tools");
                var fn = tf.Nested("function") ?? throw OpenAiException.BadRequest($"'{p}.function' is required", "tools", "missing_required_parameter");
                string name = fn.String("name") ?? throw OpenAiException.BadRequest($"'{p}.function.name' is required", "tools", "missing_required_parameter");
                if (name.Length == 0) throw OpenAiException.BadRequest($"'{p}.function.name' must not be empty", "tools");
                fn.String("description");
                fn.Object("parameters");
                fn.Bool("strict");
                toolNames.Add(name);
                if (server.RejectUnknownFields) { tf.RejectUnknown(); fn.RejectUnknown(); }
            }
        }
        string? toolChoice = null;
        switch (f.Raw("tool_choice"))
        {
            case null: break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                toolChoice = v.GetValue<string>();
                if (toolChoice is not ("auto" or "none" or "required"))
                    throw OpenAiException.Unprocessable($"'tool_choice' must be \"auto\", \"none\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}; got \"{toolChoice}\"", "tool_choice");
                break;
            case JsonObject o:
                var cf = new RequestFields(o, "tool_choice.");
                cf.String("type");
                toolChoice = cf.Nested("function")?.String("name") ?? throw OpenAiException.BadRequest("'tool_choice.function.name' is required", "tool_choice", "missing_required_parameter");
                break;
            default: throw OpenAiException.BadRequest("'tool_choice' must be a string or an object", "tool_choice", "invalid_type");
        }
        if (toolChoice is not (null or "auto" or "none"))
        {
            if (toolNames.Count == 0) throw OpenAiException.BadRequest($"'tool_choice' \"{toolChoice}\" needs 'tools'", "tool_choice");
            if (toolChoice != "required" && !toolNames.Contains(toolChoice))
                throw OpenAiException.Unprocessable($"'tool_choice' names the tool '{toolChoice}', which is not in 'tools'", "tool_choice");
        }
        bool parallel = f.Bool("parallel_tool_calls") ?? true;

        // Thinking and template variables: server defaults, then the request's switches, then its chat_template_kwargs.
        var kwargs = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (k, v) in server.DefaultTemplateKwargs) kwargs[k] = v?.DeepClone();
        bool? thinking = f.Bool("enable_thinking");
        if (thinking is null && f.String("reasoning_effort") is { } effort)
            thinking = effort switch
            {
                "none" => false,
                "minimal" or "low" or "medium" or "high" => true,
                _ => throw OpenAiException.Unprocessable($"'reasoning_effort' must be none, minimal, low, medium or high (got \"{effort}\")", "reasoning_effort"),
            };
        if (thinking is not null) kwargs.Remove("enable_thinking");
        if (f.Object("chat_template_kwargs") is { } ck)
            foreach (var (k, v) in ck) kwargs[k] = v?.DeepClone();
        int? budget = f.Int("thinking_budget");
        if (budget is < 0) throw OpenAiException.Unprocessable($"'thinking_budget' must not be negative (got {budget})", "thinking_budget");

        if (f.Nested("response_format") is { } rf)
        {
            string? type = rf.String("type");
            if (type is not (null or "text"))
                throw OpenAiException.Unprocessable($"'response_format' type \"{type}\" is not supported by this server (only \"text\")", "response_format");
            rf.Accept("json_schema");
        }
        if (f.Raw("modalities") is JsonArray mods && mods.Any(m => m?.GetValueKind() != JsonValueKind.String || m.GetValue<string>() != "text"))
            throw OpenAiException.Unprocessable("'modalities': this server answers with text only", "modalities");
        bool continueFinal = f.Bool("continue_final_message") ?? false;
        bool addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;
        if (continueFinal && addGenerationPrompt && f.Has("add_generation_prompt"))
            throw OpenAiException.BadRequest("'continue_final_message' and 'add_generation_prompt' cannot both be true", "continue_final_message");
        if (!addGenerationPrompt && !continueFinal)
            throw OpenAiException.Unprocessable("'add_generation_prompt': false is only supported together with 'continue_final_message': true", "add_generation_prompt");
        if (continueFinal && (messages[^1] as JsonObject)?["role"]?.GetValue<string>() != "assistant")
            throw OpenAiException.BadRequest("'continue_final_message' needs the last message to be the assistant's", "continue_final_message");
        if (f.Has("functions") || f.Has("function_call"))
            throw OpenAiException.BadRequest("'functions' and 'function_call' are deprecated; use 'tools' and 'tool_choice'", f.Has("functions") ? "functions" : "function_call", "unsupported_parameter");
        f.Accept("user", "store", "metadata", "service_tier", "safety_identifier", "prompt_cache_key", "verbosity");
        if (server.RejectUnknownFields) f.RejectUnknown();

        return new ChatRequest
        {
            Messages = messages,
            Model = model,
            N = n,
            Stream = stream,
            IncludeUsage = includeUsage,
            MaxTokensRequested = maxTokens is not null,
            Options = new GenerationOptions
            {
                Sampling = sampling,
                EnableThinking = thinking,
                ThinkingBudget = budget,
                Tools = tools is { Count: > 0 } ? tools : null,
                ToolChoice = toolChoice,
                ParallelToolCalls = parallel,
                TemplateVariables = kwargs.Count > 0 ? kwargs : null,
                ContinueFinalMessage = continueFinal,
                Adapter = adapter,
            },
        };
    }

    /// <summary>Checks each message and rewrites it into what Qwen's templates read: text content as one string,
    /// "developer" as "system", tool-call arguments as objects, "reasoning" as "reasoning_content".</summary>
    static JsonArray ReadMessages(JsonArray input, bool rejectUnknown)
    {
        if (input.Count == 0) throw OpenAiException.BadRequest("'messages' must hold at least one message", "messages");
        var output = new JsonArray();
        for (int i = 0; i < input.Count; i++)
        {
            string p = $"messages[{i}]";
            if (input[i] is not JsonObject m) throw OpenAiException.BadRequest($"'{p}' must be an object", "messages", "invalid_type");
            var f = new RequestFields(m, p + ".");
            string role = f.String("role") ?? throw OpenAiException.BadRequest($"'{p}.role' is required", "messages", "missing_required_parameter");
            if (!Roles.Contains(role)) throw OpenAiException.BadRequest($"'{p}.role' must be one of {string.Join(", ", Roles)} (got \"{role}\")", "messages");
            if (role == "developer") role = "system";
            var o = new JsonObject { ["role"] = role };
            string? content = Content(f, p, role == "assistant");
            if (f.String("name") is { } name) o["name"] = name;
            if (role == "assistant")
            {
                string? reasoning = f.String("reasoning_content") ?? f.String("reasoning");
                if (reasoning != null) o["reasoning_content"] = reasoning;
                if (f.Array("tool_calls") is { Count: > 0 } calls) o["tool_calls"] = ToolCalls(calls, p, rejectUnknown);
                f.Accept("refusal", "audio");
                if (content is null && o["tool_calls"] is null && reasoning is null)
                    throw OpenAiException.BadRequest($"'{p}.content' is required unless the message has tool_calls", "messages", "missing_required_parameter");
            }
            else if (content is null)
            {
                throw OpenAiException.BadRequest($"'{p}.content' is required", "messages", "missing_required_parameter");
            }
            o["content"] = content ?? "";
            if (role == "tool")
            {
                if (f.String("tool_call_id") is { } id) o["tool_call_id"] = id;
            }
            if (rejectUnknown) f.RejectUnknown();
            output.Add((JsonNode)o);
        }
        return output;
    }

    static string? Content(RequestFields f, string p, bool assistant)
    {
        var node = f.Raw("content");
        switch (node)
        {
            case null: return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String: return v.GetValue<string>();
            case JsonArray parts:
                var text = new List<string>();
                for (int j = 0; j < parts.Count; j++)
                {
                    string pp = $"{p}.content[{j}]";
                    if (parts[j] is not JsonObject part) throw OpenAiException.BadRequest($"'{pp}' must be an object", "messages", "invalid_type");
                    var pf = new RequestFields(part, pp + ".");
                    string type = pf.String("type") ?? throw OpenAiException.BadRequest($"'{pp}.type' is required", "messages", "missing_required_parameter");
                    bool isText = type is "text" or "input_text" || (assistant && type == "refusal");
                    if (!isText)
                        throw OpenAiException.Unprocessable($"'{pp}.type' \"{type}\": this model reads text only", "messages");
                    text.Add(pf.String("text") ?? pf.String("refusal") ?? throw OpenAiException.BadRequest($"'{pp}.text' is required", "messages", "missing_required_parameter"));
                }
                return string.Join("\n", text);
            default:
                throw OpenAiException.BadRequest($"'{p}.content' must be a string or an array of content parts", "messages", "invalid_type");
        }
    }

    static JsonArray ToolCalls(JsonArray calls, string p, bool rejectUnknown)
    {
        var output = new JsonArray();
        for (int j = 0; j < calls.Count; j++)
        {
            string cp = $"{p}.tool_calls[{j}]";
            if (calls[j] is not JsonObject c) throw OpenAiException.BadRequest($"'{cp}' must be an object", "messages", "invalid_type");
            var cf = new RequestFields(c, cp + ".");
            string? id = cf.String("id");
            string type = cf.String("type") ?? "function";
            if (type != "function") throw OpenAiException.Unprocessable($"'{cp}.type' \"{type}\" is not supported (only \"function\")", "messages");
            var fn = cf.Nested("function") ?? throw OpenAiException.BadRequest($"'{cp}.function' is required", "messages", "missing_required_parameter");
            string name = fn.String("name") ?? throw OpenAiException.BadRequest($"'{cp}.function.name' is required", "messages", "missing_required_parameter");
            JsonNode? args = fn.Raw("arguments") switch
            {
                null => new JsonObject(),
                JsonValue s when s.GetValueKind() == JsonValueKind.String => ParseArguments(s.GetValue<string>(), cp),
                JsonObject o => o.DeepClone(),
                _ => throw OpenAiException.BadRequest($"'{cp}.function.arguments' must be a JSON string", "messages", "invalid_type"),
            };
            if (rejectUnknown) { cf.RejectUnknown(); fn.RejectUnknown(); }
            var call = new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["arguments"] = args } };
            if (id != null) call["id"] = id;
            output.Add((JsonNode)call);
        }
        return output;
    }

    static JsonNode ParseArguments(string text, string cp)
    {
        if (string.IsNullOrWhiteSpace(text)) return new JsonObject();
        try { return JsonNode.Parse(text) ?? new JsonObject(); }
        catch (JsonException) { throw OpenAiException.BadRequest($"'{cp}.function.arguments' is not valid JSON", "messages", "invalid_json"); }
    }
}

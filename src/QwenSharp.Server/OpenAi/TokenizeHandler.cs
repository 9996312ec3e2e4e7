using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using QwenSharp.Generation;
using QwenSharp.Templates;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// POST /tokenize and /detokenize, as vLLM has them: a raw <c>prompt</c> (special-token text parsed) or
/// chat <c>messages</c> rendered with the chat template exactly as /v1/chat/completions would, to ids;
/// and ids back to text.
/// </summary>
public sealed class TokenizeHandler(Qwen qwen, ServedModels models, IOptions<QwenServerOptions> options)
{
    readonly QwenServerOptions _options = options.Value;

    public async Task TokenizeAsync(RequestScope scope)
    {
        var body = await RequestBody.ReadObjectAsync(scope.Http, _options.MaxBodyBytes).ConfigureAwait(false);
        // The fields of this endpoint; the rest is a chat request (messages, tools, chat_template_kwargs...) or a prompt.
        bool returnStrings = false;
        if (body.TryGetPropertyValue("return_token_strs", out var rts))
        {
            returnStrings = rts?.GetValueKind() switch
            {
                null or System.Text.Json.JsonValueKind.Null or System.Text.Json.JsonValueKind.False => false,
                System.Text.Json.JsonValueKind.True => true,
                _ => throw OpenAiException.BadRequest("'return_token_strs' must be a boolean", "return_token_strs", "invalid_type"),
            };
            body.Remove("return_token_strs");
        }
        body.Remove("add_special_tokens"); // Qwen's tokenizer adds no BOS/EOS either way
        int[] ids;
        if (body.ContainsKey("messages"))
        {
            var req = ChatRequest.Parse(body, _options, models, qwen.Model.Config.VocabSize);
            try { ids = qwen.Prompts.Encode(req.Messages, req.Options).Ids; }
            catch (TemplateException e) { throw OpenAiException.Unprocessable("the chat template rejected these messages: " + e.Reason, "messages", "template_error"); }
        }
        else
        {
            var f = new RequestFields(body);
            models.Resolve(f.String("model"));
            string prompt = f.String("prompt") ?? throw OpenAiException.BadRequest("'prompt' or 'messages' is required", "prompt", "missing_required_parameter");
            if (_options.RejectUnknownFields) f.RejectUnknown();
            ids = qwen.Tokenizer.Encode(prompt, parseSpecialTokens: true);
        }
        var response = new JsonObject
        {
            ["count"] = ids.Length,
            ["max_model_len"] = models.MaxModelLength,
            ["tokens"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()),
            ["token_strs"] = returnStrings ? new JsonArray(ids.Select(i => (JsonNode)qwen.Tokenizer.IdToToken(i)).ToArray()) : null,
        };
        await Write(scope, response).ConfigureAwait(false);
    }

    public async Task DetokenizeAsync(RequestScope scope)
    {
        var f = new RequestFields(await RequestBody.ReadObjectAsync(scope.Http, _options.MaxBodyBytes).ConfigureAwait(false));
        models.Resolve(f.String("model"));
        var ids = f.Ints("tokens") ?? throw OpenAiException.BadRequest("'tokens' is required", "tokens", "missing_required_parameter");
        if (_options.RejectUnknownFields) f.RejectUnknown();
        int vocab = qwen.Tokenizer.VocabSize;
        foreach (var t in ids)
            if (t < 0 || t >= vocab) throw OpenAiException.Unprocessable($"'tokens': token id {t} is outside the vocabulary (0..{vocab - 1})", "tokens");
        await Write(scope, new JsonObject { ["prompt"] = qwen.Tokenizer.Decode(ids.ToArray()) }).ConfigureAwait(false);
    }

    static Task Write(RequestScope scope, JsonObject response)
    {
        scope.Http.Response.StatusCode = 200;
        scope.Http.Response.ContentType = "application/json";
        return scope.Http.Response.WriteAsync(response.ToJsonString(JsonText.Options), scope.Token);
    }
}

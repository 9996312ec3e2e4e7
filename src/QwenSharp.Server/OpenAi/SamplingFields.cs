using System.Globalization;
using QwenSharp.Generation;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// Reads the sampling parameters shared by /v1/chat/completions and /v1/completions: OpenAI's
/// (temperature, top_p, presence/frequency penalties, logit_bias, seed, stop, max_tokens) and the
/// extensions vLLM accepts (top_k, min_p, repetition_penalty, stop_token_ids, ignore_eos).
/// </summary>
public static class SamplingFields
{
    public static SamplingParams Read(RequestFields f, int vocabSize)
    {
        int? topK = f.Int("top_k");
        if (topK == -1) topK = 0; // vLLM's "off"
        Dictionary<int, float>? bias = null;
        if (f.Object("logit_bias") is { } lb)
        {
            bias = [];
            foreach (var (key, value) in lb)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                    throw OpenAiException.BadRequest($"'logit_bias' keys must be token ids; '{key}' is not", "logit_bias", "invalid_type");
                if (id >= vocabSize) throw OpenAiException.Unprocessable($"'logit_bias': token id {id} is outside the vocabulary (0..{vocabSize - 1})", "logit_bias");
                if (value is null || value.GetValueKind() != System.Text.Json.JsonValueKind.Number)
                    throw OpenAiException.BadRequest($"'logit_bias[{key}]' must be a number", "logit_bias", "invalid_type");
                bias[id] = (float)value.GetValue<System.Text.Json.JsonElement>().GetDouble();
            }
        }
        var stopIds = f.Ints("stop_token_ids");
        if (stopIds != null)
            foreach (var t in stopIds)
                if (t < 0 || t >= vocabSize) throw OpenAiException.Unprocessable($"'stop_token_ids': token id {t} is outside the vocabulary (0..{vocabSize - 1})", "stop_token_ids");
        return new SamplingParams
        {
            Temperature = f.Float("temperature"),
            TopP = f.Float("top_p"),
            TopK = topK,
            MinP = f.Float("min_p"),
            RepetitionPenalty = f.Float("repetition_penalty"),
            PresencePenalty = f.Float("presence_penalty"),
            FrequencyPenalty = f.Float("frequency_penalty"),
            LogitBias = bias,
            Seed = f.Long("seed"),
            Stop = f.StringOrStrings("stop"),
            StopTokenIds = stopIds,
            IgnoreEos = f.Bool("ignore_eos") ?? false,
        };
    }

    /// <summary>max_completion_tokens (or the older max_tokens), checked against the server's cap.</summary>
    public static int? MaxTokens(RequestFields f, QwenServerOptions options, bool chat)
    {
        int? legacy = f.Int("max_tokens");
        int? modern = chat ? f.Int("max_completion_tokens") : null;
        string param = modern is null ? "max_tokens" : "max_completion_tokens";
        int? max = modern ?? legacy;
        if (max is int m)
        {
            if (m < 1) throw OpenAiException.Unprocessable($"'{param}' must be at least 1 (got {m})", param);
            if (options.MaxTokensCap is int cap && m > cap)
                throw OpenAiException.Unprocessable($"'{param}' is {m}; this server allows at most {cap}", param);
        }
        return max;
    }

    /// <summary>Checks ranges with the library's rules; the error names the parameter (422).</summary>
    public static void Validate(SamplingParams s)
    {
        try { s.Validate(); }
        catch (ArgumentException e)
        {
            string message = e.Message;
            int paren = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
            if (paren > 0) message = message[..paren];
            throw OpenAiException.Unprocessable(message, e.ParamName);
        }
    }
}

using QwenSharp.Generation;

namespace QwenSharp.Server.OpenAi;

/// <summary>The server's caps on prompt and output length, checked before a request reaches the engine.</summary>
public static class Limits
{
    /// <summary>
    /// Checks the prompt against --max-prompt-tokens and the context, and max_tokens against the room left
    /// (400 context_length_exceeded, OpenAI's code). A max_tokens the server chose is shortened to fit instead.
    /// </summary>
    public static SamplingParams CheckPrompt(int promptTokens, SamplingParams sampling, bool maxTokensRequested, QwenServerOptions server, int maxModelLength, string param)
    {
        if (server.MaxPromptTokens is int cap && promptTokens > cap)
            throw OpenAiException.BadRequest($"the prompt has {promptTokens} tokens; this server accepts at most {cap}", param, "context_length_exceeded");
        if (promptTokens >= maxModelLength)
            throw OpenAiException.BadRequest($"This model's maximum context length is {maxModelLength} tokens. However, your prompt has {promptTokens} tokens.", param, "context_length_exceeded");
        int room = maxModelLength - promptTokens;
        if (sampling.MaxTokens is int m && m > room)
        {
            if (maxTokensRequested)
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {maxModelLength} tokens. However, you requested {promptTokens + m} tokens ({promptTokens} in the prompt, {m} for the completion).",
                    "max_tokens", "context_length_exceeded");
            sampling = sampling with { MaxTokens = room };
        }
        return sampling;
    }
}

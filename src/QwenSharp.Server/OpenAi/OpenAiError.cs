using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using QwenSharp.Generation;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// An error answered in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with an
/// HTTP status. Thrown anywhere while a request is handled; never carries a stack trace to the client.
/// </summary>
public sealed class OpenAiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Seconds for a Retry-After header (429, 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>400: the request cannot be read (malformed JSON, a wrong type, an unknown or missing field).</summary>
    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, param: param, code: code);

    /// <summary>422: the request was read but a value is out of range or cannot be served.</summary>
    public static OpenAiException Unprocessable(string message, string? param = null, string? code = "invalid_value") => new(422, message, param: param, code: code);

    public static OpenAiException NotFound(string message, string? code = "not_found", string? param = null) => new(404, message, param: param, code: code);

    public static OpenAiException Overloaded(string message, int retryAfter) => new(503, message, "server_error", code: "overloaded") { RetryAfterSeconds = retryAfter };
}

/// <summary>Writes OpenAI-shaped error bodies.</summary>
public static class OpenAiErrors
{
    public static JsonObject Body(string message, string type, string? param, string? code) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    public static Task Write(HttpContext ctx, OpenAiException e) =>
        Write(ctx, e.Status, e.Message, e.Type, e.Param, e.Code, e.RetryAfterSeconds);

    public static async Task Write(HttpContext ctx, int status, string message, string type, string? param = null, string? code = null, int? retryAfter = null)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        if (retryAfter is int s) ctx.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (status == StatusCodes.Status401Unauthorized) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(Body(message, type, param, code).ToJsonString(JsonText.Options), ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The error body for a bare status code (routing's 404/405, Kestrel's 413...).</summary>
    public static (string Message, string Type, string? Code) ForStatus(int status, string path) => status switch
    {
        400 => ("the request could not be read", "invalid_request_error", null),
        401 => ("a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "invalid_api_key"),
        404 => ($"no endpoint {path}", "invalid_request_error", "not_found"),
        405 => ($"method not allowed on {path}", "invalid_request_error", "method_not_allowed"),
        408 => ("the request took too long to arrive", "invalid_request_error", "timeout"),
        411 => ("a Content-Length is required", "invalid_request_error", null),
        413 => ("the request body is too large", "invalid_request_error", "request_too_large"),
        415 => ("unsupported media type: send application/json", "invalid_request_error", null),
        429 => ("too many requests; try again later", "rate_limit_exceeded", "rate_limit_exceeded"),
        503 => ("the server is not available now; try again later", "server_error", "unavailable"),
        >= 500 => ("the server failed to answer this request", "server_error", null),
        _ => ($"HTTP {status}", "invalid_request_error", null),
    };
}

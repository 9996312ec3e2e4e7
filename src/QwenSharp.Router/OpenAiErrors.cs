using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace QwenSharp.Router;

/// <summary>Errors the router answers itself, in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public static class OpenAiErrors
{
    public static JsonObject Body(string message, string type, string? code, string? param = null) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    public static async Task WriteAsync(HttpContext ctx, int status, string message, string type, string? code, int? retryAfterSeconds = null)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        if (retryAfterSeconds is int s) ctx.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(Body(message, type, code).ToJsonString(), ctx.RequestAborted).ConfigureAwait(false);
    }
}

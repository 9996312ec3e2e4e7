using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace QwenSharp.Router;

/// <summary>GET /v1/models: the replicas' lists, asked now, merged (each id once, in replica order).</summary>
public sealed class ModelsEndpoint(BackendPool pool, HealthMonitor monitor, RouterProxy proxy)
{
    public async Task HandleAsync(HttpContext ctx)
    {
        if (!proxy.IsAuthorized(ctx.Request))
        {
            pool.Metrics.Request(RouterMetrics.NoBackend, 401);
            await OpenAiErrors.WriteAsync(ctx, 401, "a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "invalid_api_key").ConfigureAwait(false);
            return;
        }
        var usable = pool.Backends.Where(b => b.IsUsable).ToList();
        var lists = await Task.WhenAll(usable.Select(b => monitor.RefreshModelsAsync(b, ctx.RequestAborted))).ConfigureAwait(false);
        if (lists.All(l => l is null))
        {
            pool.Metrics.Request(RouterMetrics.NoBackend, 503);
            await OpenAiErrors.WriteAsync(ctx, 503, "no model server is available now; try again later", "server_error", "unavailable", 1).ConfigureAwait(false);
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var data = new JsonArray();
        foreach (var list in lists)
        {
            if (list is null) continue;
            foreach (var m in list)
                if (seen.Add(m.GetProperty("id").GetString()!)) data.Add(JsonNode.Parse(m.GetRawText()));
        }
        pool.Metrics.Request(RouterMetrics.NoBackend, 200);
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(new JsonObject { ["object"] = "list", ["data"] = data }.ToJsonString(), ctx.RequestAborted).ConfigureAwait(false);
    }
}

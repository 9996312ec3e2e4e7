using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace QwenSharp.Router;

/// <summary>Hosting the router in an ASP.NET Core app: <c>builder.Services.AddQwenSharpRouter(o => ...)</c>, then <c>app.MapQwenSharpRouter()</c>.</summary>
public static class RouterEndpoints
{
    /// <summary>Registers the router: replicas, YARP's forwarder, the health monitor (a hosted service).</summary>
    public static IServiceCollection AddQwenSharpRouter(this IServiceCollection services, Action<RouterOptions> configure)
    {
        services.Configure(configure);
        return AddServices(services);
    }

    /// <summary>Registers the router with a ready options object.</summary>
    public static IServiceCollection AddQwenSharpRouter(this IServiceCollection services, RouterOptions options)
    {
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        return AddServices(services);
    }

    static IServiceCollection AddServices(IServiceCollection services)
    {
        services.AddHttpForwarder();
        services.AddSingleton<BackendPool>();
        services.AddSingleton<RouterProxy>();
        services.AddSingleton<ModelsEndpoint>();
        services.AddSingleton<HealthMonitor>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<HealthMonitor>());
        return services;
    }

    /// <summary>
    /// Maps the OpenAI endpoints (POST /v1/chat/completions and /v1/completions with prefix routing, GET /v1/models
    /// merged, anything else under /v1 plus /tokenize and /detokenize forwarded by model) and the router's own
    /// GET /health (live), /ready (some replica passed its check) and /metrics (Prometheus text).
    /// </summary>
    public static RouteGroupBuilder MapQwenSharpRouter(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        var group = endpoints.MapGroup(prefix);
        var mount = new PathString(string.IsNullOrEmpty(prefix) || prefix == "/" ? null : "/" + prefix.Trim('/'));
        group.MapPost("/v1/chat/completions", (HttpContext ctx, RouterProxy p) => p.HandleAsync(ctx, RequestKind.Chat, mount));
        group.MapPost("/v1/completions", (HttpContext ctx, RouterProxy p) => p.HandleAsync(ctx, RequestKind.Completion, mount));
        group.MapGet("/v1/models", (HttpContext ctx, ModelsEndpoint m) => m.HandleAsync(ctx));
        group.Map("/v1/{**rest}", (HttpContext ctx, RouterProxy p) => p.HandleAsync(ctx, RequestKind.Other, mount));
        group.MapPost("/tokenize", (HttpContext ctx, RouterProxy p) => p.HandleAsync(ctx, RequestKind.Other, mount));
        group.MapPost("/detokenize", (HttpContext ctx, RouterProxy p) => p.HandleAsync(ctx, RequestKind.Other, mount));
        group.MapGet("/health", () => Json(new JsonObject { ["status"] = "ok" }));
        group.MapGet("/ready", (BackendPool pool) => pool.AnyHealthy
            ? Json(new JsonObject { ["status"] = "ready", ["backends"] = pool.Backends.Count(b => b.Health == BackendHealth.Healthy) })
            : Json(OpenAiErrors.Body("no model server is available", "server_error", "unavailable"), 503));
        group.MapGet("/metrics", (HttpContext ctx, BackendPool pool, RouterProxy proxy) =>
            pool.Options.MetricsRequireKey && !proxy.IsAuthorized(ctx.Request)
                ? Json(OpenAiErrors.Body("a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "invalid_api_key"), 401)
                : Results.Text(pool.Metrics.ToPrometheusText(pool.Backends), "text/plain; version=0.0.4; charset=utf-8"));
        return group;
    }

    /// <summary>A JSON response from a node (as Results.Json writes it, without serialization by reflection: NativeAOT-safe).</summary>
    internal static IResult Json(JsonNode body, int statusCode = 200) =>
        Results.Text(body.ToJsonString(), "application/json; charset=utf-8", statusCode: statusCode);
}

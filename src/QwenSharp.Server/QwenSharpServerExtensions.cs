using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using QwenSharp.Generation;
using QwenSharp.Server.Hosting;
using QwenSharp.Server.Metrics;
using QwenSharp.Server.OpenAi;
using QwenSharp.Server.Security;

namespace QwenSharp.Server;

/// <summary>
/// Hosting the OpenAI-compatible endpoints in any ASP.NET Core app:
/// <code>
/// builder.Services.AddQwenSharp(Qwen.Load("models/Qwen3-0.6B"), o => o.ApiKeys.Add(key));
/// var app = builder.Build();
/// app.UseRateLimiter();          // when RequestsPerMinute is set
/// app.MapQwenSharpOpenAi();      // /v1/chat/completions, /v1/completions, /v1/models, /tokenize, /detokenize, /health, /ready, /metrics
/// </code>
/// </summary>
public static class QwenSharpServerExtensions
{
    /// <summary>Registers the model (not disposed by the container: the caller owns it) and the server's services.</summary>
    public static IServiceCollection AddQwenSharp(this IServiceCollection services, Qwen qwen, Action<QwenServerOptions>? configure = null)
    {
        services.AddSingleton(qwen);
        return AddServices(services, configure);
    }

    /// <summary>Registers a model created (and disposed) by the container, and the server's services.</summary>
    public static IServiceCollection AddQwenSharp(this IServiceCollection services, Func<IServiceProvider, Qwen> factory, Action<QwenServerOptions>? configure = null)
    {
        services.AddSingleton(factory);
        return AddServices(services, configure);
    }

    static IServiceCollection AddServices(IServiceCollection services, Action<QwenServerOptions>? configure)
    {
        var options = services.AddOptions<QwenServerOptions>();
        if (configure != null) options.Configure(configure);
        services.AddMetrics();
        services.AddSingleton<ServedModels>();
        services.AddSingleton<ClientAuthenticator>();
        services.AddSingleton<TokenRateLimiter>();
        services.AddSingleton(sp => new TokenBytes(sp.GetRequiredService<Qwen>().Tokenizer));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ServerMetrics>(sp, sp.GetRequiredService<Qwen>().Engine));
        services.AddSingleton<ServerLifecycle>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerLifecycle>());
        services.AddSingleton<EndpointRunner>();
        services.AddSingleton<ChatCompletionsHandler>();
        services.AddSingleton<CompletionsHandler>();
        services.AddSingleton<TokenizeHandler>();
        services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ServerMetrics.MeterName)
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        services.AddRateLimiter(o => o.AddPolicy<string, RequestRatePolicy>(RequestRatePolicy.Name));
        // The host must give in-flight streams their drain time before it gives up.
        services.AddOptions<HostOptions>().PostConfigure<IOptions<QwenServerOptions>>((host, q) =>
        {
            var need = q.Value.ShutdownTimeout + TimeSpan.FromSeconds(10);
            if (host.ShutdownTimeout < need) host.ShutdownTimeout = need;
        });
        return services;
    }

    /// <summary>
    /// Maps the endpoints under <paramref name="prefix"/>: POST /v1/chat/completions, /v1/completions,
    /// /tokenize, /detokenize; GET /v1/models, /v1/models/{id}, /health, /ready, /metrics. Unknown /v1
    /// paths answer 404 in OpenAI's error shape. With RequestsPerMinute set, call <c>app.UseRateLimiter()</c>.
    /// </summary>
    public static IEndpointConventionBuilder MapQwenSharpOpenAi(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        var sp = endpoints.ServiceProvider;
        var options = sp.GetRequiredService<IOptions<QwenServerOptions>>().Value;
        var qwen = sp.GetRequiredService<Qwen>();
        var models = sp.GetRequiredService<ServedModels>();
        var runner = sp.GetRequiredService<EndpointRunner>();
        var lifecycle = sp.GetRequiredService<ServerLifecycle>();
        var auth = sp.GetRequiredService<ClientAuthenticator>();
        var chat = sp.GetRequiredService<ChatCompletionsHandler>();
        var completions = sp.GetRequiredService<CompletionsHandler>();
        var tokenize = sp.GetRequiredService<TokenizeHandler>();

        var root = endpoints.MapGroup(prefix);

        // Liveness and readiness: no key needed (probes), no model text.
        root.MapGet("/health", (HttpContext ctx) => WriteJson(ctx, 200, new JsonObject { ["status"] = "ok" }));
        root.MapGet("/ready", (HttpContext ctx) => lifecycle.Ready
            ? WriteJson(ctx, 200, new JsonObject { ["status"] = "ready", ["model"] = models.Name })
            : OpenAiErrors.Write(ctx, 503, lifecycle.Draining ? "the server is shutting down" : "the model is warming up", "server_error",
                code: lifecycle.Draining ? "shutting_down" : "not_ready", retryAfter: lifecycle.Draining ? null : 1));

        endpoints.MapPrometheusScrapingEndpoint(prefix + "/metrics", meterProvider: null, configureBranchedPipeline: branch =>
        {
            if (options.MetricsRequireKey)
                branch.Use(async (ctx, next) =>
                {
                    if (!auth.Identify(ctx).Allowed)
                    {
                                await OpenAiErrors.Write(ctx, 401, "a valid API key is required for /metrics", "invalid_request_error", code: "invalid_api_key");
                        return;
                    }
                    await next(ctx);
                });
            VllmMetrics.UseVllmAppend(branch, qwen.Engine, () => models.Name);
        }, optionsName: null);

        var api = root.MapGroup("");
        api.MapPost("/v1/chat/completions", (HttpContext ctx) => runner.RunAsync(ctx, "chat.completions", "chatcmpl-", true, chat.HandleAsync));
        api.MapPost("/v1/completions", (HttpContext ctx) => runner.RunAsync(ctx, "completions", "cmpl-", true, completions.HandleAsync));
        api.MapGet("/v1/models", (HttpContext ctx) => runner.RunAsync(ctx, "models", "models-", false, s => WriteJson(s.Http, 200, models.List())));
        api.MapGet("/v1/models/{**id}", (HttpContext ctx, string id) => runner.RunAsync(ctx, "models", "models-", false, s =>
            models.Find(id) is { } m ? WriteJson(s.Http, 200, m) : throw OpenAiException.NotFound($"The model '{id}' does not exist", "model_not_found", "model")));
        api.MapPost("/tokenize", (HttpContext ctx) => runner.RunAsync(ctx, "tokenize", "tok-", false, tokenize.TokenizeAsync));
        api.MapPost("/detokenize", (HttpContext ctx) => runner.RunAsync(ctx, "detokenize", "tok-", false, tokenize.DetokenizeAsync));
        // Anything else under /v1: OpenAI's 404 (or 405 for a known path with the wrong method).
        api.Map("/v1/{**rest}", (HttpContext ctx) => runner.RunAsync(ctx, "unknown", "req-", false, s =>
        {
            string path = s.Http.Request.Path.Value ?? "";
            if (path.EndsWith('/')) path = path.TrimEnd('/');
            bool known = path.EndsWith("/v1/chat/completions", StringComparison.Ordinal) || path.EndsWith("/v1/completions", StringComparison.Ordinal) || path.EndsWith("/v1/models", StringComparison.Ordinal);
            throw known
                ? new OpenAiException(405, $"{s.Http.Request.Method} is not allowed on {path}", code: "method_not_allowed")
                : OpenAiException.NotFound($"no endpoint {s.Http.Request.Method} {path}");
        }));
        if (options.RequestsPerMinute is not null) api.RequireRateLimiting(RequestRatePolicy.Name);
        return root;
    }

    /// <summary>
    /// Error bodies in OpenAI's shape for what the endpoints do not answer themselves: unknown routes
    /// (404), wrong methods (405), unhandled exceptions (500, without a stack trace).
    /// </summary>
    public static IApplicationBuilder UseQwenSharpErrors(this IApplicationBuilder app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = ctx => OpenAiErrors.Write(ctx, 500, "the server failed to answer this request", "server_error"),
        });
        app.UseStatusCodePages(async status =>
        {
            var ctx = status.HttpContext;
            var (message, type, code) = OpenAiErrors.ForStatus(ctx.Response.StatusCode, ctx.Request.Path.Value ?? "");
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(OpenAiErrors.Body(message, type, null, code).ToJsonString(JsonText.Options));
        });
        return app;
    }

    static Task WriteJson(HttpContext ctx, int status, JsonObject body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(body.ToJsonString(JsonText.Options), ctx.RequestAborted);
    }
}

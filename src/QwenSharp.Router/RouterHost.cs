using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace QwenSharp.Router;

/// <summary>The standalone router (what <c>qwensharp router</c> runs): Kestrel on one address, the router's endpoints,
/// OpenAI-shaped 404s for anything else.</summary>
public static class RouterHost
{
    /// <summary>
    /// Builds the app. Without API keys it binds loopback addresses only, unless <paramref name="allowInsecure"/>:
    /// an open router would let anyone use the replicas behind it.
    /// </summary>
    public static WebApplication Create(RouterOptions options, string host = "127.0.0.1", int port = 8000, bool allowInsecure = false,
        Action<ILoggingBuilder>? logging = null)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--port: {port} is not a TCP port (0-65535)");
        if (options.Backends.Count == 0 && options.BackendDnsNames.Count == 0) throw new ArgumentException("--backend: give at least one replica URL (or --backend-dns)");
        _ = new BackendPool(options); // validates the list (duplicates) before anything listens
        bool loopback = host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
        if (!loopback && options.ApiKeys.Count == 0 && !allowInsecure)
            throw new ArgumentException($"--host {host}: refusing to listen beyond this machine without --api-key (pass --insecure to do it anyway)");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logging is not null) logging(builder.Logging);
        else builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (host == "localhost") k.ListenLocalhost(port);
            else if (IPAddress.TryParse(host, out var addr)) k.Listen(addr, port);
            else throw new ArgumentException($"--host: '{host}' is not an IP address or localhost");
        });
        builder.Services.AddQwenSharpRouter(options);

        var app = builder.Build();
        app.MapQwenSharpRouter();
        app.MapFallback((HttpContext ctx) => RouterEndpoints.Json(
            OpenAiErrors.Body($"no endpoint {ctx.Request.Method} {ctx.Request.Path}", "invalid_request_error", "not_found"), 404));
        return app;
    }

    /// <summary>The addresses the started app listens on (with the real port when 0 was asked).</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.ToList() ?? [];
}

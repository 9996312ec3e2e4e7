using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace QwenSharp.Server.Hosting;

/// <summary>A bind address the server refuses (non-loopback without API keys, or not an address).</summary>
public sealed class ServerConfigurationException(string message) : Exception(message);

/// <summary>
/// The standalone server `qwensharp serve` runs (also used by the tests and the load benchmark): Kestrel
/// on one address, the OpenAI endpoints, OpenAI-shaped error pages, rate limiting, graceful shutdown.
/// <code>
/// await using var app = QwenServer.Create(qwen, new QwenServerOptions(), "127.0.0.1", 8080);
/// await app.RunAsync();
/// </code>
/// </summary>
public static class QwenServer
{
    /// <summary>
    /// Builds the web application (not started). Binding a non-loopback address needs API keys or
    /// <see cref="QwenServerOptions.AllowInsecure"/>; otherwise <see cref="ServerConfigurationException"/>.
    /// </summary>
    public static WebApplication Create(Qwen qwen, QwenServerOptions options, string host = "127.0.0.1", int port = 8080, Action<ILoggingBuilder>? logging = null)
    {
        var address = CheckHost(host, options);
        if (port is < 0 or > 65535) throw new ServerConfigurationException($"--port: {port} is not a port number (0..65535)");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (address is null) k.ListenLocalhost(port);
            else k.Listen(address, port);
        });
        builder.Logging.ClearProviders();
        if (logging != null) logging(builder.Logging);
        else builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddQwenSharp(qwen, o => Copy(options, o));

        var app = builder.Build();
        app.UseQwenSharpErrors();
        app.UseRateLimiter();
        app.MapQwenSharpOpenAi();
        return app;
    }

    /// <summary>The addresses Kestrel listens on, once started (with the real port when 0 was asked).</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    /// <summary>null means "localhost" (both loopback addresses).</summary>
    static IPAddress? ParseHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return null;
        string h = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (h == "*") return IPAddress.IPv6Any;
        return IPAddress.TryParse(h, out var ip) ? ip
            : throw new ServerConfigurationException($"--host: '{host}' is not an IP address or 'localhost'");
    }

    /// <summary>
    /// Parses a listen address and applies the rule: without API keys, loopback only, unless AllowInsecure.
    /// Returns the address (null for "localhost", both loopback addresses).
    /// </summary>
    public static IPAddress? CheckHost(string host, QwenServerOptions options)
    {
        var address = ParseHost(host);
        CheckBinding(host, address, options);
        return address;
    }

    static void CheckBinding(string host, IPAddress? address, QwenServerOptions options)
    {
        bool loopback = address is null || IPAddress.IsLoopback(address);
        if (loopback || options.ApiKeys.Count > 0 || options.AllowInsecure) return;
        throw new ServerConfigurationException(
            $"refusing to listen on {host} without API keys: anyone who can reach this address could use the model. " +
            "Set --api-key / --api-keys-file / QWENSHARP_API_KEY, bind 127.0.0.1, or pass --insecure if something else guards the port.");
    }

    static void Copy(QwenServerOptions from, QwenServerOptions to)
    {
        to.ModelName = from.ModelName;
        foreach (var a in from.ModelAliases) to.ModelAliases.Add(a);
        foreach (var a in from.Adapters) to.Adapters.Add(a);
        foreach (var k in from.ApiKeys) to.ApiKeys.Add(k);
        to.AllowInsecure = from.AllowInsecure;
        to.MetricsRequireKey = from.MetricsRequireKey;
        to.LogPrompts = from.LogPrompts;
        to.RequestsPerMinute = from.RequestsPerMinute;
        to.TokensPerMinute = from.TokensPerMinute;
        to.MaxBodyBytes = from.MaxBodyBytes;
        to.MaxPromptTokens = from.MaxPromptTokens;
        to.MaxTokensCap = from.MaxTokensCap;
        to.MaxSequencesPerRequest = from.MaxSequencesPerRequest;
        foreach (var (k, v) in from.DefaultTemplateKwargs) to.DefaultTemplateKwargs[k] = v?.DeepClone();
        to.RejectUnknownFields = from.RejectUnknownFields;
        to.WarmUp = from.WarmUp;
        to.ShutdownTimeout = from.ShutdownTimeout;
        to.OverloadRetryAfterSeconds = from.OverloadRetryAfterSeconds;
        to.ConfigureGeneration = from.ConfigureGeneration;
        to.ConfigureCompletionSampling = from.ConfigureCompletionSampling;
    }
}

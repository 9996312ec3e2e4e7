using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using QwenSharp.Server.Hosting;
using QwenSharp.Server.Metrics;
using QwenSharp.Server.Security;

namespace QwenSharp.Server.OpenAi;

/// <summary>What a handler knows about the request it serves.</summary>
public sealed class RequestScope
{
    public required HttpContext Http { get; init; }
    public required string Endpoint { get; init; }
    public required string Id { get; init; }
    public required ClientIdentity Client { get; init; }
    /// <summary>Cancelled when the client goes away or the shutdown timeout ends.</summary>
    public required CancellationTokenSource Cancel { get; init; }
    public required long Start { get; init; }
    public CancellationToken Token => Cancel.Token;
    /// <summary>Set by the handler for the request log line.</summary>
    public string? Summary { get; set; }
}

/// <summary>
/// Runs an endpoint handler with what every request needs: readiness and drain checks, in-flight
/// tracking, cancellation on disconnect or shutdown, OpenAI-shaped errors (never a stack trace), the
/// request metrics and one log line without prompt text.
/// </summary>
public sealed class EndpointRunner(ServerLifecycle lifecycle, ServerMetrics metrics, ClientAuthenticator auth, ILogger<EndpointRunner> log)
{
    /// <param name="ctx">The request.</param>
    /// <param name="endpoint">Name for logs and metrics ("chat.completions", ...).</param>
    /// <param name="idPrefix">Prefix of the request id ("chatcmpl-").</param>
    /// <param name="generation">The request runs the model: refused while warming up or draining, counted in flight.</param>
    /// <param name="handler">The endpoint's work.</param>
    public async Task RunAsync(HttpContext ctx, string endpoint, string idPrefix, bool generation, Func<RequestScope, Task> handler)
    {
        long start = Stopwatch.GetTimestamp();
        string id = idPrefix + Guid.NewGuid().ToString("N")[..24];
        int status = 200;
        string? errorType = null;
        string? errorMessage = null;
        RequestScope? scope = null;
        try
        {
            var client = auth.Identify(ctx);
            if (!client.Allowed)
            {
                throw new OpenAiException(401, auth.Keys.Enabled && ctx.Request.Headers.Authorization.Count > 0
                    ? "Incorrect API key provided."
                    : "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.", code: "invalid_api_key");
            }
            if (generation && !lifecycle.Ready)
                throw lifecycle.Draining
                    ? new OpenAiException(503, "the server is shutting down", "server_error", code: "shutting_down")
                    : new OpenAiException(503, "the model is still warming up; try again shortly", "server_error", code: "not_ready") { RetryAfterSeconds = 1 };
            using var inFlight = generation ? lifecycle.Enter() : null;
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifecycle.Stopping);
            scope = new RequestScope { Http = ctx, Endpoint = endpoint, Id = id, Client = client, Cancel = cancel, Start = start };
            await handler(scope).ConfigureAwait(false);
            status = ctx.Response.StatusCode;
        }
        catch (OpenAiException e)
        {
            status = e.Status;
            errorType = e.Type;
            errorMessage = e.Code ?? e.Type;
            await OpenAiErrors.Write(ctx, e).ConfigureAwait(false);
        }
        catch (Exception e) when (ctx.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            status = 499; // the client closed the connection (nginx's code)
            errorType = "client_closed";
        }
        catch (Exception e) when (lifecycle.Stopping.IsCancellationRequested && e is OperationCanceledException)
        {
            status = 503;
            errorType = "server_error";
            await OpenAiErrors.Write(ctx, 503, "the server is shutting down", "server_error", code: "shutting_down").ConfigureAwait(false);
        }
        catch (Exception e)
        {
            status = 500;
            errorType = "server_error";
            log.LogError(e, "{Endpoint} {RequestId} failed", endpoint, id);
            await OpenAiErrors.Write(ctx, 500, $"the server failed to answer this request (request id {id})", "server_error").ConfigureAwait(false);
        }
        finally
        {
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            metrics.Request(endpoint, status, errorType);
            if (generation) metrics.RequestDuration(endpoint, seconds);
            log.LogInformation("{Endpoint} {RequestId} client={Client} status={Status} {Summary} duration_ms={Duration}",
                endpoint, id, scope?.Client.Id ?? auth.Identify(ctx).Id, status, scope?.Summary ?? errorMessage ?? "", (int)(seconds * 1000));
        }
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace QwenSharp.Router;

/// <summary>Which kind of request is forwarded: it decides how the prompt prefix is read.</summary>
public enum RequestKind
{
    /// <summary>POST /v1/chat/completions: prefix from tools and messages.</summary>
    Chat,
    /// <summary>POST /v1/completions: prefix from the prompt.</summary>
    Completion,
    /// <summary>Anything else under /v1 and /tokenize, /detokenize: routed by <c>model</c> only, to the least-loaded replica.</summary>
    Other,
}

/// <summary>
/// Forwards one client request with YARP's <see cref="IHttpForwarder"/>: reads the body (a router must, to route
/// it), chooses a replica (<see cref="RoutingPolicy"/>), forwards, and if the attempt fails before anything reached
/// the client (connection refused or reset, a 503 from the replica), tries the next replica. Response bodies are
/// not buffered: server-sent events go to the client as they arrive.
/// </summary>
public sealed class RouterProxy : IDisposable
{
    static readonly object AttemptKey = new();
    readonly BackendPool _pool;
    readonly IHttpForwarder _forwarder;
    readonly HttpMessageInvoker _client;
    readonly ForwarderRequestConfig _config;
    readonly ApiKeyCheck _keys;
    readonly Transformer _transformer;
    readonly ILogger _logger;

    public RouterProxy(BackendPool pool, IHttpForwarder forwarder, ILogger<RouterProxy> logger)
    {
        _pool = pool;
        _forwarder = forwarder;
        _logger = logger;
        _keys = new ApiKeyCheck(pool.Options.ApiKeys);
        _transformer = new Transformer(pool.Options, _keys.Enabled);
        var sockets = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = pool.Options.ConnectTimeout,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(System.Diagnostics.DistributedContextPropagator.Current),
        };
        _client = new HttpMessageInvoker(new SseGuardHandler(sockets, OnStreamFailure));
        _config = new ForwarderRequestConfig { ActivityTimeout = pool.Options.ActivityTimeout };
    }

    /// <summary>Whether the request carries one of the router's keys (always true without keys).</summary>
    public bool IsAuthorized(HttpRequest request) => _keys.IsAuthorized(request);

    /// <param name="ctx">The client's request.</param>
    /// <param name="kind">How to read its prompt prefix.</param>
    /// <param name="mountPath">Where the router's endpoints are mapped in the host app (e.g. <c>/llm</c>): taken off the
    /// path sent to the replica, which serves /v1/... at its root.</param>
    public async Task HandleAsync(HttpContext ctx, RequestKind kind, PathString mountPath = default)
    {
        if (mountPath.HasValue && ctx.Request.Path.StartsWithSegments(mountPath, out var rest))
        {
            ctx.Request.PathBase = ctx.Request.PathBase.Add(mountPath);
            ctx.Request.Path = rest;
        }
        if (!_keys.IsAuthorized(ctx.Request))
        {
            await Answer(ctx, 401, "a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "invalid_api_key").ConfigureAwait(false);
            return;
        }
        byte[]? body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null) return;

        var prefix = _pool.Options.Prefix;
        PrefixKey? key = kind switch
        {
            RequestKind.Chat => PrefixKey.FromChatRequest(body, prefix),
            RequestKind.Completion => PrefixKey.FromCompletionRequest(body, prefix),
            _ => null,
        };
        string? model = key is not null ? key.Model : ModelOf(body);

        var tried = new List<Backend>();
        int maxAttempts = Math.Max(1, _pool.Options.MaxAttempts);
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var decision = _pool.Policy.Choose(model, key, tried);
            if (decision is null) break;
            var backend = decision.Backend;
            tried.Add(backend);
            _pool.Metrics.Routed(decision.Reason);

            if (attempt > 0) ResetForRetry(ctx);
            ctx.Request.Body = new MemoryStream(body, writable: false);
            if (body.Length > 0 || ctx.Request.ContentLength is not null)
            {
                ctx.Request.Headers.Remove("Transfer-Encoding");
                ctx.Request.ContentLength = body.Length;
            }
            var state = new Attempt(backend, canRetry: attempt + 1 < maxAttempts && _pool.Policy.AnyCandidate(tried));
            ctx.Items[AttemptKey] = state;

            ForwarderError error;
            backend.Enter();
            try
            {
                error = await _forwarder.SendAsync(ctx, backend.Prefix, _client, _config, _transformer).ConfigureAwait(false);
            }
            finally
            {
                backend.Leave();
            }

            if (state.RetriedStatus is int retried)
            {
                _logger.LogInformation("{Backend} answered {Status}; trying another replica", backend.Name, retried);
                _pool.Metrics.Retry(backend.Name);
                continue;
            }
            if (error == ForwarderError.None)
            {
                _pool.Metrics.Request(backend.Name, ctx.Response.StatusCode);
                return;
            }

            var exception = ctx.GetForwarderErrorFeature()?.Exception;
            if (IsClientSide(error) || ctx.RequestAborted.IsCancellationRequested)
            {
                _pool.Metrics.Request(backend.Name, 499);
                return;
            }
            if (IsReplicaFailure(error))
            {
                _logger.LogWarning("{Backend} failed ({Error}: {Message}); marked unhealthy", backend.Name, error, exception?.Message);
                _pool.MarkUnhealthy(backend, $"request failed: {error}");
            }
            if (!ctx.Response.HasStarted && error != ForwarderError.RequestTimedOut)
            {
                _pool.Metrics.Retry(backend.Name);
                continue;
            }
            // The response had begun (a non-streaming body cut short): nothing can be fixed any more.
            _pool.Metrics.Request(backend.Name, 502);
            if (!ctx.Response.HasStarted)
                await OpenAiErrors.WriteAsync(ctx, 502, $"the model server failed to answer ({error})", "server_error", "backend_failed").ConfigureAwait(false);
            return;
        }

        if (ctx.RequestAborted.IsCancellationRequested) return;
        ResetForRetry(ctx);
        string message = tried.Count == 0
            ? "no model server is available now; try again later"
            : $"no model server could answer this request (tried {tried.Count}); try again later";
        await Answer(ctx, 503, message, "server_error", "unavailable", retryAfter: 1).ConfigureAwait(false);
    }

    async Task Answer(HttpContext ctx, int status, string message, string type, string code, int? retryAfter = null)
    {
        _pool.Metrics.Request(RouterMetrics.NoBackend, status);
        await OpenAiErrors.WriteAsync(ctx, status, message, type, code, retryAfter).ConfigureAwait(false);
    }

    static void ResetForRetry(HttpContext ctx)
    {
        ctx.Features.Set<IForwarderErrorFeature>(null);
        if (!ctx.Response.HasStarted) ctx.Response.Clear();
    }

    /// <summary>Reads the whole request body (null after answering 413 when it is over the limit).</summary>
    async Task<byte[]?> ReadBodyAsync(HttpContext ctx)
    {
        long max = _pool.Options.MaxBodyBytes;
        if (ctx.Request.ContentLength > max)
        {
            await Answer(ctx, 413, $"the request body is larger than {max} bytes", "invalid_request_error", "request_too_large").ConfigureAwait(false);
            return null;
        }
        using var ms = new MemoryStream(ctx.Request.ContentLength is long n ? (int)n : 0);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            int read = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
            if (read == 0) break;
            if (ms.Length + read > max)
            {
                await Answer(ctx, 413, $"the request body is larger than {max} bytes", "invalid_request_error", "request_too_large").ConfigureAwait(false);
                return null;
            }
            ms.Write(buffer, 0, read);
        }
        return ms.ToArray();
    }

    static string? ModelOf(byte[] body)
    {
        if (body.Length == 0) return null;
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isModel = reader.ValueTextEquals("model"u8);
                if (!reader.Read()) return null;
                if (isModel) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
        }
        catch (JsonException) { }
        return null;
    }

    static bool IsClientSide(ForwarderError e) => e is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled
        or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient;

    static bool IsReplicaFailure(ForwarderError e) => e is ForwarderError.Request or ForwarderError.RequestBodyDestination
        or ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination;

    void OnStreamFailure(Backend backend, Exception e)
    {
        _logger.LogWarning("{Backend} failed mid-stream ({Message}); the stream was ended with an error event", backend.Name, e.Message);
        _pool.Metrics.StreamError(backend.Name);
        _pool.MarkUnhealthy(backend, "failed mid-stream");
    }

    public void Dispose() => _client.Dispose();

    /// <summary>One attempt at forwarding a request: where it goes, and whether a 503 may still be retried elsewhere.</summary>
    sealed class Attempt(Backend backend, bool canRetry)
    {
        public Backend Backend { get; } = backend;
        public bool CanRetry { get; } = canRetry;
        public int? RetriedStatus { get; set; }
    }

    /// <summary>Copies the request as YARP does by default, sets the replica's key, and turns a 503 answer into a
    /// retry while other replicas remain.</summary>
    sealed class Transformer(RouterOptions options, bool routerHasKeys) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext ctx, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(ctx, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            var attempt = (Attempt)ctx.Items[AttemptKey]!;
            proxyRequest.Options.Set(SseGuardHandler.BackendKey, attempt.Backend);
            var key = attempt.Backend.Options.ApiKey ?? options.BackendApiKey;
            if (key is not null) proxyRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            else if (routerHasKeys) proxyRequest.Headers.Authorization = null;
        }

        public override ValueTask<bool> TransformResponseAsync(HttpContext ctx, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            var attempt = (Attempt)ctx.Items[AttemptKey]!;
            if (proxyResponse is { StatusCode: HttpStatusCode.ServiceUnavailable } && attempt.CanRetry)
            {
                attempt.RetriedStatus = (int)proxyResponse.StatusCode;
                return new ValueTask<bool>(false);
            }
            if (options.BackendHeader is { } header) ctx.Response.Headers[header] = attempt.Backend.Name;
            return base.TransformResponseAsync(ctx, proxyResponse, cancellationToken);
        }
    }
}

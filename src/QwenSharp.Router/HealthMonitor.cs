using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace QwenSharp.Router;

/// <summary>
/// Active checks: every <see cref="RouterOptions.HealthCheckInterval"/>, the DNS names of
/// <see cref="RouterOptions.BackendDnsNames"/> are resolved again, then each replica's GET /ready (200: healthy,
/// anything else or no answer: unhealthy) and GET /metrics (its load) are read; its /v1/models when it turns
/// healthy and every <see cref="RouterOptions.ModelsRefreshInterval"/>. Replicas are checked concurrently, each
/// within <see cref="RouterOptions.HealthCheckTimeout"/>, so a slow one does not hold up the others for long.
/// </summary>
public sealed class HealthMonitor(BackendPool pool, ILogger<HealthMonitor> logger) : BackgroundService
{
    readonly HttpClient _http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectTimeout = pool.Options.HealthCheckTimeout,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    })
    { Timeout = pool.Options.HealthCheckTimeout };

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(pool.Options.HealthCheckInterval);
        do
        {
            try { await CheckAllAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) { logger.LogWarning(e, "checking the replicas failed"); }
        }
        while (await NextTick(timer, ct).ConfigureAwait(false));
    }

    /// <summary>One round: DNS names resolved again, then every replica checked (also called by tests to skip the wait).</summary>
    public async Task CheckAllAsync(CancellationToken ct)
    {
        if (pool.Options.BackendDnsNames.Count > 0)
        {
            var before = pool.Backends;
            foreach (var failure in await pool.RefreshDnsAsync(ct).ConfigureAwait(false)) logger.LogWarning("cannot resolve {Failure}", failure);
            var after = pool.Backends;
            foreach (var b in after.Except(before)) logger.LogInformation("replica {Backend} found", b.Name);
            foreach (var b in before.Except(after)) logger.LogInformation("replica {Backend} gone from DNS", b.Name);
        }
        await Task.WhenAll(pool.Backends.Select(b => CheckGuardedAsync(b, ct))).ConfigureAwait(false);
    }

    async Task CheckGuardedAsync(Backend b, CancellationToken ct)
    {
        try { await CheckAsync(b, ct).ConfigureAwait(false); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e) { logger.LogWarning(e, "checking {Backend} failed", b.Name); }
    }

    static async Task<bool> NextTick(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>One round of checks of one replica (also called by tests to skip the wait).</summary>
    public async Task CheckAsync(Backend b, CancellationToken ct)
    {
        var was = b.Health;
        string? failure = null;
        try
        {
            using var resp = await SendAsync(b, "ready", ct).ConfigureAwait(false);
            if (!resp.IsSuccessStatusCode) failure = $"/ready answered {(int)resp.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            failure = e is TaskCanceledException ? "/ready did not answer in time" : $"/ready failed: {e.Message}";
        }
        if (failure is not null)
        {
            pool.Metrics.HealthCheckFailed(b.Name);
            if (was != BackendHealth.Unhealthy) logger.LogWarning("{Backend} is unhealthy: {Reason}", b.Name, failure);
            pool.MarkUnhealthy(b, failure);
            b.SetLoad(null);
            return;
        }
        pool.MarkHealthy(b);
        if (was != BackendHealth.Healthy) logger.LogInformation("{Backend} is healthy", b.Name);

        try
        {
            using var resp = await SendAsync(b, "metrics", ct).ConfigureAwait(false);
            if (resp.IsSuccessStatusCode)
                b.SetLoad(LoadSnapshot.Parse(await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false), pool.Options.MetricNames, DateTimeOffset.UtcNow));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            // The load stays unknown; the reading ages out.
        }

        if (was != BackendHealth.Healthy || b.Models is null || DateTimeOffset.UtcNow - b.ModelsReadAt >= pool.Options.ModelsRefreshInterval)
            await RefreshModelsAsync(b, ct).ConfigureAwait(false);
    }

    /// <summary>Reads the replica's /v1/models; returns its answer's model objects (null when it did not answer).</summary>
    public async Task<List<JsonElement>?> RefreshModelsAsync(Backend b, CancellationToken ct)
    {
        try
        {
            using var resp = await SendAsync(b, "v1/models", ct).ConfigureAwait(false);
            if (!resp.IsSuccessStatusCode) return null;
            using var doc = JsonDocument.Parse(await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
            if (!doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array) return null;
            var models = new List<JsonElement>();
            var ids = new List<string>();
            foreach (var m in data.EnumerateArray())
            {
                if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String) continue;
                models.Add(m.Clone());
                ids.Add(id.GetString()!);
            }
            b.SetModels(ids);
            return models;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    Task<HttpResponseMessage> SendAsync(Backend b, string path, CancellationToken ct)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, new Uri(b.Name + "/" + path));
        var key = b.Options.ApiKey ?? pool.Options.BackendApiKey;
        if (key is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return _http.SendAsync(req, HttpCompletionOption.ResponseContentRead, ct);
    }

    public override void Dispose()
    {
        base.Dispose();
        _http.Dispose();
    }
}

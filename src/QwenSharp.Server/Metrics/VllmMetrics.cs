using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using QwenSharp.Engine;

namespace QwenSharp.Server.Metrics;

/// <summary>
/// The gauges and counters under vLLM's names (<c>vllm:num_requests_waiting</c>, <c>vllm:kv_cache_usage_perc</c>...)
/// that Kubernetes inference gateways and routers read. OpenTelemetry instrument names cannot contain ':',
/// so these lines are written here and appended to the Prometheus exporter's output at /metrics.
/// </summary>
public static class VllmMetrics
{
    public static string Text(InferenceEngine engine, string modelName)
    {
        var sb = new StringBuilder(1024);
        string label = "{model_name=\"" + Escape(modelName) + "\"}";
        // Text format 0.0.4: a counter's family name is its sample name, "_total" included (as prometheus_client writes it).
        void Metric(string name, string type, string help, double value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(label).Append(' ')
              .Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        double kv = ServerMetrics.KvUsage(engine);
        Metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", engine.QueuedRequests);
        Metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", engine.ActiveSequences);
        Metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", kv);
        Metric("vllm:gpu_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage (older vLLM name).", kv);
        Metric("vllm:prefix_cache_queries_total", "counter", "Prefix-cache queries, in prompt tokens queried.", engine.PrefixCache?.QueriedTokens ?? 0);
        Metric("vllm:prefix_cache_hits_total", "counter", "Prefix-cache hits, in prompt tokens whose KV was reused.", engine.PrefixCache?.HitTokens ?? 0);
        Metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", engine.TotalPromptTokens);
        Metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", engine.TotalCompletionTokens);
        return sb.ToString();
    }

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    /// <summary>
    /// Middleware placed in front of the OpenTelemetry Prometheus exporter: asks it for the classic text
    /// format (uncompressed), buffers its answer and appends <see cref="Text"/>.
    /// </summary>
    public static void UseVllmAppend(IApplicationBuilder app, InferenceEngine engine, Func<string> modelName)
    {
        app.Use(async (ctx, next) =>
        {
            ctx.Request.Headers.Accept = "text/plain; version=0.0.4";
            ctx.Request.Headers.AcceptEncoding = "identity";
            var original = ctx.Response.Body;
            using var buffer = new MemoryStream();
            ctx.Response.Body = buffer;
            try { await next(ctx); }
            finally { ctx.Response.Body = original; }
            if (ctx.Response.StatusCode != StatusCodes.Status200OK)
            {
                buffer.Position = 0;
                await buffer.CopyToAsync(original, ctx.RequestAborted);
                return;
            }
            var extra = Encoding.UTF8.GetBytes(Text(engine, modelName()));
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            ctx.Response.ContentLength = buffer.Length + extra.Length;
            buffer.Position = 0;
            await buffer.CopyToAsync(original, ctx.RequestAborted);
            await original.WriteAsync(extra, ctx.RequestAborted);
        });
    }
}

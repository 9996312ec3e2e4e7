namespace QwenSharp.Router;

/// <summary>What a replica's /metrics said at one moment. Null fields were not in its answer.</summary>
public sealed record LoadSnapshot(double? Waiting, double? Running, double? KvCacheUsage, double? PrefixCacheHits, double? PrefixCacheQueries, DateTimeOffset At)
{
    /// <summary>Reads the metric names of <paramref name="names"/> from a Prometheus text answer.</summary>
    public static LoadSnapshot Parse(string prometheusText, BackendMetricNames names, DateTimeOffset at)
    {
        var sums = PrometheusText.SumByName(prometheusText);
        return new LoadSnapshot(
            PrometheusText.First(sums, names.Waiting),
            PrometheusText.First(sums, names.Running),
            PrometheusText.First(sums, names.KvCacheUsage),
            PrometheusText.First(sums, names.PrefixCacheHits),
            PrometheusText.First(sums, names.PrefixCacheQueries),
            at);
    }
}

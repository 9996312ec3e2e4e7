namespace QwenSharp.Bench;

/// <summary>Tiny --name value parser for the benchmarks.</summary>
public sealed class BenchArgs
{
    readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public BenchArgs(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{args[i]}'");
            string key = args[i][2..];
            string value = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
            _values[key] = value;
        }
    }

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
    public string Get(string name, string fallback) => Get(name) ?? fallback;
    public int GetInt(string name, int fallback) => Get(name) is { } v ? int.Parse(v) : fallback;
    public bool Has(string name) => _values.ContainsKey(name);
}

namespace QwenSharp.Bench;

/// <summary>The process's resident memory split into anonymous (private copies) and file-backed (mapped weights) pages.</summary>
public static class ProcessMemory
{
    /// <summary>"RssAnon N MiB, RssFile N MiB" from /proc/self/status (fields are "Name:\t[spaces]N kB"), or "" off Linux.</summary>
    public static string Breakdown()
    {
        if (!OperatingSystem.IsLinux()) return "";
        var parts = File.ReadLines("/proc/self/status")
            .Where(l => l.StartsWith("RssAnon:", StringComparison.Ordinal) || l.StartsWith("RssFile:", StringComparison.Ordinal))
            .Select(l => l.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries))
            .Select(f => $"{f[0]} {long.Parse(f[1]) / 1024} MiB");
        return string.Join(", ", parts);
    }
}

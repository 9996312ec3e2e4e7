using System.Globalization;

namespace QwenSharp.Catalog;

/// <summary>Parses and prints sizes and context lengths the way the CLI takes them.</summary>
public static class Units
{
    /// <summary>
    /// Parses a memory size: "16GB", "16 GiB", "16g", "512MB", "1.5T", "17179869184". GB and GiB both mean
    /// 2^30 bytes (a "16 GB" machine has 16 GiB); plain numbers are bytes.
    /// </summary>
    public static bool TryParseBytes(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string t = text.Trim().ToUpperInvariant().Replace(" ", "");
        long unit = 1;
        foreach (var (suffix, u) in new (string, long)[] { ("TIB", 1L << 40), ("TB", 1L << 40), ("T", 1L << 40), ("GIB", 1L << 30), ("GB", 1L << 30), ("G", 1L << 30),
                                                            ("MIB", 1L << 20), ("MB", 1L << 20), ("M", 1L << 20), ("KIB", 1L << 10), ("KB", 1L << 10), ("K", 1L << 10), ("B", 1) })
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal)) { unit = u; t = t[..^suffix.Length]; break; }
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v <= 0 || double.IsInfinity(v)) return false;
        double b = v * unit;
        if (b > long.MaxValue / 2) return false;
        bytes = (long)b;
        return bytes > 0;
    }

    /// <summary>Parses a context length: "32k" (= 32768), "128K", "1M" (= 1048576), "8192".</summary>
    public static bool TryParseContext(string? text, out int tokens)
    {
        tokens = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string t = text.Trim().ToUpperInvariant();
        long unit = 1;
        if (t.EndsWith('K')) { unit = 1024; t = t[..^1]; }
        else if (t.EndsWith('M')) { unit = 1024 * 1024; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 1) return false;
        double n = v * unit;
        if (n > 16 * 1024 * 1024) return false;
        tokens = (int)n;
        return true;
    }

    /// <summary>"3.2 GB", "640 MB" (binary units, as in "16GB" of memory).</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 40 => $"{bytes / (double)(1L << 40):0.0#} TB",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0#} GB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0} MB",
        >= 1L << 10 => $"{bytes / 1024.0:0} KB",
        _ => $"{bytes} B",
    };

    /// <summary>"0.6B", "30.5B", "494M".</summary>
    public static string FormatParams(long n) => n >= 1_000_000_000 ? $"{n / 1e9:0.0#}B".Replace(".0B", "B") : $"{n / 1e6:0}M";

    /// <summary>"32K", "128K", "1M", "4096".</summary>
    public static string FormatContext(int tokens) =>
        tokens >= 1 << 20 && tokens % (1 << 20) == 0 ? $"{tokens >> 20}M" : tokens % 1024 == 0 ? $"{tokens / 1024}K" : tokens.ToString(CultureInfo.InvariantCulture);
}

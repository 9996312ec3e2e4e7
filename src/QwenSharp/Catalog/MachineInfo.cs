using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Catalog;

/// <summary>The memory and CPU of this machine, as far as it matters for choosing a model.</summary>
/// <param name="TotalMemoryBytes">Physical memory (or the container's limit when lower).</param>
/// <param name="AvailableMemoryBytes">Memory available now without swapping (Linux MemAvailable; else what the GC reports).</param>
/// <param name="Cores">Logical processors.</param>
/// <param name="CpuFeatures">SIMD features the inference kernels use (AVX2, FMA, AVX-512F, AVX-512 VNNI, NEON, ...).</param>
/// <param name="Architecture">x64, arm64, ...</param>
public sealed record MachineInfo(long TotalMemoryBytes, long AvailableMemoryBytes, int Cores, IReadOnlyList<string> CpuFeatures, string Architecture)
{
    /// <summary>Memory a model may use: 85% of the total (the rest for the system and other programs), and
    /// no more than is available now.</summary>
    public long UsableMemoryBytes => Math.Min((long)(TotalMemoryBytes * 0.85), AvailableMemoryBytes);

    /// <summary>Whether the fast SIMD paths are there (AVX2+FMA on x64, NEON on Arm).</summary>
    public bool HasFastSimd => CpuFeatures.Contains("AVX2") && CpuFeatures.Contains("FMA") || CpuFeatures.Contains("NEON");

    /// <summary>Reads /proc/meminfo (Linux) and the GC's view of memory (which honours container limits), and
    /// the CPU features System.Runtime.Intrinsics reports.</summary>
    public static MachineInfo Detect()
    {
        var gc = GC.GetGCMemoryInfo();
        long total = gc.TotalAvailableMemoryBytes, available = Math.Max(0, gc.TotalAvailableMemoryBytes - gc.MemoryLoadBytes);
        try
        {
            if (File.Exists("/proc/meminfo"))
            {
                var (memTotal, memAvailable) = ParseMeminfo(File.ReadAllText("/proc/meminfo"));
                if (memTotal > 0) total = Math.Min(total > 0 ? total : long.MaxValue, memTotal);
                if (memAvailable > 0) available = memAvailable;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return new MachineInfo(total, Math.Min(available, total), Environment.ProcessorCount, DetectCpuFeatures(),
            RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant());
    }

    /// <summary>MemTotal and MemAvailable from /proc/meminfo text, in bytes (0 when absent).</summary>
    public static (long Total, long Available) ParseMeminfo(string text)
    {
        long Read(string key)
        {
            foreach (var line in text.Split('\n'))
            {
                if (!line.StartsWith(key + ":", StringComparison.Ordinal)) continue;
                var parts = line[(key.Length + 1)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length > 0 && long.TryParse(parts[0], out long v))
                    return parts.Length > 1 && parts[1].Equals("kB", StringComparison.OrdinalIgnoreCase) ? v * 1024 : v;
            }
            return 0;
        }
        return (Read("MemTotal"), Read("MemAvailable"));
    }

    static List<string> DetectCpuFeatures()
    {
        var f = new List<string>();
        if (Sse42.IsSupported) f.Add("SSE4.2");
        if (Avx.IsSupported) f.Add("AVX");
        if (Avx2.IsSupported) f.Add("AVX2");
        if (Fma.IsSupported) f.Add("FMA");
        if (Avx512F.IsSupported) f.Add("AVX-512F");
        if (Avx512BW.IsSupported) f.Add("AVX-512BW");
        if (AvxVnni.IsSupported) f.Add("AVX-VNNI");
        if (Avx512Vbmi.IsSupported) f.Add("AVX-512VBMI");
        if (AdvSimd.IsSupported) f.Add("NEON");
        if (Dp.IsSupported) f.Add("DOTPROD");
        return f;
    }
}

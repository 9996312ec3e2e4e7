using System.Diagnostics;

namespace QwenSharp.Bench;

/// <summary>
/// The machine is shared: before a timed run, wait (up to a limit) for a 1-second window in which other
/// processes use less than a threshold of CPU, and report how busy they were during a run.
/// </summary>
public static class Quiet
{
    static (long Busy, long Total) Stat()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        long idle = f[3] + f[4];
        long total = f.Sum();
        return (total - idle, total);
    }

    static double OwnCpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>Cores other processes used over the interval since <paramref name="start"/>.</summary>
    public sealed class Window
    {
        readonly (long Busy, long Total) _s = Stat();
        readonly double _own = OwnCpuSeconds();
        readonly long _t = Stopwatch.GetTimestamp();

        public double OtherCores()
        {
            if (!OperatingSystem.IsLinux()) return 0;
            var e = Stat();
            double wall = Stopwatch.GetElapsedTime(_t).TotalSeconds;
            double ticks = 100.0; // USER_HZ
            double busy = (e.Busy - _s.Busy) / ticks;
            double own = OwnCpuSeconds() - _own;
            return Math.Max(0, (busy - own) / wall);
        }
    }

    public static Window Start() => new();

    /// <summary>Waits until other processes use under <paramref name="maxCores"/> cores over 1 s (at most <paramref name="maxWaitSeconds"/>).</summary>
    public static double WaitForQuiet(double maxCores = 0.3, int maxWaitSeconds = 120)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        var sw = Stopwatch.StartNew();
        double load = 0;
        while (sw.Elapsed.TotalSeconds < maxWaitSeconds)
        {
            var w = Start();
            Thread.Sleep(1000);
            load = w.OtherCores();
            if (load < maxCores) break;
        }
        return load;
    }
}

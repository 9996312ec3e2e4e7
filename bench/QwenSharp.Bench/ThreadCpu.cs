using System.Runtime.InteropServices;

namespace QwenSharp.Bench;

/// <summary>CPU time of the calling thread in ms, at nanosecond resolution (clock_gettime(CLOCK_THREAD_CPUTIME_ID), Linux).</summary>
public static partial class ThreadCpu
{
    [StructLayout(LayoutKind.Sequential)]
    struct Timespec { public long Sec; public long Nsec; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGettime(int clock, out Timespec ts);

    const int ClockThreadCputimeId = 3;

    public static double Ms()
    {
        ClockGettime(ClockThreadCputimeId, out var ts);
        return ts.Sec * 1e3 + ts.Nsec / 1e6;
    }
}

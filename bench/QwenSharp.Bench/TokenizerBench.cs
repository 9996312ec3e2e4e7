using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using QwenSharp.Tokenization;

namespace QwenSharp.Bench;

/// <summary>
/// Qwen tokenizer: load time of the 151k vocabulary and single-thread encode throughput on the fixture
/// corpus (the 412 golden cases), side by side with the Rust Hugging Face tokenizers (Tokenizers.DotNet),
/// checking both against the reference ids. Also a differential fuzz against the Rust tokenizer.
/// </summary>
public sealed class TokenizerBench : IBenchmark
{
    public string Name => "tokenizer";
    public string Description => "Qwen tokenizer: load time, encode throughput vs Rust HF tokenizers and ML.Tokenizers [--seconds N (per implementation)] [--fuzz N]";

    public int Run(string[] args)
    {
        double seconds = 9;
        int fuzz = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds": seconds = double.Parse(args[++i]); break;
                case "--fuzz": fuzz = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
            }
        }
        string root = FindRoot();
        string fixtures = Path.Combine(root, "tests", "fixtures", "tokenizer");
        string dir = Path.Combine(Path.GetTempPath(), "qwensharp-bench-tokenizer");
        Directory.CreateDirectory(dir);
        string json = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(json))
        {
            using var src = new GZipStream(File.OpenRead(Path.Combine(fixtures, "qwen3", "tokenizer.json.gz")), CompressionMode.Decompress);
            using var dst = File.Create(json + ".tmp");
            src.CopyTo(dst);
            dst.Close();
            File.Move(json + ".tmp", json, true);
        }
        var cases = ReadCases(Path.Combine(fixtures, "cases.jsonl.gz"));
        long corpusBytes = cases.Sum(c => (long)Encoding.UTF8.GetByteCount(c.Text));
        string cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "?" : "?";
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        Console.WriteLine($"machine: {cpu}, {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; load average at start {load}");
        Console.WriteLine($"corpus: {cases.Count} cases, {corpusBytes:N0} UTF-8 bytes");

        // ---- load time ----
        QwenTokenizer tok = null!;
        var first = Time(() => tok = QwenTokenizer.FromTokenizerJson(json));
        var loads = new List<(double Wall, double Cpu)>();
        for (int i = 0; i < 15; i++)
        {
            GC.Collect();
            loads.Add(Time(() => tok = QwenTokenizer.FromTokenizerJson(json)));
        }
        static double Med(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
        Console.WriteLine($"QwenSharp load tokenizer.json ({tok.VocabSize:N0} ids), ms, wall / this thread's CPU:");
        Console.WriteLine($"  first in process (includes JIT): {first.Wall:F0} / {first.Cpu:F0}");
        Console.WriteLine($"  next {loads.Count} loads: median {Med(loads.Select(l => l.Wall)):F0} / {Med(loads.Select(l => l.Cpu)):F0}, min {loads.Min(l => l.Wall):F0} / {loads.Min(l => l.Cpu):F0}");

        var sw = Stopwatch.StartNew();
        Tokenizers.DotNet.Tokenizer hf = null!;
        var hfLoad = Time(() => hf = new Tokenizers.DotNet.Tokenizer(json));
        Console.WriteLine($"Tokenizers.DotNet load (first): {hfLoad.Wall:F0} / {hfLoad.Cpu:F0}");
        Microsoft.ML.Tokenizers.Tokenizer ml = null!;
        var mlLoad = Time(() => ml = MlTokenizersQwen.Create(json));
        Console.WriteLine($"Microsoft.ML.Tokenizers load (first): {mlLoad.Wall:F0} / {mlLoad.Cpu:F0}");

        // ---- exactness ----
        int exactOurs = 0, exactHf = 0, exactMl = 0;
        var mlMisses = new List<string>();
        foreach (var c in cases)
        {
            if (tok.Encode(c.Text).AsSpan().SequenceEqual(c.Ids)) exactOurs++;
            if (hf.Encode(c.Text).Select(x => (int)x).SequenceEqual(c.Ids)) exactHf++;
            if (ml.EncodeToIds(c.Text).SequenceEqual(c.Ids)) exactMl++; else mlMisses.Add(c.Id);
        }
        Console.WriteLine($"exact ids: QwenSharp {exactOurs}/{cases.Count}, Tokenizers.DotNet {exactHf}/{cases.Count}, Microsoft.ML.Tokenizers {exactMl}/{cases.Count}");
        if (mlMisses.Count > 0) Console.WriteLine($"  Microsoft.ML.Tokenizers differs on: {string.Join(", ", mlMisses.Take(20))}");

        // ---- throughput ----
        // The implementations take turns in rounds and each reports the median of its rounds, so load from
        // other processes on a shared machine hits all of them alike; the ratio is the median of per-round ratios.
        var texts = cases.Select(c => c.Text).ToArray();
        var list = new List<int>(1 << 16);
        var impls = new (string Name, Action Pass)[]
        {
            ("QwenSharp Encode(string) -> int[]", () => { foreach (var t in texts) tok.Encode(t); }),
            ("QwenSharp Encode(span, List<int>)", () => { foreach (var t in texts) { list.Clear(); tok.Encode(t, list); } }),
            ("QwenSharp, word cache cleared per pass", () => { tok.Model.ClearCache(); foreach (var t in texts) tok.Encode(t); }),
            ("Tokenizers.DotNet 1.4.1 (Rust HF tokenizers 0.22.2)", () => { foreach (var t in texts) hf.Encode(t); }),
            ("Microsoft.ML.Tokenizers 2.0.1 BpeTokenizer", () => { foreach (var t in texts) ml.EncodeToIds(t); }),
        };
        const int rounds = 9;
        var rates = impls.Select(_ => new List<double>()).ToArray();
        foreach (var impl in impls) { impl.Pass(); impl.Pass(); } // warm up: JIT tiers, caches
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < impls.Length; i++)
                rates[i].Add(Throughput(seconds / rounds, corpusBytes, impls[i].Pass));
        Console.WriteLine($"encode, single thread, MB (10^6 UTF-8 bytes) per second of the thread's CPU time, median of {rounds} interleaved rounds:");
        for (int i = 0; i < impls.Length; i++) Console.WriteLine($"  {impls[i].Name,-52} {Med(rates[i]),8:F1}");
        double ratio = Med(Enumerable.Range(0, rounds).Select(r => rates[0][r] / rates[3][r]));
        double ratioList = Med(Enumerable.Range(0, rounds).Select(r => rates[1][r] / rates[3][r]));
        double ratioCold = Med(Enumerable.Range(0, rounds).Select(r => rates[2][r] / rates[3][r]));
        Console.WriteLine($"  QwenSharp / Rust HF: {ratio:F1}x (List overload {ratioList:F1}x; word cache cleared each pass {ratioCold:F1}x)");

        if (fuzz > 0) return Fuzz(tok, hf, ml, fuzz);
        return exactOurs == cases.Count ? 0 : 1;
    }

    /// <summary>MB per second of this thread's CPU time (the machine is shared: wall time depends on the neighbours'
    /// load, the CPU time this thread gets to run does much less). Falls back to wall time where the clock is missing.</summary>
    static double Throughput(double seconds, long bytesPerPass, Action pass)
    {
        var sw = Stopwatch.StartNew();
        double cpu0 = ThreadCpuSeconds();
        long passes = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { pass(); passes++; }
        double cpu = ThreadCpuSeconds() - cpu0;
        return passes * bytesPerPass / (double.IsNaN(cpu) ? sw.Elapsed.TotalSeconds : cpu) / 1e6;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct Timespec { public long Sec, Nsec; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec ts);

    /// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), in seconds; NaN where unavailable.</summary>
    static double ThreadCpuSeconds()
    {
        try { return ClockGetTime(3, out var ts) == 0 ? ts.Sec + ts.Nsec / 1e9 : double.NaN; }
        catch (Exception) { return double.NaN; }
    }

    /// <summary>Runs <paramref name="action"/> and returns (wall ms, this thread's CPU ms).</summary>
    static (double Wall, double Cpu) Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        double cpu0 = ThreadCpuSeconds();
        action();
        return (sw.Elapsed.TotalMilliseconds, (ThreadCpuSeconds() - cpu0) * 1000);
    }

    /// <summary>Random strings (ASCII, Latin, CJK, combining marks, astral letters and digits, whitespace of all kinds,
    /// apostrophes and special-token pieces) encoded by both; prints every disagreement.</summary>
    static int Fuzz(QwenTokenizer tok, Tokenizers.DotNet.Tokenizer hf, Microsoft.ML.Tokenizers.Tokenizer ml, int count)
    {
        var rng = new Random(1234);
        string[] atoms = ["'", "'s", "'S", "'ll", "'LL", "'ſ", " ", "  ", "\t", "\n", "\r\n", "\u00A0", "\u0085", "\u2028", "\u3000", "\uFEFF",
            "<|im_start|>", "<|im_end|>", "<think>", "<|endoftext|", "<|", "|>", "a", "Z", "é", "e\u0301", "\u0338", "ß", "İ",
            "中", "文", "の", "한", "ا", "ह", "\u0903", "1", "²", "½", "Ⅻ", "１", "𝟘", "𝔘", "𠀀", "😀", "👍🏽", "\u200D", "!", "...", "\"", "#", "$",
            "\uFFFE", "\uFFFF", "\uFDD0", "\u1C89", "\U0002EBF0", "\U00016D40", "\u0897", "\U0001E5D0"];
        int bad = 0, mlBad = 0, mlAstral = 0, mlPost9 = 0;
        for (int n = 0; n < count; n++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(1, 24);
            for (int i = 0; i < len; i++)
            {
                int kind = rng.Next(10);
                if (kind < 6) sb.Append(atoms[rng.Next(atoms.Length)]);
                else if (kind < 8) { int cp = rng.Next(0x20, 0x3000); if (cp is < 0xD800 or > 0xDFFF) sb.Append(char.ConvertFromUtf32(cp)); }
                else if (kind < 9) { int cp = rng.Next(0x3000, 0x10000); if (cp is < 0xD800 or > 0xDFFF) sb.Append(char.ConvertFromUtf32(cp)); }
                else { int cp = rng.Next(0x10000, 0x110000); sb.Append(char.ConvertFromUtf32(cp)); }
            }
            string s = sb.ToString();
            var a = tok.Encode(s);
            var b = hf.Encode(s).Select(x => (int)x).ToArray();
            if (!ml.EncodeToIds(s).SequenceEqual(b))
            {
                mlBad++;
                if (s.EnumerateRunes().Any(r => r.Value > 0xFFFF)) mlAstral++;
                else if (s.EnumerateRunes().Any(r => r.Value >= 0x300 && !QwenSharp.Tokenization.CharClass.IsUnicode9(r.Value))) mlPost9++;
            }
            if (!a.AsSpan().SequenceEqual(b))
            {
                bad++;
                if (bad <= 30)
                    Console.WriteLine($"DIFF {Escape(s)}\n  ours [{string.Join(",", a)}]\n  rust [{string.Join(",", b)}]");
            }
        }
        Console.WriteLine($"fuzz encode: QwenSharp {count - bad}/{count} identical to Tokenizers.DotNet; Microsoft.ML.Tokenizers {count - mlBad}/{count}");
        Console.WriteLine($"  Microsoft.ML.Tokenizers misses: {mlAstral} on strings with characters outside the BMP, {mlPost9} more on strings with characters assigned after Unicode 9.0, {mlBad - mlAstral - mlPost9} others");

        // Decoding random ids (byte tokens that cut UTF-8 sequences, added tokens): Tokenizers.DotNet always skips special tokens.
        int decodeBad = 0;
        for (int n = 0; n < count; n++)
        {
            var ids = new uint[rng.Next(0, 30)];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = (uint)(rng.Next(3) == 0 ? rng.Next(0, 256) : rng.Next(8) == 0 ? rng.Next(151643, tok.VocabSize) : rng.Next(0, 151643));
            string a = tok.Decode(ids.Select(x => (int)x).ToArray(), skipSpecialTokens: true);
            string b = hf.Decode(ids);
            if (a != b && ++decodeBad <= 10) Console.WriteLine($"DECODE DIFF [{string.Join(",", ids)}]\n  ours {Escape(a)}\n  rust {Escape(b)}");
        }
        Console.WriteLine($"fuzz decode (skip special): QwenSharp {count - decodeBad}/{count} identical to Tokenizers.DotNet");
        return bad == 0 && decodeBad == 0 ? 0 : 1;
    }

    static string Escape(string s) => string.Concat(s.EnumerateRunes().Select(r => r.Value is >= 0x20 and < 0x7F ? ((char)r.Value).ToString() : $"\\u{{{r.Value:X}}}"));

    sealed record Case(string Id, string Text, int[] Ids);

    static List<Case> ReadCases(string path)
    {
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        var list = new List<Case>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            list.Add(new Case(o.GetProperty("id").GetString()!, o.GetProperty("text").GetString()!, o.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()));
        }
        return list;
    }

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (QwenSharp.slnx)");
    }
}

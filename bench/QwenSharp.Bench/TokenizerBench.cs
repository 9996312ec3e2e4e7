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
    public string Description => "Qwen tokenizer load time and encode throughput vs Hugging Face tokenizers (Rust) [--seconds N] [--fuzz N]";

    public int Run(string[] args)
    {
        double seconds = 3;
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
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine($"corpus: {cases.Count} cases, {corpusBytes:N0} UTF-8 bytes");

        // ---- load time ----
        var sw = Stopwatch.StartNew();
        var tok = QwenTokenizer.FromTokenizerJson(json);
        double coldMs = sw.Elapsed.TotalMilliseconds;
        var warm = new List<double>();
        for (int i = 0; i < 7; i++)
        {
            GC.Collect();
            sw.Restart();
            tok = QwenTokenizer.FromTokenizerJson(json);
            warm.Add(sw.Elapsed.TotalMilliseconds);
        }
        warm.Sort();
        Console.WriteLine($"QwenSharp load tokenizer.json ({tok.VocabSize:N0} ids): first {coldMs:F0} ms (includes JIT), then median {warm[warm.Count / 2]:F0} ms, min {warm[0]:F0} ms");

        sw.Restart();
        using var hf = new Tokenizers.DotNet.Tokenizer(json);
        Console.WriteLine($"Tokenizers.DotNet load: {sw.Elapsed.TotalMilliseconds:F0} ms");
        sw.Restart();
        var ml = MlTokenizersQwen.Create(json);
        Console.WriteLine($"Microsoft.ML.Tokenizers load: {sw.Elapsed.TotalMilliseconds:F0} ms");

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
        var texts = cases.Select(c => c.Text).ToArray();
        double ours = Throughput(seconds, corpusBytes, () => { foreach (var t in texts) tok.Encode(t); });
        var list = new List<int>(1 << 16);
        double oursList = Throughput(seconds, corpusBytes, () => { foreach (var t in texts) { list.Clear(); tok.Encode(t, list); } });
        double oursCold = Throughput(seconds, corpusBytes, () => { tok.Model.ClearCache(); foreach (var t in texts) tok.Encode(t); });
        double rust = Throughput(seconds, corpusBytes, () => { foreach (var t in texts) hf.Encode(t); });
        double mlRate = Throughput(seconds, corpusBytes, () => { foreach (var t in texts) ml.EncodeToIds(t); });
        Console.WriteLine($"encode, single thread, MB/s (1 MB = 10^6 UTF-8 bytes):");
        Console.WriteLine($"  QwenSharp Encode(string) -> int[]      {ours,8:F1}");
        Console.WriteLine($"  QwenSharp Encode(span, List<int>)      {oursList,8:F1}");
        Console.WriteLine($"  QwenSharp, word cache cleared per pass {oursCold,8:F1}");
        Console.WriteLine($"  Tokenizers.DotNet (Rust HF 0.22.2)     {rust,8:F1}");
        Console.WriteLine($"  Microsoft.ML.Tokenizers 2.0.1          {mlRate,8:F1}");
        Console.WriteLine($"  ratio QwenSharp / Rust: {ours / rust:F2}x (cache cleared each pass: {oursCold / rust:F2}x)");

        if (fuzz > 0) return Fuzz(tok, hf, ml, fuzz);
        return exactOurs == cases.Count ? 0 : 1;
    }

    static double Throughput(double seconds, long bytesPerPass, Action pass)
    {
        pass(); pass(); // warm up (JIT tiers, caches)
        var sw = Stopwatch.StartNew();
        long passes = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { pass(); passes++; }
        return passes * bytesPerPass / sw.Elapsed.TotalSeconds / 1e6;
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
        int bad = 0, mlBad = 0;
        for (int n = 0; n < count; n++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(1, 24);
            for (int i = 0; i < len; i++)
            {
                int kind = rng.Next(10);
                if (kind < 6) sb.Append(atoms[rng.Next(atoms.Length)]);
                else if (kind < 8) { int cp = rng.Next(0x20, 0x3000); if (cp is < 0xD800 or > 0xDFFF) sb.Append(char.ConvertFromUtf32(cp)); }
                else { int cp = rng.Next(0x10000, 0x32000); sb.Append(char.ConvertFromUtf32(cp)); }
            }
            string s = sb.ToString();
            var a = tok.Encode(s);
            var b = hf.Encode(s).Select(x => (int)x).ToArray();
            if (!ml.EncodeToIds(s).SequenceEqual(b)) mlBad++;
            if (!a.AsSpan().SequenceEqual(b))
            {
                bad++;
                if (bad <= 30)
                    Console.WriteLine($"DIFF {Escape(s)}\n  ours [{string.Join(",", a)}]\n  rust [{string.Join(",", b)}]");
            }
        }
        Console.WriteLine($"fuzz: QwenSharp {count - bad}/{count} identical to Tokenizers.DotNet; Microsoft.ML.Tokenizers {count - mlBad}/{count}");
        return bad == 0 ? 0 : 1;
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

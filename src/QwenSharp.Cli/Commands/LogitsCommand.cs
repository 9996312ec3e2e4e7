using System.CommandLine;
using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp logits --model PATH --tokens 1,2,3 [--out FILE]`: logits at every position, as JSON
/// {"tokens":[...],"logits":[[vocab floats] per position]}: the parity tool (F32 KV cache by default).
/// </summary>
public static class LogitsCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var tokens = new Option<string>("--tokens") { Description = "Comma-separated token ids", Required = true };
        var output = new Option<string?>("--out", "-o") { Description = "Write the JSON to this file (atomically) instead of stdout" };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache type: f32 (default here, as the references use), f16 or q8_0", DefaultValueFactory = _ => "f32" };
        var threads = CliOptions.Threads();
        var quantize = CliOptions.Quantize();
        var cmd = new Command("logits", "Compute the logits at every position of a token sequence (JSON), for parity checks against other engines")
            { model, tokens, output, kvType, threads, quantize };
        cmd.SetAction(r =>
        {
            int[] ids = ParseTokens(r.GetValue(tokens)!);
            var kv = ParseKvType(r.GetValue(kvType)!);
            var loadOptions = CliOptions.LoadOptions(r.GetValue(quantize));
            var path = ModelResolver.Resolve(r.GetValue(model)!);
            using var m = ModelResolver.LoadModel(path, loadOptions);
            using var pool = ModelResolver.CreatePool(r.GetValue(threads));
            var logits = Compute(m, ids, kv, pool);
            string? outPath = r.GetValue(output);
            if (outPath is null)
            {
                using var stdout = Console.OpenStandardOutput();
                Write(stdout, ids, logits, m.Config.VocabSize);
            }
            else
            {
                AtomicFile.Write(outPath, s => Write(s, ids, logits, m.Config.VocabSize));
            }
            return 0;
        });
        return cmd;
    }

    public static int[] ParseTokens(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new CliException("--tokens: give at least one token id, e.g. --tokens 1,2,3", 2);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new CliException($"--tokens: '{parts[i]}' is not a token id (a non-negative integer)", 2);
        return ids;
    }

    public static KvCacheType ParseKvType(string s) => s.ToLowerInvariant() switch
    {
        "f32" => KvCacheType.F32,
        "f16" => KvCacheType.F16,
        "q8_0" => KvCacheType.Q8_0,
        _ => throw new CliException($"--kv-type: '{s}' is not a KV cache type (f32, f16, q8_0)", 2),
    };

    /// <summary>All-position logits of one sequence, [tokens.Length * vocab].</summary>
    public static float[] Compute(QwenModel m, int[] ids, KvCacheType kv, Engine.WorkerPool pool)
    {
        foreach (var t in ids)
            if (t >= m.Config.VocabSize) throw new CliException($"--tokens: token id {t} is outside the vocabulary (0..{m.Config.VocabSize - 1})", 2);
        using var cache = m.CreateKvCache(ids.Length, kv);
        using var seq = cache.CreateSequence();
        using var ctx = m.CreateContext(pool);
        var batch = new ForwardBatch();
        batch.AddSequence(seq, ids, logitsForAll: true);
        var logits = new float[(long)ids.Length * m.Config.VocabSize];
        m.Forward(ctx, batch, logits);
        return logits;
    }

    static void Write(Stream s, int[] ids, float[] logits, int vocab)
    {
        using var w = new Utf8JsonWriter(s);
        w.WriteStartObject();
        w.WriteStartArray("tokens");
        foreach (var t in ids) w.WriteNumberValue(t);
        w.WriteEndArray();
        w.WriteStartArray("logits");
        for (int i = 0; i < ids.Length; i++)
        {
            w.WriteStartArray();
            for (int j = 0; j < vocab; j++) w.WriteNumberValue(logits[(long)i * vocab + j]);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        s.WriteByte((byte)'\n');
    }
}

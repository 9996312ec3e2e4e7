using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Training;

namespace QwenSharp.Bench;

/// <summary>
/// LoRA training speed and peak memory on a random model shaped like Qwen2.5-0.5B (bf16 weights, built in
/// memory): tokens/s of forward + backward + AdamW over one sequence per step, and the process's peak
/// working set. `training [--seq 256] [--steps 3] [--threads 2] [--r 16] [--targets q_proj,k_proj,v_proj,o_proj] [--no-checkpointing] [--quantize Q8_0]`
/// </summary>
public sealed class TrainingBench : IBenchmark
{
    public string Name => "training";
    public string Description => "LoRA fine-tuning tokens/s and peak memory on a Qwen2.5-0.5B-shaped random model";

    public int Run(string[] args)
    {
        int seq = 256, steps = 3, threads = 2, r = 16;
        string targets = "q_proj,k_proj,v_proj,o_proj";
        bool checkpointing = true;
        GgmlType? quantize = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seq": seq = int.Parse(args[++i]); break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--r": r = int.Parse(args[++i]); break;
                case "--targets": targets = args[++i]; break;
                case "--no-checkpointing": checkpointing = false; break;
                case "--quantize": quantize = Enum.Parse<GgmlType>(args[++i], ignoreCase: true); break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        }
        var config = new ModelConfig
        {
            ModelType = "qwen2", HiddenSize = 896, IntermediateSize = 4864, NumHiddenLayers = 24, NumAttentionHeads = 14,
            NumKeyValueHeads = 2, HeadDim = 64, VocabSize = 151936, MaxPositionEmbeddings = 32768, RopeTheta = 1e6,
            RmsNormEps = 1e-6, TieWordEmbeddings = true, AttentionBias = true,
        };
        var sw = Stopwatch.StartNew();
        using var source = new RandomWeights(config, seed: 1);
        var owned = new List<IDisposable>();
        using var model = QwenModel.Build(config, source, owned, new ModelLoadOptions { Quantize = quantize });
        Console.WriteLine($"random Qwen2.5-0.5B-shaped model: {source.Parameters / 1e6:0} M parameters, {source.Bytes / 1048576.0:0} MiB bf16" +
            (quantize is { } q ? $", frozen weights quantized to {q} at load (QLoRA-style)" : "") + $" (built in {sw.Elapsed.TotalSeconds:0.0} s)");

        using var pool = new WorkerPool(threads);
        var lora = LoraParameters.Create(model, new LoraConfig { R = r, LoraAlpha = 2 * r, TargetModules = targets.Split(',') });
        var adam = new AdamW(lora);
        using var bp = new LoraBackprop(model, lora, pool, checkpointing);
        var rng = new Random(2);
        var tokens = Enumerable.Range(0, seq).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var labels = tokens.Skip(1).Append(-1).ToArray();
        var batch = TrainingBatch.FromSequences([(tokens, labels)]);
        Console.WriteLine($"LoRA r={r} on {targets}: {lora.Count / 1e6:0.00} M trainable parameters; {seq} tokens per step, all trained; {threads} threads; gradient checkpointing {(checkpointing ? "on" : "off")}");

        var cpu = new List<double>();
        double Step()
        {
            var t = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            lora.ZeroGrad();
            double loss = bp.ForwardBackward(batch, 1f / batch.LabelCount);
            adam.ClipGradients(1.0);
            adam.Update(1e-4);
            double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            cpu.Add(cpuSeconds);
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  step: {0:0.00} s wall, {1:0.00} s CPU, loss {2:0.000}", t.Elapsed.TotalSeconds, cpuSeconds, loss / batch.LabelCount));
            return t.Elapsed.TotalSeconds;
        }
        Console.WriteLine("warm-up step:");
        Step();
        var times = new List<double>();
        cpu.Clear();
        for (int s = 0; s < steps; s++) times.Add(Step());
        double mean = times.Average();
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "training: {0:0.0} tokens/s (mean of {1} steps, {2:0.00} s per {3}-token step); {4:0.0} tokens per CPU-second; peak working set {5:0} MiB; load average {6}",
            seq / mean, steps, mean, seq, seq / cpu.Average(), peak / 1048576.0, LoadAverage()));
        return 0;
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "n/a"; }
    }

    /// <summary>bf16 weights drawn uniformly (norms 1, biases small), in native memory, by Hugging Face names.</summary>
    sealed unsafe class RandomWeights : WeightSource
    {
        readonly Dictionary<string, TensorRef> _tensors = [];
        readonly List<nint> _blocks = [];
        public long Parameters { get; private set; }
        public long Bytes { get; private set; }

        public RandomWeights(ModelConfig c, int seed)
        {
            ulong state = (ulong)seed * 0x9E3779B97F4A7C15UL + 1;
            int h = c.HiddenSize, qd = c.NumAttentionHeads * c.HeadDim, kd = c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
            void Add(string name, float scale, float offset, params long[] shape)
            {
                long n = shape.Aggregate(1L, (a, b) => a * b);
                var p = (ushort*)NativeMemory.AlignedAlloc((nuint)(n * 2), 64);
                _blocks.Add((nint)p);
                for (long i = 0; i < n; i++)
                {
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                    float u = (state >> 40) / (float)(1UL << 24) * 2 - 1;
                    p[i] = Numerics.FloatToBFloat16(offset + u * scale);
                }
                _tensors[name] = new TensorRef(name, GgmlType.BF16, shape, (nint)p, n * 2, "random");
                Parameters += n;
                Bytes += n * 2;
            }
            Add("model.embed_tokens.weight", 0.05f, 0, c.VocabSize, h);
            for (int l = 0; l < c.NumHiddenLayers; l++)
            {
                string p = $"model.layers.{l}";
                Add($"{p}.input_layernorm.weight", 0.1f, 1, h);
                Add($"{p}.self_attn.q_proj.weight", 0.05f, 0, qd, h); Add($"{p}.self_attn.q_proj.bias", 0.02f, 0, qd);
                Add($"{p}.self_attn.k_proj.weight", 0.05f, 0, kd, h); Add($"{p}.self_attn.k_proj.bias", 0.02f, 0, kd);
                Add($"{p}.self_attn.v_proj.weight", 0.05f, 0, kd, h); Add($"{p}.self_attn.v_proj.bias", 0.02f, 0, kd);
                Add($"{p}.self_attn.o_proj.weight", 0.05f, 0, h, qd);
                Add($"{p}.post_attention_layernorm.weight", 0.1f, 1, h);
                Add($"{p}.mlp.gate_proj.weight", 0.05f, 0, inter, h);
                Add($"{p}.mlp.up_proj.weight", 0.05f, 0, inter, h);
                Add($"{p}.mlp.down_proj.weight", 0.03f, 0, h, inter);
            }
            Add("model.norm.weight", 0.1f, 1, h);
        }

        public override string Location => "random";
        public override IEnumerable<string> Names => _tensors.Keys;
        public override bool TryGet(string name, out TensorRef tensor) => _tensors.TryGetValue(name, out tensor!);

        public override void Dispose()
        {
            foreach (var b in _blocks) NativeMemory.AlignedFree((void*)b);
            _blocks.Clear();
        }
    }
}

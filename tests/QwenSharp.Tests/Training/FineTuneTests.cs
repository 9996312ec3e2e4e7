using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Generation;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Training;

namespace QwenSharp.Tests.Training;

/// <summary>
/// A full fine-tuning run from the CLI on the random-weight qwen2-tiny fixture: it must learn a small
/// synthetic task (six animals, each answered by its sound), after which `generate --adapter` answers
/// every prompt with the learned word, and the saved adapter reloads to the same eval loss — computed
/// both by the training graph and by the inference engine's forward pass with the adapter applied at
/// run time. The run is shared by the tests of this class.
/// </summary>
public sealed class FineTuneRun : IDisposable
{
    public static readonly (string Prompt, string Answer)[] Task =
    [
        ("cat", "meow"), ("dog", "woof"), ("cow", "moo"), ("duck", "quack"), ("owl", "hoot"), ("bee", "buzz"),
    ];

    public string Dir { get; } = TestPaths.NewTempDir();
    public string Model => ModelGradientTests.ModelDir("qwen2-tiny");
    public string Data => Path.Combine(Dir, "train.jsonl");
    public string Out => Path.Combine(Dir, "adapter");
    public int ExitCode { get; }
    public string Stdout { get; }
    public string Stderr { get; }

    public FineTuneRun()
    {
        File.WriteAllLines(Data, Task.Select(t => new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = t.Prompt },
                new JsonObject { ["role"] = "assistant", ["content"] = t.Answer }),
        }.ToJsonString()));
        var o = new StringWriter();
        var e = new StringWriter();
        ExitCode = QwenSharp.Cli.Program.Run(
        [
            "finetune", "--model", Model, "--data", Data, "--eval", Data, "--out", Out,
            "--lora-r", "8", "--lora-alpha", "16", "--targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
            "--lr", "1e-2", "--epochs", "25", "--batch", "3", "--grad-accum", "2", "--warmup-steps", "2", "--schedule", "cosine",
            "--eval-steps", "25", "--threads", "1",
        ], o, e);
        Stdout = o.ToString();
        Stderr = e.ToString();
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch { /* best effort */ }
    }
}

public class FineTuneTests(FineTuneRun run) : IClassFixture<FineTuneRun>
{
    static double LastEvalLoss(string outDir)
    {
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "trainer_state.json")))!;
        return state["log_history"]!.AsArray().Where(e => e!["eval_loss"] != null).Last()!["eval_loss"]!.GetValue<double>();
    }

    [Fact]
    public void TrainingLearnsTheTask()
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("step 25/25", run.Stderr);
        Assert.Contains("eval loss", run.Stderr);
        // Threshold: a mean loss of 0.1 per trained token means the right token gets a probability of
        // e^-0.1 ≈ 0.9 on average; the untrained model starts above 3 (checked below), near ln(512) ≈ 6.2.
        double eval = LastEvalLoss(run.Out);
        Assert.True(eval < 0.1, $"eval loss after training {eval}\n{run.Stderr}");

        using var b = TrainingBase.Load(run.Model);
        var data = b.LoadData(run.Data, 2048);
        using var t = new LoraTrainer(b.Model, new TrainingOptions { TargetModules = LoraConfig.SupportedTargets });
        t.Initialize(); // B = 0: the base model
        double before = t.EvaluateLoss(data);
        Assert.True(before > 3, $"loss before training {before}");
    }

    [Fact]
    public async Task GenerateWithTheAdapterShowsTheLearnedBehaviour()
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        var (prompt, answer) = FineTuneRun.Task[3];
        var o = new StringWriter();
        var e = new StringWriter();
        int code = QwenSharp.Cli.Program.Run(["generate", "--model", run.Model, "--adapter", run.Out, "--prompt", prompt, "--temperature", "0", "--max-tokens", "8"], o, e);
        Assert.True(code == 0, e.ToString());
        Assert.Equal(answer, o.ToString().Trim());

        // Every prompt through the library, base and adapter in the same engine.
        using var q = Qwen.Load(run.Model);
        q.LoadAdapter("animals", run.Out);
        int baseRight = 0;
        foreach (var (p, a) in FineTuneRun.Task)
        {
            var greedy = new SamplingParams { Temperature = 0, MaxTokens = 8 };
            var withAdapter = await q.ChatAsync(p, new GenerationOptions { Sampling = greedy, Adapter = "animals" });
            Assert.Equal(a, withAdapter.Text);
            var plain = await q.ChatAsync(p, new GenerationOptions { Sampling = greedy });
            if (plain.Text == a) baseRight++;
        }
        Assert.True(baseRight <= 1, "the base model already knew the answers");
    }

    [Fact]
    public unsafe void SavedAdapterReloadsToTheSameEvalLoss()
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        double logged = LastEvalLoss(run.Out);
        var adapter = LoraAdapter.Load(run.Out);
        using var b = TrainingBase.Load(run.Model);
        var data = b.LoadData(run.Data, 2048);
        using var t = new LoraTrainer(b.Model, new TrainingOptions());
        t.Initialize(adapter);
        Assert.Equal(logged, t.EvaluateLoss(data), 6);

        // The inference forward pass with the adapter applied at run time gives the same loss.
        int slot = b.Model.AttachAdapter(adapter);
        using var cache = b.Model.CreateKvCache(512, KvCacheType.F32);
        using var ctx = b.Model.CreateContext(WorkerPool.Shared);
        double sum = 0;
        long count = 0;
        int vocab = b.Model.Config.VocabSize;
        foreach (var ex in data.Examples)
        {
            using var seq = cache.CreateSequence();
            seq.AdapterSlot = slot;
            var batch = new ForwardBatch();
            batch.AddSequence(seq, ex.Tokens, logitsForAll: true);
            var logits = new float[ex.Length * vocab];
            b.Model.Forward(ctx, batch, logits);
            for (int i = 0; i < ex.Length; i++)
            {
                if (ex.Labels[i] < 0) continue;
                var z = logits.AsSpan(i * vocab, vocab);
                double max = double.NegativeInfinity;
                foreach (var v in z) max = Math.Max(max, v);
                double s = 0;
                foreach (var v in z) s += Math.Exp(v - max);
                sum += max + Math.Log(s) - z[ex.Labels[i]];
                count++;
            }
        }
        Assert.Equal(logged, sum / count, 3);
    }

    [Fact]
    public void AdapterFilesAreLaidOutAsPeftWritesThem()
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.True(File.Exists(Path.Combine(run.Out, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(run.Out, "adapter_model.safetensors")));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Out, "adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", cfg["peft_type"]!.GetValue<string>());
        Assert.Equal("CAUSAL_LM", cfg["task_type"]!.GetValue<string>());
        Assert.Equal(8, cfg["r"]!.GetValue<int>());
        Assert.Equal(16, cfg["lora_alpha"]!.GetValue<double>());
        Assert.Equal(run.Model, cfg["base_model_name_or_path"]!.GetValue<string>());
        using var st = new QwenSharp.Formats.SafetensorsFile(Path.Combine(run.Out, "adapter_model.safetensors"));
        Assert.Equal(2 * 7 * 2, st.Tensors.Count);
        Assert.True(st.TryGetTensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", out var bInfo));
        Assert.Equal(new long[] { 256, 8 }, bInfo.Shape);
        Assert.True(st.TryGetTensor("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", out var aInfo));
        Assert.Equal(new long[] { 8, 256 }, aInfo.Shape);
        Assert.Equal("pt", st.Metadata["format"]);
    }
}

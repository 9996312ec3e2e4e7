using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Training;

namespace QwenSharp.Tests.Training;

/// <summary>
/// The training loop's mechanics: chat rendering with assistant-only labels, packing, gradient
/// accumulation, AdamW and the schedules as transformers defines them, checkpoints and exact resume,
/// and clear errors for bad data and options.
/// </summary>
public class TrainerTests
{
    // One thread: the arithmetic is then reproducible bit for bit (threads add partial sums in varying order).
    static readonly WorkerPool Pool = new(1);

    static string Model => ModelGradientTests.ModelDir("qwen2-tiny");

    static string WriteData(string dir, int count = 6)
    {
        string path = Path.Combine(dir, "data.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, count).Select(i => new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "Be brief." },
                new JsonObject { ["role"] = "user", ["content"] = $"Count to {i}" },
                new JsonObject { ["role"] = "assistant", ["content"] = string.Join(" ", Enumerable.Range(1, i + 1)) },
                new JsonObject { ["role"] = "user", ["content"] = "Again" },
                new JsonObject { ["role"] = "assistant", ["content"] = "ok" }),
        }.ToJsonString()));
        return path;
    }

    [Fact]
    public void LabelsCoverExactlyTheAssistantTurns()
    {
        string dir = TestPaths.NewTempDir();
        using var b = TrainingBase.Load(Model);
        var data = b.LoadData(WriteData(dir, 3), 2048);
        var ex = data.Examples[2];
        var trained = ex.Labels.Where(l => l >= 0).ToArray();
        // Everything the template writes for the two assistant turns, end-of-turn token included, and nothing else.
        Assert.Equal("1 2 3<|im_end|>ok<|im_end|>", b.Tokenizer.Decode(trained));
        // Label i is the token at i + 1 (next-token prediction).
        for (int i = 0; i < ex.Length; i++)
            if (ex.Labels[i] >= 0) Assert.Equal(ex.Tokens[i + 1], ex.Labels[i]);
        Assert.Equal(b.Template.Render(new JsonObject
        {
            ["messages"] = JsonNode.Parse(File.ReadLines(Path.Combine(dir, "data.jsonl")).ElementAt(2))!["messages"]!.DeepClone(),
            ["add_generation_prompt"] = false,
        }), b.Tokenizer.Decode(ex.Tokens));

        // Cut short: only the assistant tokens that remain are trained; the last position has no label.
        int limit = data.Examples[0].Length - 2;
        var cut = b.LoadData(Path.Combine(dir, "data.jsonl"), limit);
        Assert.Equal(3, cut.Truncated);
        Assert.All(cut.Examples, e => Assert.True(e.Length <= limit && e.Labels[^1] == -1));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void BadDataIsReportedWithFileAndLine()
    {
        string dir = TestPaths.NewTempDir();
        using var b = TrainingBase.Load(Model);
        string path = Path.Combine(dir, "bad.jsonl");
        void Expect(string content, string message)
        {
            File.WriteAllText(path, content);
            var e = Assert.Throws<InvalidDataException>(() => b.LoadData(path, 2048));
            Assert.Contains(message, e.Message);
        }
        string good = """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""";
        Expect(good + "\n{oops\n", "bad.jsonl:2: not valid JSON");
        Expect(good + "\n\n{\"text\": \"x\"}\n", "bad.jsonl:3: missing \"messages\"");
        Expect("""{"messages": [{"role": "user", "content": "hi"}]}""", "bad.jsonl:1: no assistant message");
        Expect("""{"messages": [{"content": "hi"}]}""", "bad.jsonl:1: message 0");
        Expect("\n\n", "no usable example");
        Directory.Delete(dir, true);
    }

    [Fact]
    public void PackedRowsGiveTheSameLossAsSeparateSequences()
    {
        string dir = TestPaths.NewTempDir();
        using var b = TrainingBase.Load(Model);
        var data = b.LoadData(WriteData(dir, 4), 2048);
        var lora = LoraParameters.Create(b.Model, new LoraConfig { R = 2, TargetModules = ["q_proj", "v_proj"] });
        using var bp = new LoraBackprop(b.Model, lora, Pool);
        double separate = data.Examples.Sum(e => bp.Loss(TrainingBatch.FromSequences([(e.Tokens, e.Labels)])));
        var rows = ChatDataset.Pack(data.Examples, 2048);
        Assert.Single(rows);
        double packed = bp.Loss(TrainingBatch.FromSequences(rows[0].Select(e => (e.Tokens, e.Labels))));
        Assert.Equal(separate, packed, 3);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void GradientAccumulationEqualsOneLargerBatch()
    {
        string dir = TestPaths.NewTempDir();
        using var b = TrainingBase.Load(Model);
        var data = b.LoadData(WriteData(dir, 4), 2048);
        float[][] After(int batch, int accum)
        {
            var o = new TrainingOptions { LoraR = 4, LearningRate = 1e-3, Epochs = 1, BatchSize = batch, GradientAccumulationSteps = accum, Seed = 3 };
            using var t = new LoraTrainer(b.Model, o, Pool);
            var r = t.Train(data, null, Path.Combine(dir, $"{batch}x{accum}"));
            Assert.Equal(1, r.Steps);
            return t.Parameters!.Parameters.SelectMany(p => new[] { p.Weights.A.ToArray(), p.Weights.B.ToArray() }).ToArray();
        }
        var one = After(4, 1);
        var four = After(1, 4);
        for (int i = 0; i < one.Length; i++)
            for (int j = 0; j < one[i].Length; j++) Assert.True(Math.Abs(one[i][j] - four[i][j]) <= 1e-6, $"{i}[{j}]: {one[i][j]} vs {four[i][j]}");
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ResumingFromACheckpointGivesTheSameAdapter()
    {
        string dir = TestPaths.NewTempDir();
        using var b = TrainingBase.Load(Model);
        var data = b.LoadData(WriteData(dir, 6), 2048);
        var o = new TrainingOptions { LoraR = 4, LearningRate = 5e-3, Epochs = 2, BatchSize = 2, SaveSteps = 2, WarmupSteps = 1, Schedule = LrSchedule.Cosine, TargetModules = ["q_proj", "o_proj", "up_proj"] };
        var events = new List<TrainingProgress>();
        using (var t = new LoraTrainer(b.Model, o, Pool))
            t.Train(data, data, Path.Combine(dir, "full"), progress: new Collect(events));
        Assert.Equal(6, events.Count(e => e.Event == TrainingEvent.Step));
        Assert.Equal(2, events.Count(e => e.Event == TrainingEvent.Eval));   // end of each epoch
        Assert.Equal(new[] { "checkpoint-2", "checkpoint-4" }, Directory.GetDirectories(Path.Combine(dir, "full")).Select(Path.GetFileName).Order());
        string ckpt = TrainerCheckpoint.Latest(Path.Combine(dir, "full"))!;
        Assert.EndsWith("checkpoint-4", ckpt);
        foreach (var f in new[] { "adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(ckpt, f)), f);

        using (var t = new LoraTrainer(b.Model, o, Pool))
        {
            var r = t.Train(data, data, Path.Combine(dir, "resumed"), resumeFrom: ckpt);
            Assert.Equal(6, r.Steps);
        }
        var full = LoraAdapter.Load(Path.Combine(dir, "full"));
        var resumed = LoraAdapter.Load(Path.Combine(dir, "resumed"));
        foreach (var (k, w) in full.Modules)
        {
            Assert.Equal(w.A, resumed.Modules[k].A);
            Assert.Equal(w.B, resumed.Modules[k].B);
        }
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "resumed", "trainer_state.json")))!;
        Assert.Equal(6, state["global_step"]!.GetValue<int>());
        Assert.Equal(6, state["log_history"]!.AsArray().Count(e => e!["loss"] != null));
        Directory.Delete(dir, true);
    }

    sealed class Collect(List<TrainingProgress> list) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => list.Add(value);
    }

    [Fact]
    public void SchedulesFollowTransformers()
    {
        // get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup with warmup 10 of 110 steps.
        Assert.Equal(0, LearningRate.At(LrSchedule.Linear, 1, 0, 10, 110));
        Assert.Equal(0.5, LearningRate.At(LrSchedule.Linear, 1, 5, 10, 110), 12);
        Assert.Equal(1, LearningRate.At(LrSchedule.Linear, 1, 10, 10, 110), 12);
        Assert.Equal(0.5, LearningRate.At(LrSchedule.Linear, 1, 60, 10, 110), 12);
        Assert.Equal(0.5, LearningRate.At(LrSchedule.Cosine, 1, 60, 10, 110), 12);
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * 0.25)), LearningRate.At(LrSchedule.Cosine, 1, 35, 10, 110), 12);
        Assert.Equal(1, LearningRate.At(LrSchedule.Constant, 1, 100, 10, 110));
    }

    [Fact]
    public void AdamWStepIsTorchs()
    {
        using var b = TrainingBase.Load(Model);
        var lora = LoraParameters.Create(b.Model, new LoraConfig { R = 1, TargetModules = ["q_proj"] });
        var p = lora.Parameters[0];
        var adam = new AdamW(lora) { WeightDecay = 0.1 };
        float w0 = p.Weights.A[0];
        double lr = 0.01, g1 = 0.5, g2 = -0.25;
        p.GradA[0] = (float)g1;
        adam.Update(lr);
        p.GradA[0] = (float)g2;
        adam.Update(lr);
        // torch.optim.AdamW, two steps, by hand.
        double w = w0, m = 0, v = 0;
        foreach (var (g, t) in new[] { (g1, 1), (g2, 2) })
        {
            w *= 1 - lr * 0.1;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            w -= lr * (m / (1 - Math.Pow(0.9, t))) / (Math.Sqrt(v / (1 - Math.Pow(0.999, t))) + 1e-8);
        }
        Assert.Equal(w, p.Weights.A[0], 5);
        Assert.Equal(0f, p.Weights.B[0]); // zero gradient, zero weight: unchanged
    }

    [Fact]
    public void BadOptionsAndUnsupportedModelsAreRefused()
    {
        string dir = TestPaths.NewTempDir();
        string data = WriteData(dir, 2);
        var o = new StringWriter();
        var e = new StringWriter();
        int code = QwenSharp.Cli.Program.Run(["finetune", "--model", Model, "--data", data, "--out", Path.Combine(dir, "o"), "--targets", "q_proj,lm_head"], o, e);
        Assert.Equal(2, code);
        Assert.Contains("--targets: 'lm_head'", e.ToString());
        e = new StringWriter();
        code = QwenSharp.Cli.Program.Run(["finetune", "--model", Model, "--data", data, "--out", Path.Combine(dir, "o"), "--lr", "0"], o, e);
        Assert.Equal(2, code);
        Assert.Contains("--lr", e.ToString());
        e = new StringWriter();
        code = QwenSharp.Cli.Program.Run(["finetune", "--model", Model, "--data", data, "--out", Path.Combine(dir, "o"), "--resume"], o, e);
        Assert.Equal(2, code);
        Assert.Contains("no checkpoint", e.ToString());
        e = new StringWriter();
        code = QwenSharp.Cli.Program.Run(["finetune", "--model", ModelGradientTests.ModelDir("qwen3moe-tiny"), "--data", data, "--out", Path.Combine(dir, "o")], o, e);
        Assert.Equal(1, code);
        Assert.Contains("mixture-of-experts", e.ToString());
        Directory.Delete(dir, true);
    }
}

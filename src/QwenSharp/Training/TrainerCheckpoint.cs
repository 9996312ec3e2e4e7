using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Training;

/// <summary>
/// A training checkpoint folder, laid out as transformers' Trainer does: checkpoint-&lt;step&gt;/ with the
/// adapter in PEFT format, the optimizer state (optimizer.safetensors: exp_avg / exp_avg_sq per LoRA tensor,
/// instead of a pickled optimizer.pt) and trainer_state.json (global_step, epoch, log_history). Written to a
/// temporary folder and renamed, so a checkpoint is either whole or absent.
/// </summary>
public static class TrainerCheckpoint
{
    public const string Prefix = "checkpoint-";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";

    internal static string Save(string outDir, int step, double epoch, LoraParameters parameters, AdamW optimizer, JsonArray logHistory, int maxSteps, TrainingOptions options)
    {
        string final = Path.Combine(outDir, Prefix + step);
        string tmp = final + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        parameters.ToAdapter("checkpoint").Save(tmp);
        var w = new SafetensorsWriter().AddMetadata("format", "pt");
        int k = 0;
        foreach (var p in parameters.Parameters)
        {
            foreach (bool a in new[] { true, false })
            {
                string name = PeftFormat.TensorName(p.Weights.Module, a);
                long[] shape = a ? [p.Weights.Rank, p.Weights.InFeatures] : [p.Weights.OutFeatures, p.Weights.Rank];
                w.AddF32(name + ".exp_avg", optimizer.M[k], shape);
                w.AddF32(name + ".exp_avg_sq", optimizer.V[k], shape);
                k++;
            }
        }
        w.AddMetadata("step", optimizer.Step.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.Write(Path.Combine(tmp, OptimizerFile));
        WriteState(Path.Combine(tmp, StateFile), step, epoch, logHistory, maxSteps, options);
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        return final;
    }

    internal static void WriteState(string path, int step, double epoch, JsonArray logHistory, int maxSteps, TrainingOptions options)
    {
        var state = new JsonObject
        {
            ["global_step"] = step,
            ["epoch"] = epoch,
            ["max_steps"] = maxSteps,
            ["num_train_epochs"] = options.Epochs,
            ["train_batch_size"] = options.BatchSize,
            ["gradient_accumulation_steps"] = options.GradientAccumulationSteps,
            ["learning_rate"] = options.LearningRate,
            ["seed"] = options.Seed,
            ["log_history"] = logHistory.DeepClone(),
        };
        AtomicWrite.Text(path, state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The checkpoint with the highest step in <paramref name="outDir"/>, or null.</summary>
    public static string? Latest(string outDir)
    {
        if (!Directory.Exists(outDir)) return null;
        return Directory.GetDirectories(outDir, Prefix + "*")
            .Select(d => (Dir: d, Ok: int.TryParse(Path.GetFileName(d)[Prefix.Length..], out int s), Step: s))
            .Where(x => x.Ok && File.Exists(Path.Combine(x.Dir, StateFile)))
            .OrderByDescending(x => x.Step).Select(x => x.Dir).FirstOrDefault();
    }

    /// <summary>Restores parameters and optimizer state; returns (global_step, log_history).</summary>
    internal static unsafe (int Step, JsonArray Log, LoraParameters Parameters, AdamW Optimizer) Load(string dir, QwenModel model, TrainingOptions options)
    {
        string statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw new ModelFormatException(dir, $"not a training checkpoint (no {StateFile})");
        var state = JsonNode.Parse(File.ReadAllText(statePath)) as JsonObject ?? throw new ModelFormatException(statePath, "not a JSON object");
        int step = state["global_step"]?.GetValue<int>() ?? throw new ModelFormatException(statePath, "missing global_step");
        var log = state["log_history"] as JsonArray ?? [];
        var adapter = LoraAdapter.Load(dir);
        var parameters = LoraParameters.FromAdapter(model, adapter);
        var optimizer = new AdamW(parameters) { WeightDecay = options.WeightDecay };
        string optPath = Path.Combine(dir, OptimizerFile);
        using var f = new SafetensorsFile(optPath);
        if (!f.Metadata.TryGetValue("step", out var s) || !int.TryParse(s, out int adamStep))
            throw new ModelFormatException(optPath, "missing the optimizer step count in the metadata");
        optimizer.Step = adamStep;
        int k = 0;
        foreach (var p in parameters.Parameters)
            foreach (bool a in new[] { true, false })
            {
                string name = PeftFormat.TensorName(p.Weights.Module, a);
                Read(name + ".exp_avg", optimizer.M[k]);
                Read(name + ".exp_avg_sq", optimizer.V[k]);
                k++;
            }
        return (step, (JsonArray)log.DeepClone(), parameters, optimizer);

        void Read(string name, float[] dst)
        {
            if (!f.TryGetTensor(name, out var t) || t.Type != GgmlType.F32 || t.Elements != dst.Length)
                throw new ModelFormatException(optPath, $"tensor '{name}' is missing or has the wrong shape");
            new ReadOnlySpan<float>(f.DataPointer(t), dst.Length).CopyTo(dst);
        }
    }
}

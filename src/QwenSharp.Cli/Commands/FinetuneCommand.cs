using System.CommandLine;
using System.Globalization;
using QwenSharp.Engine;
using QwenSharp.Training;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp finetune --model PATH --data train.jsonl [--eval eval.jsonl] --out DIR`: LoRA fine-tuning on
/// chat-format JSONL, rendered with the model's own template, loss on assistant tokens only. Writes the
/// adapter in PEFT format (adapter_config.json + adapter_model.safetensors); progress on stderr.
/// </summary>
public static class FinetuneCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var data = new Option<string>("--data") { Description = "Training data: JSONL, one {\"messages\": [...]} conversation per line", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Evaluation data (same format): eval loss at the end of each epoch (or every --eval-steps)" };
        var r = new Option<int>("--lora-r") { Description = "LoRA rank", DefaultValueFactory = _ => 16 };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha (scale = alpha / r)", DefaultValueFactory = _ => 32 };
        var targets = new Option<string>("--targets") { Description = "Comma-separated linear layers to adapt: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", DefaultValueFactory = _ => "q_proj,k_proj,v_proj,o_proj" };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 2e-4 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "Conversations (or packed rows) per micro-batch", DefaultValueFactory = _ => 4 };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var maxSeq = new Option<int>("--max-seq") { Description = "Longest sequence in tokens (longer conversations are cut)", DefaultValueFactory = _ => 2048 };
        var output = new Option<string>("--out", "-o") { Description = "Output folder for the adapter and checkpoints", Required = true };
        var packing = new Option<bool>("--packing") { Description = "Pack several conversations into each row of --max-seq tokens (attention stays within each)" };
        var schedule = new Option<string>("--schedule") { Description = "Learning-rate decay after warmup: linear, cosine or constant", DefaultValueFactory = _ => "linear" };
        var warmup = new Option<int>("--warmup-steps") { Description = "Steps of linear warmup from 0", DefaultValueFactory = _ => 0 };
        var saveSteps = new Option<int>("--save-steps") { Description = "Save a checkpoint (out/checkpoint-N) every N steps (0: only the final adapter)", DefaultValueFactory = _ => 0 };
        var evalSteps = new Option<int>("--eval-steps") { Description = "Eval loss every N steps (0: at the end of each epoch)", DefaultValueFactory = _ => 0 };
        var resume = new Option<string?>("--resume") { Description = "Continue from a checkpoint folder, or with no value from the latest checkpoint in --out", Arity = ArgumentArity.ZeroOrOne };
        var rslora = new Option<bool>("--rslora") { Description = "Rank-stabilized LoRA: scale = alpha / sqrt(r)" };
        var seed = new Option<int>("--seed") { Description = "Seed for the LoRA initialization and the data order", DefaultValueFactory = _ => 42 };
        var threads = CliOptions.Threads();
        var quantize = CliOptions.Quantize();
        var cmd = new Command("finetune", "Fine-tune a model with LoRA on chat-format JSONL (PEFT-format adapter out)")
        {
            model, data, eval, r, alpha, targets, lr, epochs, batch, accum, maxSeq, output, packing, schedule, warmup, saveSteps, evalSteps, resume, rslora, seed, threads, quantize,
        };
        cmd.SetAction((p, ct) =>
        {
            var stderr = p.InvocationConfiguration.Error;
            var stdout = p.InvocationConfiguration.Output;
            var sched = p.GetValue(schedule)!.ToLowerInvariant() switch
            {
                "linear" => LrSchedule.Linear,
                "cosine" => LrSchedule.Cosine,
                "constant" => LrSchedule.Constant,
                var s => throw new CliException($"--schedule: '{s}' is not a schedule (linear, cosine, constant)", 2),
            };
            string modelArg = p.GetValue(model)!;
            var options = new TrainingOptions
            {
                LoraR = p.GetValue(r), LoraAlpha = p.GetValue(alpha),
                TargetModules = p.GetValue(targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                UseRslora = p.GetValue(rslora),
                LearningRate = p.GetValue(lr), Epochs = p.GetValue(epochs), BatchSize = p.GetValue(batch),
                GradientAccumulationSteps = p.GetValue(accum), MaxSequenceLength = p.GetValue(maxSeq), Packing = p.GetValue(packing),
                Schedule = sched, WarmupSteps = p.GetValue(warmup), SaveSteps = p.GetValue(saveSteps), EvalSteps = p.GetValue(evalSteps),
                Seed = p.GetValue(seed), BaseModelName = modelArg,
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new CliException("--" + e.Message, 2); }

            string outDir = p.GetValue(output)!;
            string? resumeDir = null;
            if (p.GetResult(resume) is not null)
            {
                resumeDir = p.GetValue(resume) ?? TrainerCheckpoint.Latest(outDir)
                    ?? throw new CliException($"--resume: no checkpoint-N folder in {outDir}", 2);
                if (!Directory.Exists(resumeDir)) throw new CliException($"--resume: {resumeDir}: no such checkpoint folder", 2);
            }

            string path = ModelResolver.Resolve(modelArg, null, stderr);
            using var pool = ModelResolver.CreatePool(p.GetValue(threads));
            using var baseModel = TrainingBase.Load(path, CliOptions.LoadOptions(p.GetValue(quantize)));
            ChatDataset train, evalData;
            try
            {
                train = baseModel.LoadData(p.GetValue(data)!, options.MaxSequenceLength);
                evalData = p.GetValue(eval) is { } e ? baseModel.LoadData(e, options.MaxSequenceLength) : null!;
            }
            catch (InvalidDataException e) { throw new CliException(e.Message, 2); }
            stderr.WriteLine($"{train.Examples.Count} conversations, {train.TotalTokens} tokens" +
                (train.Truncated > 0 ? $", {train.Truncated} cut to {options.MaxSequenceLength} tokens" : "") +
                (train.Dropped > 0 ? $", {train.Dropped} dropped (no assistant tokens left)" : "") +
                (evalData != null ? $"; eval: {evalData.Examples.Count} conversations" : ""));

            using var trainer = new LoraTrainer(baseModel.Model, options, pool);
            if (resumeDir is null) trainer.Initialize();
            stderr.WriteLine($"LoRA r={options.LoraR} alpha={options.LoraAlpha} on {string.Join(",", options.TargetModules)}: " +
                $"{(trainer.Parameters?.Count ?? 0):N0} trainable parameters; {trainer.StepsFor(train)} steps" + (resumeDir != null ? $"; resuming from {resumeDir}" : ""));
            var progress = new SyncProgress(e =>
            {
                var inv = CultureInfo.InvariantCulture;
                switch (e.Event)
                {
                    case TrainingEvent.Step:
                        stderr.WriteLine(string.Format(inv, "step {0}/{1}  epoch {2:0.00}  loss {3:0.0000}  lr {4:0.00e+00}  grad-norm {5:0.000}  {6:0} tok/s  ETA {7}",
                            e.Step, e.TotalSteps, e.Epoch, e.Loss, e.LearningRate, e.GradNorm, e.TokensPerSecond, Format(e.Eta)));
                        break;
                    case TrainingEvent.Eval:
                        stderr.WriteLine(string.Format(inv, "eval  step {0}  eval loss {1:0.0000}", e.Step, e.EvalLoss));
                        break;
                    case TrainingEvent.Checkpoint:
                        stderr.WriteLine($"saved checkpoint {e.Path}");
                        break;
                }
            });
            TrainingResult result;
            try { result = trainer.Train(train, evalData, outDir, resumeDir, progress, ct); }
            catch (Formats.ModelFormatException e) { throw new CliException(e.Message, 1); }
            stdout.WriteLine(string.Format(CultureInfo.InvariantCulture, "saved adapter to {0} ({1} steps, final loss {2:0.0000}{3}, {4} trained tokens, {5})",
                outDir, result.Steps, result.FinalLoss, result.EvalLoss is { } ev ? string.Format(CultureInfo.InvariantCulture, ", eval loss {0:0.0000}", ev) : "",
                result.TrainedTokens, Format(result.Elapsed)));
            return Task.FromResult(0);
        });
        return cmd;
    }

    static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";

    /// <summary>Reports on the training thread itself (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

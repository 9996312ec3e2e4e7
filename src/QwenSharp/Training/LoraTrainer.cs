using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Models;

namespace QwenSharp.Training;

/// <summary>
/// Fine-tunes a Qwen model with LoRA: the base weights stay frozen (in whatever format they were loaded,
/// quantized included), only the LoRA pairs are trained. Each epoch shuffles the rows (examples, or packed
/// rows), groups them into micro-batches of <see cref="TrainingOptions.BatchSize"/>, and makes one AdamW
/// update per <see cref="TrainingOptions.GradientAccumulationSteps"/> micro-batches, with the loss averaged
/// over all trained (assistant) tokens of the update. The learning rate warms up linearly, then decays
/// (linear or cosine) to zero at the last step. Checkpoints every <see cref="TrainingOptions.SaveSteps"/>
/// steps can be resumed exactly: the data order depends only on the seed and the epoch.
/// <code>
/// using var trainer = new LoraTrainer(model, options);
/// var result = trainer.Train(trainData, evalData, "out/my-adapter");
/// </code>
/// </summary>
public sealed class LoraTrainer : IDisposable
{
    readonly QwenModel _model;
    readonly TrainingOptions _options;
    readonly WorkerPool _pool;
    LoraBackprop? _backprop;

    public QwenModel Model => _model;
    public TrainingOptions Options => _options;
    /// <summary>The parameters being trained (after <see cref="Train"/> started or <see cref="Initialize()"/>).</summary>
    public LoraParameters? Parameters { get; private set; }
    public AdamW? Optimizer { get; private set; }

    public LoraTrainer(QwenModel model, TrainingOptions options, WorkerPool? pool = null)
    {
        options.Validate();
        if (model.Config.IsMoe) throw new NotSupportedException($"fine-tuning mixture-of-experts models ({model.Config.ModelType}) is not supported yet; dense Qwen2/2.5/3 models are");
        _model = model;
        _options = options;
        _pool = pool ?? WorkerPool.Shared;
    }

    /// <summary>Fresh LoRA parameters (PEFT's initialization) and optimizer.</summary>
    public void Initialize()
    {
        Parameters = LoraParameters.Create(_model, _options.ToLoraConfig(), _options.Seed);
        Optimizer = new AdamW(Parameters) { WeightDecay = _options.WeightDecay };
        _backprop?.Dispose();
        _backprop = new LoraBackprop(_model, Parameters, _pool, _options.GradientCheckpointing);
    }

    /// <summary>Starts from an existing adapter's weights (the optimizer starts fresh).</summary>
    public void Initialize(LoraAdapter adapter)
    {
        Parameters = LoraParameters.FromAdapter(_model, adapter);
        Optimizer = new AdamW(Parameters) { WeightDecay = _options.WeightDecay };
        _backprop?.Dispose();
        _backprop = new LoraBackprop(_model, Parameters, _pool, _options.GradientCheckpointing);
    }

    /// <summary>Rows of one epoch: single examples, or packed groups.</summary>
    List<ChatExample[]> Rows(ChatDataset data) =>
        _options.Packing ? ChatDataset.Pack(data.Examples, _options.MaxSequenceLength) : data.Examples.Select(e => new[] { e }).ToList();

    static TrainingBatch ToBatch(IEnumerable<ChatExample[]> rows) =>
        TrainingBatch.FromSequences(rows.SelectMany(r => r).Select(e => (e.Tokens, e.Labels)));

    /// <summary>Optimizer steps for a dataset with the current options.</summary>
    public int StepsFor(ChatDataset data)
    {
        int rows = Rows(data).Count;
        int micro = (rows + _options.BatchSize - 1) / _options.BatchSize;
        return (micro + _options.GradientAccumulationSteps - 1) / _options.GradientAccumulationSteps * _options.Epochs;
    }

    /// <summary>Mean cross-entropy per trained token over a dataset, with the current LoRA weights.</summary>
    public double EvaluateLoss(ChatDataset data)
    {
        if (_backprop is null) Initialize();
        double sum = 0;
        long count = 0;
        var examples = data.Examples;
        for (int i = 0; i < examples.Count; i += _options.BatchSize)
        {
            var batch = ToBatch(examples.Skip(i).Take(_options.BatchSize).Select(e => new[] { e }));
            sum += _backprop!.Loss(batch);
            count += batch.LabelCount;
        }
        return sum / Math.Max(1, count);
    }

    /// <summary>
    /// Trains on <paramref name="train"/>, reporting progress, and writes the adapter (PEFT format) to
    /// <paramref name="outputDir"/>. <paramref name="resumeFrom"/>: a checkpoint folder to continue from.
    /// </summary>
    public TrainingResult Train(ChatDataset train, ChatDataset? eval, string outputDir, string? resumeFrom = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken ct = default)
    {
        Directory.CreateDirectory(outputDir);
        var log = new JsonArray();
        int startStep = 0;
        if (resumeFrom != null)
        {
            var (step, history, parameters, optimizer) = TrainerCheckpoint.Load(resumeFrom, _model, _options);
            Parameters = parameters;
            Optimizer = optimizer;
            _backprop?.Dispose();
            _backprop = new LoraBackprop(_model, Parameters, _pool, _options.GradientCheckpointing);
            startStep = step;
            log = history;
        }
        else if (_backprop is null) Initialize();

        var rows = Rows(train);
        int microPerEpoch = (rows.Count + _options.BatchSize - 1) / _options.BatchSize;
        int stepsPerEpoch = (microPerEpoch + _options.GradientAccumulationSteps - 1) / _options.GradientAccumulationSteps;
        int totalSteps = stepsPerEpoch * _options.Epochs;
        if (startStep > totalSteps) throw new ArgumentException($"the checkpoint is at step {startStep}, past this run's {totalSteps} steps");

        var clock = Stopwatch.StartNew();
        long tokens = 0, trainedTokens = 0;
        int globalStep = startStep, stepsThisRun = 0;
        double lastLoss = double.NaN;
        double? lastEval = null;

        for (int epoch = 0; epoch < _options.Epochs; epoch++)
        {
            if (globalStep >= (epoch + 1) * stepsPerEpoch) continue; // epoch already done (resume)
            var order = Enumerable.Range(0, rows.Count).ToArray();
            new Random(_options.Seed + epoch).Shuffle(order);
            for (int s = 0; s < stepsPerEpoch; s++)
            {
                if (epoch * stepsPerEpoch + s < globalStep) continue;
                ct.ThrowIfCancellationRequested();
                var micro = new List<TrainingBatch>();
                for (int a = 0; a < _options.GradientAccumulationSteps; a++)
                {
                    int m = s * _options.GradientAccumulationSteps + a;
                    if (m >= microPerEpoch) break;
                    micro.Add(ToBatch(order.Skip(m * _options.BatchSize).Take(_options.BatchSize).Select(i => rows[i])));
                }
                int labels = micro.Sum(b => b.LabelCount);
                Parameters!.ZeroGrad();
                double lossSum = 0;
                foreach (var b in micro)
                {
                    if (b.LabelCount == 0) continue;
                    lossSum += _backprop!.ForwardBackward(b, 1f / Math.Max(1, labels));
                    tokens += b.Count;
                }
                trainedTokens += labels;
                double gradNorm = Optimizer!.ClipGradients(_options.MaxGradNorm);
                double lr = LearningRate.At(_options.Schedule, _options.LearningRate, globalStep, _options.WarmupSteps, totalSteps);
                Optimizer.Update(lr);
                globalStep++;
                stepsThisRun++;
                lastLoss = lossSum / Math.Max(1, labels);
                double epochF = (double)globalStep / stepsPerEpoch;
                log.Add((JsonNode)new JsonObject { ["epoch"] = Math.Round(epochF, 4), ["grad_norm"] = gradNorm, ["learning_rate"] = lr, ["loss"] = lastLoss, ["step"] = globalStep });
                var elapsed = clock.Elapsed;
                progress?.Report(new TrainingProgress
                {
                    Event = TrainingEvent.Step, Step = globalStep, TotalSteps = totalSteps, Epoch = epochF, Loss = lastLoss,
                    LearningRate = lr, GradNorm = gradNorm, TokensPerSecond = tokens / Math.Max(1e-9, elapsed.TotalSeconds), Elapsed = elapsed,
                    Eta = TimeSpan.FromSeconds(elapsed.TotalSeconds / stepsThisRun * (totalSteps - globalStep)),
                });

                bool epochEnd = s == stepsPerEpoch - 1;
                if (eval != null && (_options.EvalSteps > 0 ? globalStep % _options.EvalSteps == 0 : epochEnd))
                {
                    lastEval = EvaluateLoss(eval);
                    log.Add((JsonNode)new JsonObject { ["epoch"] = Math.Round(epochF, 4), ["eval_loss"] = lastEval, ["step"] = globalStep });
                    progress?.Report(new TrainingProgress { Event = TrainingEvent.Eval, Step = globalStep, TotalSteps = totalSteps, Epoch = epochF, EvalLoss = lastEval, Elapsed = clock.Elapsed, Loss = lastLoss, LearningRate = lr });
                }
                if (_options.SaveSteps > 0 && globalStep % _options.SaveSteps == 0 && globalStep < totalSteps)
                {
                    string dir = TrainerCheckpoint.Save(outputDir, globalStep, epochF, Parameters, Optimizer, log, totalSteps, _options);
                    progress?.Report(new TrainingProgress { Event = TrainingEvent.Checkpoint, Step = globalStep, TotalSteps = totalSteps, Epoch = epochF, Path = dir, Elapsed = clock.Elapsed, Loss = lastLoss, LearningRate = lr });
                }
            }
        }

        var adapter = Parameters!.ToAdapter(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir))));
        adapter.Save(outputDir);
        TrainerCheckpoint.WriteState(Path.Combine(outputDir, TrainerCheckpoint.StateFile), globalStep, (double)globalStep / Math.Max(1, stepsPerEpoch), log, totalSteps, _options);
        progress?.Report(new TrainingProgress { Event = TrainingEvent.Done, Step = globalStep, TotalSteps = totalSteps, Epoch = _options.Epochs, Loss = lastLoss, EvalLoss = lastEval, Path = outputDir, Elapsed = clock.Elapsed });
        return new TrainingResult { Adapter = adapter, Steps = globalStep, FinalLoss = lastLoss, EvalLoss = lastEval, TrainedTokens = trainedTokens, Elapsed = clock.Elapsed };
    }

    public void Dispose() => _backprop?.Dispose();
}

namespace QwenSharp.Training;

/// <summary>How to fine-tune with LoRA (names follow PEFT's LoraConfig and transformers' TrainingArguments).</summary>
public sealed record TrainingOptions
{
    /// <summary>LoRA rank r.</summary>
    public int LoraR { get; init; } = 16;
    public double LoraAlpha { get; init; } = 32;
    /// <summary>Linear layers to adapt (PEFT target_modules).</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj"];
    /// <summary>Scale by alpha / sqrt(r) instead of alpha / r.</summary>
    public bool UseRslora { get; init; }

    public double LearningRate { get; init; } = 2e-4;
    public int Epochs { get; init; } = 3;
    /// <summary>Sequences (or packed rows) per micro-batch.</summary>
    public int BatchSize { get; init; } = 4;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;
    public int MaxSequenceLength { get; init; } = 2048;
    /// <summary>Pack several examples into each row of up to MaxSequenceLength tokens (attention stays within each example).</summary>
    public bool Packing { get; init; }
    public LrSchedule Schedule { get; init; } = LrSchedule.Linear;
    public int WarmupSteps { get; init; }
    public double WeightDecay { get; init; }
    /// <summary>Clip the global gradient norm to this (≤ 0: off); transformers' default is 1.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Save a checkpoint every this many optimizer steps (0: only the final adapter).</summary>
    public int SaveSteps { get; init; }
    /// <summary>Compute the eval loss every this many steps (0: at the end of each epoch).</summary>
    public int EvalSteps { get; init; }
    public int Seed { get; init; } = 42;
    /// <summary>Recompute each layer's activations in the backward pass instead of keeping them (less memory, ~1/3 more compute).</summary>
    public bool GradientCheckpointing { get; init; } = true;
    /// <summary>Recorded as base_model_name_or_path in adapter_config.json.</summary>
    public string? BaseModelName { get; init; }

    /// <summary>Checks every value, naming the option on error.</summary>
    public void Validate()
    {
        if (LoraR is < 1 or > Lora.LoraWeights.MaxRank) throw new ArgumentException($"lora-r: {LoraR} must be between 1 and {Lora.LoraWeights.MaxRank}");
        if (!(LoraAlpha > 0)) throw new ArgumentException($"lora-alpha: {LoraAlpha} must be positive");
        if (TargetModules.Count == 0) throw new ArgumentException("targets: at least one module is needed");
        foreach (var t in TargetModules)
            if (!Lora.LoraConfig.SupportedTargets.Contains(t))
                throw new ArgumentException($"targets: '{t}' is not a linear layer of a Qwen decoder (choose from {string.Join(", ", Lora.LoraConfig.SupportedTargets)})");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"lr: {LearningRate} must be a positive number");
        if (Epochs < 1) throw new ArgumentException($"epochs: {Epochs} must be at least 1");
        if (BatchSize < 1) throw new ArgumentException($"batch: {BatchSize} must be at least 1");
        if (GradientAccumulationSteps < 1) throw new ArgumentException($"grad-accum: {GradientAccumulationSteps} must be at least 1");
        if (MaxSequenceLength < 2) throw new ArgumentException($"max-seq: {MaxSequenceLength} must be at least 2");
        if (WarmupSteps < 0) throw new ArgumentException($"warmup-steps: {WarmupSteps} must not be negative");
        if (WeightDecay < 0) throw new ArgumentException($"weight-decay: {WeightDecay} must not be negative");
        if (SaveSteps < 0) throw new ArgumentException($"save-steps: {SaveSteps} must not be negative");
        if (EvalSteps < 0) throw new ArgumentException($"eval-steps: {EvalSteps} must not be negative");
    }

    public Lora.LoraConfig ToLoraConfig() => new()
    {
        R = LoraR,
        LoraAlpha = LoraAlpha,
        TargetModules = TargetModules.ToArray(),
        UseRslora = UseRslora,
        BaseModelNameOrPath = BaseModelName,
    };
}

/// <summary>What a progress report is about.</summary>
public enum TrainingEvent { Step, Eval, Checkpoint, Done }

/// <summary>One progress report of a training run.</summary>
public sealed record TrainingProgress
{
    public TrainingEvent Event { get; init; }
    /// <summary>Optimizer steps done.</summary>
    public int Step { get; init; }
    public int TotalSteps { get; init; }
    /// <summary>Epochs done, fractional.</summary>
    public double Epoch { get; init; }
    /// <summary>Mean loss per trained token of the last step.</summary>
    public double Loss { get; init; }
    public double LearningRate { get; init; }
    public double GradNorm { get; init; }
    public double TokensPerSecond { get; init; }
    public TimeSpan Elapsed { get; init; }
    public TimeSpan Eta { get; init; }
    public double? EvalLoss { get; init; }
    /// <summary>The checkpoint folder (Checkpoint event).</summary>
    public string? Path { get; init; }
}

/// <summary>The outcome of a training run.</summary>
public sealed record TrainingResult
{
    public required Lora.LoraAdapter Adapter { get; init; }
    public int Steps { get; init; }
    public double FinalLoss { get; init; }
    public double? EvalLoss { get; init; }
    public long TrainedTokens { get; init; }
    public TimeSpan Elapsed { get; init; }
}

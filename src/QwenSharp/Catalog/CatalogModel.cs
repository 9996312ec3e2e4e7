namespace QwenSharp.Catalog;

/// <summary>What a model takes as input.</summary>
[Flags]
public enum Modality { Text = 1, Vision = 2, Audio = 4 }

/// <summary>How a model thinks before it answers.</summary>
public enum ThinkingMode
{
    /// <summary>Answers directly.</summary>
    None,
    /// <summary>Thinks or not, switched per request (Qwen3's enable_thinking, /think and /no_think).</summary>
    Hybrid,
    /// <summary>Always writes a reasoning trace first (QwQ, the Qwen3 -Thinking-2507 models).</summary>
    Always,
}

/// <summary>What a user wants a model for (<c>qwensharp recommend --task</c>).</summary>
[Flags]
public enum ModelTask { None = 0, Chat = 1, Code = 2, Math = 4, Reasoning = 8, Vision = 16, Audio = 32, Multilingual = 64 }

/// <summary>
/// One Qwen model: its repository, architecture (from which parameter counts and memory needs are computed),
/// context length natively and with YaRN rope scaling, modalities, thinking support, licence, strengths and
/// the official GGUF repository when Qwen publishes one.
/// </summary>
public sealed record CatalogModel
{
    /// <summary>Hugging Face / ModelScope repository id (Qwen publishes under the same id on both).</summary>
    public required string Repo { get; init; }
    /// <summary>Family: Qwen2, Qwen2.5, Qwen2.5-Coder, Qwen2.5-Math, Qwen2.5-VL, QwQ, Qwen2-Audio, Qwen3, Qwen3-2507, Qwen3-Coder.</summary>
    public required string Family { get; init; }
    public required ModelArchitecture Architecture { get; init; }
    /// <summary>Context length the model was trained for (tokens).</summary>
    public required int NativeContext { get; init; }
    /// <summary>Context length with YaRN rope scaling, as the model card documents it (null: not documented).</summary>
    public int? YarnContext { get; init; }
    public Modality Modalities { get; init; } = Modality.Text;
    public ThinkingMode Thinking { get; init; }
    /// <summary>SPDX-style licence id ("apache-2.0", "qwen" = Qwen License, "qwen-research" = Qwen Research License).</summary>
    public required string License { get; init; }
    public required string Strengths { get; init; }
    public ModelTask Tasks { get; init; }
    /// <summary>False for base (pretrained-only) models: good for fine-tuning and completion, not chat.</summary>
    public bool IsInstruct { get; init; } = true;
    /// <summary>The official GGUF repository (Qwen/...-GGUF), or null when Qwen publishes none.</summary>
    public string? GgufRepo { get; init; }
    /// <summary>The quantizations in <see cref="GgufRepo"/>.</summary>
    public IReadOnlyList<GgufQuant> GgufQuants { get; init; } = [];
    /// <summary>Month of release (yyyy-MM).</summary>
    public required string Released { get; init; }

    public string Name => Repo[(Repo.IndexOf('/') + 1)..];
    public long TotalParams => Architecture.TotalParams;
    public long ActiveParams => Architecture.ActiveParams;
    public int MaxContext => YarnContext ?? NativeContext;

    /// <summary>Whether QwenSharp runs it today: qwen2, qwen3, qwen2moe and qwen3moe text models.</summary>
    public bool RunnableToday => Modalities == Modality.Text && Architecture.Arch is "qwen2" or "qwen3" or "qwen2moe" or "qwen3moe";

    /// <summary>"yes", or why not.</summary>
    public string RunnableReason => RunnableToday ? "yes"
        : (Modalities & Modality.Vision) != 0 ? "no: vision input is not supported yet"
        : (Modalities & Modality.Audio) != 0 ? "no: audio input is not supported yet"
        : $"no: architecture {Architecture.Arch} is not supported";

    /// <summary>The command that downloads and runs this model in the given form.</summary>
    public string CommandFor(GgufQuant quant) =>
        quant == GgufQuant.BF16 || GgufRepo == null
            ? $"qwensharp chat --model {Repo}"
            : $"qwensharp chat --model {GgufRepo} --include '*{GgufQuantInfo.Name(quant)}*.gguf'";
}

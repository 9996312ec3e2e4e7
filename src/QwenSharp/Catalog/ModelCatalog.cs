namespace QwenSharp.Catalog;

/// <summary>
/// The Qwen models people run, with their architectures (from the models' config.json files) and what the
/// model cards say about context, thinking, licence and strengths. Parameter counts and memory needs are
/// computed from the architectures (<see cref="ModelArchitecture"/>, <see cref="MemoryEstimate"/>), not typed in.
/// </summary>
public static partial class ModelCatalog
{
    const int V = 151936, V7 = 152064;
    static readonly GgufQuant[] Qwen25Gguf = [GgufQuant.Q4_0, GgufQuant.Q4_K_M, GgufQuant.Q5_K_M, GgufQuant.Q6_K, GgufQuant.Q8_0, GgufQuant.F16];
    static readonly GgufQuant[] Qwen3Gguf = [GgufQuant.Q4_K_M, GgufQuant.Q5_K_M, GgufQuant.Q6_K, GgufQuant.Q8_0];

    static ModelArchitecture Qwen2(int layers, int hidden, int inter, int heads, int kv, int vocab, bool tied, bool? ggufOutput = null) => new()
    {
        Arch = "qwen2", Layers = layers, Hidden = hidden, Intermediate = inter, Heads = heads, KvHeads = kv, HeadDim = hidden / heads,
        VocabSize = vocab, TiedEmbeddings = tied, QkvBias = true, GgufOutputTensor = ggufOutput,
    };

    static ModelArchitecture Qwen3(int layers, int hidden, int inter, int heads, int kv, bool tied, bool? ggufOutput = null) => new()
    {
        Arch = "qwen3", Layers = layers, Hidden = hidden, Intermediate = inter, Heads = heads, KvHeads = kv, HeadDim = 128,
        VocabSize = V, TiedEmbeddings = tied, QkNorm = true, GgufOutputTensor = ggufOutput,
    };

    static ModelArchitecture Qwen3Moe(int layers, int hidden, int heads, int kv, int experts, int used, int expertInter) => new()
    {
        Arch = "qwen3moe", Layers = layers, Hidden = hidden, Heads = heads, KvHeads = kv, HeadDim = 128, VocabSize = V,
        QkNorm = true, Experts = experts, ExpertsUsed = used, ExpertIntermediate = expertInter,
    };

    /// <summary>Qwen2.5-VL's vision transformer (32 blocks of width 1280, SwiGLU 3420) and its merger into the language model.</summary>
    static EncoderArchitecture QwenVit(int llmHidden) =>
        new("vision", 32, 1280, 3420, true, 3L * 2 * 14 * 14 * 1280 + 1280 + 5120L * 5120 + 5120 + 5120L * llmHidden + llmHidden);

    /// <summary>Qwen2-Audio's Whisper-large-v3 encoder (32 blocks of width 1280, GELU 5120) with its convolutions, positions and projector.</summary>
    static readonly EncoderArchitecture WhisperLargeV3 =
        new("audio", 32, 1280, 5120, false, 128L * 1280 * 3 + 1280 + 1280L * 1280 * 3 + 1280 + 1500L * 1280 + 1280L * 4096 + 4096);

    const string Qwen25Strengths = "general chat and instruction following, 29+ languages, structured output (JSON), tool use";
    const string Qwen3Strengths = "hybrid thinking (on/off per request), reasoning, agents and tool calls, 119 languages";

    static CatalogModel Qwen25(string size, ModelArchitecture a, bool instruct, string license, int native, int? yarn) => new()
    {
        Repo = $"Qwen/Qwen2.5-{size}{(instruct ? "-Instruct" : "")}", Family = "Qwen2.5", Architecture = a, NativeContext = native, YarnContext = yarn,
        License = license, Strengths = instruct ? Qwen25Strengths : "base model for fine-tuning and text completion", IsInstruct = instruct,
        Tasks = instruct ? ModelTask.Chat | ModelTask.Multilingual | ModelTask.Code | ModelTask.Math : ModelTask.None,
        GgufRepo = instruct ? $"Qwen/Qwen2.5-{size}-Instruct-GGUF" : null, GgufQuants = instruct ? Qwen25Gguf : [], Released = "2024-09",
    };

    static CatalogModel Coder(string size, ModelArchitecture a, string license, int native, int? yarn) => new()
    {
        Repo = $"Qwen/Qwen2.5-Coder-{size}-Instruct", Family = "Qwen2.5-Coder", Architecture = a, NativeContext = native, YarnContext = yarn,
        License = license, Strengths = "code generation, completion and repair across 40+ languages, fill-in-the-middle, code reasoning",
        Tasks = ModelTask.Code, GgufRepo = $"Qwen/Qwen2.5-Coder-{size}-Instruct-GGUF", GgufQuants = Qwen25Gguf,
        Released = size is "3B" or "14B" or "32B" or "0.5B" ? "2024-11" : "2024-09",
    };

    static CatalogModel Math(string size, ModelArchitecture a, string license) => new()
    {
        Repo = $"Qwen/Qwen2.5-Math-{size}-Instruct", Family = "Qwen2.5-Math", Architecture = a, NativeContext = 4096, License = license,
        Strengths = "competition math in English and Chinese with chain-of-thought and tool-integrated reasoning (not for general chat)",
        Tasks = ModelTask.Math, Released = "2024-09",
    };

    static CatalogModel VL(string size, ModelArchitecture a, string license) => new()
    {
        Repo = $"Qwen/Qwen2.5-VL-{size}-Instruct", Family = "Qwen2.5-VL", Architecture = a with { Vision = QwenVit(a.Hidden) },
        NativeContext = 32768, YarnContext = 131072, Modalities = Modality.Text | Modality.Vision, License = license,
        Strengths = "images, documents, charts and video understanding, OCR, visual grounding with boxes, GUI agents",
        Tasks = ModelTask.Vision | ModelTask.Chat, Released = size == "32B" ? "2025-03" : "2025-01",
    };

    static CatalogModel Q3(string size, ModelArchitecture a, int? yarn, bool gguf = true) => new()
    {
        Repo = $"Qwen/Qwen3-{size}", Family = "Qwen3", Architecture = a, NativeContext = 32768, YarnContext = yarn,
        Thinking = ThinkingMode.Hybrid, License = "apache-2.0", Strengths = Qwen3Strengths,
        Tasks = ModelTask.Chat | ModelTask.Reasoning | ModelTask.Math | ModelTask.Code | ModelTask.Multilingual,
        GgufRepo = gguf ? $"Qwen/Qwen3-{size}-GGUF" : null, GgufQuants = gguf ? Qwen3Gguf : [], Released = "2025-04",
    };

    static CatalogModel Q3_2507(string size, ModelArchitecture a, bool thinking) => new()
    {
        Repo = $"Qwen/Qwen3-{size}-{(thinking ? "Thinking" : "Instruct")}-2507", Family = "Qwen3-2507", Architecture = a,
        NativeContext = 262144, Thinking = thinking ? ThinkingMode.Always : ThinkingMode.None, License = "apache-2.0",
        Strengths = thinking
            ? "deeper step-by-step reasoning than Qwen3 (always thinks): math, science, code, hard logic; 256K context"
            : "direct answers without thinking, better instruction following, knowledge and long-context (256K) than Qwen3",
        Tasks = thinking ? ModelTask.Reasoning | ModelTask.Math | ModelTask.Code : ModelTask.Chat | ModelTask.Code | ModelTask.Multilingual | ModelTask.Math,
        Released = size == "4B" ? "2025-08" : "2025-07",
    };

    static readonly ModelArchitecture Q25_05 = Qwen2(24, 896, 4864, 14, 2, V, tied: true);
    static readonly ModelArchitecture Q25_15 = Qwen2(28, 1536, 8960, 12, 2, V, tied: true);
    static readonly ModelArchitecture Q25_3 = Qwen2(36, 2048, 11008, 16, 2, V, tied: true);
    static readonly ModelArchitecture Q25_7 = Qwen2(28, 3584, 18944, 28, 4, V7, tied: false);
    static readonly ModelArchitecture Q25_14 = Qwen2(48, 5120, 13824, 40, 8, V7, tied: false);
    static readonly ModelArchitecture Q25_32 = Qwen2(64, 5120, 27648, 40, 8, V7, tied: false);
    static readonly ModelArchitecture Q25_72 = Qwen2(80, 8192, 29568, 64, 8, V7, tied: false);
    static readonly ModelArchitecture Q3_4 = Qwen3(36, 2560, 9728, 32, 8, tied: true);
    static readonly ModelArchitecture Q3_30A3 = Qwen3Moe(48, 2048, 32, 4, 128, 8, 768);
    static readonly ModelArchitecture Q3_235A22 = Qwen3Moe(94, 4096, 64, 4, 128, 8, 1536);

    /// <summary>Every model in the catalog.</summary>
    public static IReadOnlyList<CatalogModel> All { get; } =
    [
        // Qwen2.5 (config.json of each repo; the official GGUFs of the tied small models carry a separate output tensor)
        Qwen25("0.5B", Q25_05, false, "apache-2.0", 32768, null),
        Qwen25("0.5B", Q25_05 with { GgufOutputTensor = true }, true, "apache-2.0", 32768, null),
        Qwen25("1.5B", Q25_15, false, "apache-2.0", 32768, null),
        Qwen25("1.5B", Q25_15 with { GgufOutputTensor = true }, true, "apache-2.0", 32768, null),
        Qwen25("3B", Q25_3, false, "qwen-research", 32768, null),
        Qwen25("3B", Q25_3 with { GgufOutputTensor = true }, true, "qwen-research", 32768, null),
        Qwen25("7B", Q25_7, false, "apache-2.0", 32768, 131072),
        Qwen25("7B", Q25_7, true, "apache-2.0", 32768, 131072),
        Qwen25("14B", Q25_14, false, "apache-2.0", 32768, 131072),
        Qwen25("14B", Q25_14, true, "apache-2.0", 32768, 131072),
        Qwen25("32B", Q25_32, false, "apache-2.0", 32768, 131072),
        Qwen25("32B", Q25_32, true, "apache-2.0", 32768, 131072),
        Qwen25("72B", Q25_72, false, "qwen", 32768, 131072),
        Qwen25("72B", Q25_72, true, "qwen", 32768, 131072),

        // Qwen2.5-Coder
        Coder("0.5B", Q25_05 with { GgufOutputTensor = true }, "apache-2.0", 32768, null),
        Coder("1.5B", Q25_15 with { GgufOutputTensor = true }, "apache-2.0", 32768, null),
        Coder("3B", Q25_3 with { GgufOutputTensor = true }, "qwen-research", 32768, null),
        Coder("7B", Q25_7, "apache-2.0", 32768, 131072),
        Coder("14B", Q25_14, "apache-2.0", 32768, 131072),
        Coder("32B", Q25_32, "apache-2.0", 32768, 131072),

        // Qwen2.5-Math
        Math("1.5B", Q25_15, "apache-2.0"),
        Math("7B", Q25_7, "apache-2.0"),
        Math("72B", Q25_72, "qwen"),

        // Qwen2.5-VL (language model + vision transformer)
        VL("3B", Q25_3, "qwen-research"),
        VL("7B", Q25_7, "apache-2.0"),
        VL("32B", Q25_32, "apache-2.0"),
        VL("72B", Q25_72, "qwen"),

        new CatalogModel
        {
            Repo = "Qwen/QwQ-32B", Family = "QwQ", Architecture = Q25_32, NativeContext = 32768, YarnContext = 131072,
            Thinking = ThinkingMode.Always, License = "apache-2.0",
            Strengths = "long step-by-step reasoning (always thinks): math, code and logic at the level of much larger models",
            Tasks = ModelTask.Reasoning | ModelTask.Math | ModelTask.Code, GgufRepo = "Qwen/QwQ-32B-GGUF", GgufQuants = Qwen3Gguf, Released = "2025-03",
        },
        new CatalogModel
        {
            Repo = "Qwen/Qwen2-57B-A14B-Instruct", Family = "Qwen2",
            Architecture = new ModelArchitecture
            {
                Arch = "qwen2moe", Layers = 28, Hidden = 3584, Heads = 28, KvHeads = 4, HeadDim = 128, VocabSize = V, QkvBias = true,
                Experts = 64, ExpertsUsed = 8, ExpertIntermediate = 2560, SharedExpertIntermediate = 20480,
            },
            NativeContext = 32768, YarnContext = 65536, License = "apache-2.0",
            Strengths = "mixture-of-experts chat model (14B active of 57B): 30B-class quality at the speed of a 14B",
            Tasks = ModelTask.Chat | ModelTask.Multilingual | ModelTask.Code, GgufRepo = "Qwen/Qwen2-57B-A14B-Instruct-GGUF",
            GgufQuants = [GgufQuant.Q4_0, GgufQuant.Q4_K_M, GgufQuant.Q5_K_M, GgufQuant.Q6_K, GgufQuant.Q8_0], Released = "2024-06",
        },
        new CatalogModel
        {
            Repo = "Qwen/Qwen2-Audio-7B-Instruct", Family = "Qwen2-Audio",
            Architecture = Qwen2(32, 4096, 11008, 32, 32, 156032, tied: false) with { Audio = WhisperLargeV3 },
            NativeContext = 8192, Modalities = Modality.Text | Modality.Audio, License = "apache-2.0",
            Strengths = "speech, sound and music understanding; voice chat and audio analysis with text instructions",
            Tasks = ModelTask.Audio | ModelTask.Chat, Released = "2024-08",
        },

        // Qwen3 (hybrid thinking); 0.6B and 1.7B checkpoints store lm_head although tied, so their GGUFs carry output.weight
        Q3("0.6B", Qwen3(28, 1024, 3072, 16, 8, tied: true, ggufOutput: true), null),
        Q3("1.7B", Qwen3(28, 2048, 6144, 16, 8, tied: true, ggufOutput: true), null),
        Q3("4B", Q3_4, 131072),
        Q3("8B", Qwen3(36, 4096, 12288, 32, 8, tied: false), 131072),
        Q3("14B", Qwen3(40, 5120, 17408, 40, 8, tied: false), 131072),
        Q3("32B", Qwen3(64, 5120, 25600, 64, 8, tied: false), 131072),
        Q3("30B-A3B", Q3_30A3, 131072),
        Q3("235B-A22B", Q3_235A22, 131072),

        // Qwen3 2507 (separate instruct and thinking models, 256K context)
        Q3_2507("4B", Q3_4, thinking: false),
        Q3_2507("4B", Q3_4, thinking: true),
        Q3_2507("30B-A3B", Q3_30A3, thinking: false),
        Q3_2507("30B-A3B", Q3_30A3, thinking: true),
        Q3_2507("235B-A22B", Q3_235A22, thinking: false),
        Q3_2507("235B-A22B", Q3_235A22, thinking: true),

        // Qwen3-Coder
        new CatalogModel
        {
            Repo = "Qwen/Qwen3-Coder-30B-A3B-Instruct", Family = "Qwen3-Coder", Architecture = Q3_30A3, NativeContext = 262144, YarnContext = 1048576,
            License = "apache-2.0", Strengths = "agentic coding (tool calls, repository-scale context of 256K), fast: 3B active parameters",
            Tasks = ModelTask.Code, Released = "2025-07",
        },
        new CatalogModel
        {
            Repo = "Qwen/Qwen3-Coder-480B-A35B-Instruct", Family = "Qwen3-Coder", Architecture = Qwen3Moe(62, 6144, 96, 8, 160, 8, 2560),
            NativeContext = 262144, YarnContext = 1048576, License = "apache-2.0",
            Strengths = "the strongest Qwen coding model: agentic coding and browser use, 256K context (1M with YaRN)",
            Tasks = ModelTask.Code, Released = "2025-07",
        },
    ];

    /// <summary>The entry for a repository id (also accepts its official GGUF repository), or null.</summary>
    public static CatalogModel? Find(string repo) =>
        All.FirstOrDefault(m => string.Equals(m.Repo, repo, StringComparison.OrdinalIgnoreCase))
        ?? All.FirstOrDefault(m => m.GgufRepo != null && string.Equals(m.GgufRepo, repo, StringComparison.OrdinalIgnoreCase));
}

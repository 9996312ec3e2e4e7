namespace QwenSharp.Catalog;

/// <summary>What to optimise when choosing a model.</summary>
public enum RecommendPriority { Speed, Balanced, Quality }

/// <summary>One recommended model and form, with why and how to run it.</summary>
/// <param name="Rank">1 for the best.</param>
/// <param name="Model">The catalog entry.</param>
/// <param name="Quant">The GGUF quantization, or BF16 for the original safetensors weights.</param>
/// <param name="Memory">The memory it needs at the requested context.</param>
/// <param name="Score">The ranking score (higher is better; only comparable within one call).</param>
/// <param name="Explanation">One line: why this one.</param>
/// <param name="Command">The command that downloads and runs it.</param>
/// <param name="NeedsYarn">The context is longer than the native one: YaRN rope scaling must be enabled.</param>
public sealed record Recommendation(int Rank, CatalogModel Model, GgufQuant Quant, MemoryEstimate Memory, double Score, string Explanation, string Command, bool NeedsYarn);

using System.CommandLine;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Cli.Commands;

/// <summary>Options shared by several commands, so they are spelled the same everywhere.</summary>
public static class CliOptions
{
    public static Option<string> Model(bool required = true) => new("--model", "-m")
    {
        Description = "Model: a Hugging Face folder, a .gguf file, or a Hub repo id (Org/Name[@revision])",
        Required = required,
    };

    public static Option<int?> Threads() => new("--threads", "-t")
    {
        Description = "Worker threads for the kernels (default: one per core)",
    };

    /// <summary>--quantize TYPE: quantize bf16/f16/f32 weights at load (the equivalent of load_in_8bit / load_in_4bit).</summary>
    public static Option<string?> Quantize() => new("--quantize", "-q")
    {
        Description = "Quantize float (bf16/f16/f32) weights at load: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k or q6_k (default: compute with the file's types)",
    };

    /// <summary>Load options for a --quantize value (null or empty: none).</summary>
    public static ModelLoadOptions LoadOptions(string? quantize)
    {
        if (string.IsNullOrEmpty(quantize)) return new ModelLoadOptions();
        var t = quantize.ToLowerInvariant() switch
        {
            "q8_0" => GgmlType.Q8_0, "q4_0" => GgmlType.Q4_0, "q4_1" => GgmlType.Q4_1,
            "q5_0" => GgmlType.Q5_0, "q5_1" => GgmlType.Q5_1, "q4_k" => GgmlType.Q4_K,
            "q5_k" => GgmlType.Q5_K, "q6_k" => GgmlType.Q6_K,
            _ => throw new CliException($"--quantize: '{quantize}' is not a quantization type (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k)", 2),
        };
        return new ModelLoadOptions { Quantize = t };
    }
}

using System.CommandLine;
using QwenSharp.Models;

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
        Description = "Quantize float weights at load: q8_0, q4_0, q4_k, ... (default: compute with the file's types)",
    };

    /// <summary>Load options for a --quantize value (validated where the quantized types are known).</summary>
    public static ModelLoadOptions LoadOptions(string? quantize)
    {
        if (quantize is null) return new ModelLoadOptions();
        throw new CliException($"--quantize: '{quantize}' is not supported by this build", 2);
    }
}

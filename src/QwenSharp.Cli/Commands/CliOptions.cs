using System.CommandLine;

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
}

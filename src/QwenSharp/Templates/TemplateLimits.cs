namespace QwenSharp.Templates;

/// <summary>
/// Limits that keep a downloaded template from running away. Every render checks them; crossing one
/// raises a <see cref="TemplateException"/> (never a hang or a crash). The defaults are far above what real
/// chat templates need (a Qwen3 prompt with tools runs a few dozen loop iterations).
/// </summary>
public sealed record TemplateLimits
{
    /// <summary>Loop iterations plus macro calls in one render.</summary>
    public int MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>How deeply macro (and <c>loop()</c>) calls may nest.</summary>
    public int MaxRecursionDepth { get; init; } = 64;

    /// <summary>How deeply the template may nest expressions and blocks (checked when parsing).</summary>
    public int MaxNestingDepth { get; init; } = 200;

    /// <summary>Characters in the output, and in any one string or list the template builds.</summary>
    public int MaxOutputLength { get; init; } = 16 * 1024 * 1024;

    /// <summary>Characters plus list and dict entries that one render may build in total (bounds memory and time).</summary>
    public long MaxAllocatedItems { get; init; } = 512L * 1024 * 1024;

    /// <summary>Wall-clock limit for one render, a last line of defence behind the counts above.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The defaults.</summary>
    public static TemplateLimits Default { get; } = new();
}

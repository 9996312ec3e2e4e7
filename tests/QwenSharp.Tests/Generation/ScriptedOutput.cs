using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

/// <summary>
/// A logits processor that makes a random-weight fixture model write a chosen text: every logit but the
/// next scripted token's is set to -inf. The model still runs every forward pass; only the choice is fixed,
/// so prompts, templates, parsing and the surfaces above are tested end to end.
/// </summary>
public sealed class ScriptedOutput(Func<IReadOnlyList<int>, int[]> chooseScript) : ILogitsProcessor
{
    int[]? _script;

    public static ScriptedOutput Fixed(int[] tokens) => new(_ => tokens);

    public void Process(ReadOnlySpan<int> tokens, int generated, Span<float> logits)
    {
        _script ??= chooseScript(tokens[..^generated].ToArray());
        if (generated >= _script.Length) return;
        int next = _script[generated];
        for (int i = 0; i < logits.Length; i++) if (i != next) logits[i] = float.NegativeInfinity;
        logits[next] = 0;
    }
}

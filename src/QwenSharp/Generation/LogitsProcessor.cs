namespace QwenSharp.Generation;

/// <summary>
/// Changes the logits before sampling (as transformers' LogitsProcessor): constrained decoding, custom
/// penalties, grammars. Called on the engine thread for every generated token of a sequence.
/// </summary>
public interface ILogitsProcessor
{
    /// <param name="tokens">The sequence so far: prompt, then the tokens generated.</param>
    /// <param name="generated">How many of <paramref name="tokens"/> were generated.</param>
    /// <param name="logits">The next-token logits (vocabulary size) to modify in place.</param>
    void Process(ReadOnlySpan<int> tokens, int generated, Span<float> logits);
}

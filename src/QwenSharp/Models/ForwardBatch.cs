namespace QwenSharp.Models;

/// <summary>
/// The input of one forward pass: tokens from one or several sequences, each with its sequence (KV
/// cache) and position, and the tokens whose logits are wanted. Tokens of one sequence must appear in
/// order with consecutive positions starting at that sequence's current length. Reuse one batch
/// (<see cref="Clear"/>) to avoid allocation in the token loop.
/// </summary>
public sealed class ForwardBatch
{
    int[] _tokens = new int[16];
    int[] _positions = new int[16];
    KvSequence[] _sequences = new KvSequence[16];
    int[] _outputs = new int[16];

    public int Count { get; private set; }
    public int OutputCount { get; private set; }

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Count);
    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, Count);
    public ReadOnlySpan<KvSequence> Sequences => _sequences.AsSpan(0, Count);
    /// <summary>Indices (into the batch) of the tokens whose logits are returned, in output order.</summary>
    public ReadOnlySpan<int> OutputIndices => _outputs.AsSpan(0, OutputCount);

    public void Clear()
    {
        Array.Clear(_sequences, 0, Count);
        Count = 0;
        OutputCount = 0;
    }

    /// <summary>Adds one token at an explicit position; <paramref name="wantLogits"/> adds an output row.</summary>
    public void Add(KvSequence sequence, int token, int position, bool wantLogits)
    {
        if (Count == _tokens.Length)
        {
            int n = Count * 2;
            Array.Resize(ref _tokens, n);
            Array.Resize(ref _positions, n);
            Array.Resize(ref _sequences, n);
        }
        _tokens[Count] = token;
        _positions[Count] = position;
        _sequences[Count] = sequence;
        if (wantLogits)
        {
            if (OutputCount == _outputs.Length) Array.Resize(ref _outputs, OutputCount * 2);
            _outputs[OutputCount++] = Count;
        }
        Count++;
    }

    /// <summary>Adds tokens continuing <paramref name="sequence"/> (positions from its current length,
    /// or from <paramref name="startPosition"/>); logits for the last one only, or for all.</summary>
    public void AddSequence(KvSequence sequence, ReadOnlySpan<int> tokens, bool logitsForAll = false, int? startPosition = null)
    {
        int p = startPosition ?? sequence.Length;
        for (int i = 0; i < tokens.Length; i++) Add(sequence, tokens[i], p + i, logitsForAll || i == tokens.Length - 1);
    }
}

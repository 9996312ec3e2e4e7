namespace QwenSharp.Training;

/// <summary>
/// One micro-batch for training: several token sequences laid end to end (no padding). Each token has
/// its position within its sequence, the index of its sequence's first token (attention never crosses
/// sequences, so packing several examples into one row is exact), and a label: the next token when it
/// is a trained (assistant) token, else -1.
/// </summary>
public sealed class TrainingBatch
{
    public int[] Tokens { get; }
    public int[] Positions { get; }
    public int[] SegmentStart { get; }
    public int[] Labels { get; }
    public int Count => Tokens.Length;
    public int LabelCount { get; }

    public TrainingBatch(int[] tokens, int[] positions, int[] segmentStart, int[] labels)
    {
        if (positions.Length != tokens.Length || segmentStart.Length != tokens.Length || labels.Length != tokens.Length)
            throw new ArgumentException("tokens, positions, segment starts and labels must have the same length");
        for (int i = 0; i < tokens.Length; i++)
        {
            int s = segmentStart[i];
            if (s > i || (s != i && (i == 0 || segmentStart[i - 1] != s)))
                throw new ArgumentException($"segment start {s} of token {i} does not begin a run of its sequence");
        }
        Tokens = tokens;
        Positions = positions;
        SegmentStart = segmentStart;
        Labels = labels;
        LabelCount = labels.Count(l => l >= 0);
    }

    /// <summary>A batch of whole sequences: each gets positions from 0 and labels as given (-1: not trained).</summary>
    public static TrainingBatch FromSequences(IEnumerable<(int[] Tokens, int[] Labels)> sequences)
    {
        var t = new List<int>();
        var p = new List<int>();
        var s = new List<int>();
        var l = new List<int>();
        foreach (var (tokens, labels) in sequences)
        {
            if (labels.Length != tokens.Length) throw new ArgumentException("labels must match tokens");
            int start = t.Count;
            for (int i = 0; i < tokens.Length; i++)
            {
                t.Add(tokens[i]);
                p.Add(i);
                s.Add(start);
                l.Add(labels[i]);
            }
        }
        return new TrainingBatch(t.ToArray(), p.ToArray(), s.ToArray(), l.ToArray());
    }
}

namespace QwenSharp.Generation;

/// <summary>
/// Finds stop strings in streamed text, across token boundaries. Text that could still be the start
/// of a stop string is held back until it is clear; the stop string itself is never emitted.
/// </summary>
public sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    readonly string[] _stops = stops.Where(s => s.Length > 0).ToArray();
    string _held = "";

    public bool Stopped { get; private set; }
    /// <summary>The stop string that matched, once <see cref="Stopped"/>.</summary>
    public string? Matched { get; private set; }

    /// <summary>Adds generated text; returns the text that can be emitted now.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        if (_stops.Length == 0) return text;
        string s = _held + text;
        int first = -1;
        foreach (var stop in _stops)
        {
            int i = s.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first)) { first = i; Matched = stop; }
        }
        if (first >= 0)
        {
            Stopped = true;
            _held = "";
            return s[..first];
        }
        int hold = 0;
        foreach (var stop in _stops)
            for (int k = Math.Min(stop.Length - 1, s.Length); k > hold; k--)
                if (s.AsSpan(s.Length - k).SequenceEqual(stop.AsSpan(0, k))) { hold = k; break; }
        _held = s[(s.Length - hold)..];
        return s[..(s.Length - hold)];
    }

    /// <summary>At the end of generation: the held-back text (it did not become a stop string).</summary>
    public string Flush()
    {
        var h = _held;
        _held = "";
        return Stopped ? "" : h;
    }
}

using System.Collections;

namespace QwenSharp.Templates.Jinja;

/// <summary>What <c>dict.keys()</c>, <c>.values()</c> and <c>.items()</c> return: iterable, sized, printed as
/// <c>dict_keys([...])</c>, but not indexable, as in Python.</summary>
internal sealed class PyDictView(string kind, List<object?> items) : IReadOnlyList<object?>
{
    public string Kind { get; } = kind;
    public object? this[int index] => items[index];
    public int Count => items.Count;
    public IEnumerator<object?> GetEnumerator() => items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => items.GetEnumerator();
}

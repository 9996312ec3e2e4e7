using System.Collections;

namespace QwenSharp.Templates.Jinja;

/// <summary>A Python tuple: immutable, printed with parentheses. (Python lists are <c>List&lt;object?&gt;</c>.)</summary>
internal sealed class PyTuple(object?[] items) : IReadOnlyList<object?>
{
    public static readonly PyTuple Empty = new([]);
    readonly object?[] _items = items;
    public object? this[int index] => _items[index];
    public int Count => _items.Length;
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)_items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();
}

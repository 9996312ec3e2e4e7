using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// A Python dict: insertion-ordered, keys compared as Python does (1, 1.0 and True are the same key; strings
/// by ordinal), lists and dicts refused as keys. Templates cannot change one (the sandbox is immutable);
/// only the engine fills it.
/// </summary>
internal sealed class PyDict
{
    static readonly object NoneKey = new();
    readonly OrderedDictionary<object, object?> _items;

    public PyDict(int capacity = 0) => _items = new OrderedDictionary<object, object?>(capacity, KeyComparer.Instance);

    public int Count => _items.Count;

    public object? KeyAt(int index) => Unwrap(_items.GetAt(index).Key);
    public object? ValueAt(int index) => _items.GetAt(index).Value;

    public IEnumerable<object?> Keys { get { for (int i = 0; i < _items.Count; i++) yield return KeyAt(i); } }

    public bool TryGetValue(object? key, out object? value)
    {
        CheckHashable(key);
        return _items.TryGetValue(key ?? NoneKey, out value);
    }

    /// <summary>Fast path for the common case of a string key.</summary>
    public bool TryGetValue(string key, out object? value) => _items.TryGetValue(key, out value);

    public bool ContainsKey(object? key) => TryGetValue(key, out _);

    public void Set(object? key, object? value)
    {
        CheckHashable(key);
        _items[key ?? NoneKey] = value;
    }

    public PyDict Copy()
    {
        var d = new PyDict(Count);
        for (int i = 0; i < _items.Count; i++) { var e = _items.GetAt(i); d._items.Add(e.Key, e.Value); }
        return d;
    }

    static object? Unwrap(object k) => ReferenceEquals(k, NoneKey) ? null : k;

    public static void CheckHashable(object? key)
    {
        if (key is List<object?> or PyDict) throw JinjaError.Type($"unhashable type: '{PyOps.TypeName(key)}'");
        if (key is PyTuple t) foreach (var item in t) CheckHashable(item);
    }

    sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();

        public new bool Equals(object? x, object? y)
        {
            if (ReferenceEquals(x, y)) return true;
            if (x is string a && y is string b) return string.Equals(a, b, StringComparison.Ordinal);
            return PyOps.Equal(x is null || ReferenceEquals(x, NoneKey) ? null : x, y is null || ReferenceEquals(y, NoneKey) ? null : y);
        }

        public int GetHashCode(object o) => Hash(o);

        static int Hash(object? o) => o switch
        {
            string s => s.GetHashCode(),
            SafeString m => m.Value.GetHashCode(),
            long l => l.GetHashCode(),
            bool b => b ? 1L.GetHashCode() : 0L.GetHashCode(),
            double d => d == Math.Floor(d) && d >= long.MinValue && d <= long.MaxValue ? ((long)d).GetHashCode() : d.GetHashCode(),
            BigInteger big => big.GetHashCode(),
            PyTuple t => t.Aggregate(17, (h, item) => h * 31 + Hash(item)),
            Undefined => typeof(Undefined).GetHashCode(),
            null => 0,
            _ => RuntimeHelpers.GetHashCode(o),
        };
    }
}

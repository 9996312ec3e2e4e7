namespace QwenSharp.Templates.Jinja;

/// <summary>
/// What Jinja2's lazy filters return (<c>map</c>, <c>select</c>, <c>reject</c>, <c>selectattr</c>,
/// <c>rejectattr</c>, <c>items</c>, <c>batch</c>, <c>slice</c>, <c>unique</c>, <c>reverse</c>): a Python generator.
/// Like one it is always true (even when empty), has no length, cannot be indexed or serialized to JSON, and
/// can be iterated once: a second loop over the same value sees nothing. Templates usually add <c>| list</c>.
/// </summary>
internal sealed class PyGenerator(string kind, List<object?> items)
{
    bool _consumed;

    public string Kind { get; } = kind;
    public int Count => items.Count;

    /// <summary>The remaining items; afterwards the generator is exhausted.</summary>
    public IReadOnlyList<object?> Take()
    {
        if (_consumed) return Array.Empty<object?>();
        _consumed = true;
        return items;
    }
}

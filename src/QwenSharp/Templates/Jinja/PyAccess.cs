using System.Numerics;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// <c>x.name</c> and <c>x[key]</c> as Jinja2's sandbox resolves them. <c>x.name</c> tries a Python attribute
/// first (a str, dict or list method; a namespace or loop attribute) and then the item <c>x['name']</c>;
/// <c>x[key]</c> tries the item first and then, for a string key, the attribute. Anything missing is
/// <see cref="Undefined"/>; only using an undefined value raises. Private (<c>_x</c>) attributes and methods
/// that would change data are refused as unsafe.
/// </summary>
internal static class PyAccess
{
    public static object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        if (TryAttribute(obj, name, out var v)) return v;
        if (obj is PyDict d && d.TryGetValue(name, out v)) return v;
        return Undefined.Member(obj, name);
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        if (TryItem(obj, key, out var v)) return v;
        if (key is string name && TryAttribute(obj, name, out v)) return v;
        return Undefined.Member(obj, key);
    }

    /// <summary><c>x[a:b:c]</c>: a Python subscript with a slice; errors are not turned into undefined values.</summary>
    public static object? Slice(object? obj, PySlice slice)
    {
        if (obj is Undefined u) throw u.Fail();
        if (obj is PyDict) throw JinjaError.Type("unhashable type: 'slice'");
        if (obj is not (List<object?> or PyTuple or string or SafeString)) throw JinjaError.Type($"'{PyOps.TypeName(obj)}' object is not subscriptable");
        if (!slice.TryGetBounds(out _, out _, out _)) throw JinjaError.Type("slice indices must be integers or None or have an __index__ method");
        TryItem(obj, slice, out var value);
        return value;
    }

    static bool TryItem(object? obj, object? key, out object? value)
    {
        value = null;
        switch (obj)
        {
            case PyDict d:
                if (key is string s) return d.TryGetValue(s, out value);
                if (key is List<object?> or PyDict or PySlice) return false;
                return d.TryGetValue(key, out value);
            case IReadOnlyList<object?> list when obj is List<object?> or PyTuple:
                if (key is PySlice slice)
                {
                    if (!slice.TryGetBounds(out var a, out var b, out var c)) return false;
                    var (start, _, step, count) = PySlice.Indices(list.Count, a, b, c);
                    var items = new object?[count];
                    for (long i = 0, k = start; i < count; i++, k += step) items[i] = list[(int)k];
                    value = obj is PyTuple ? new PyTuple(items) : new List<object?>(items);
                    return true;
                }
                if (!TryIndex(key, list.Count, out int index)) return false;
                value = list[index];
                return true;
            case string or SafeString:
            {
                string str = obj is string s0 ? s0 : ((SafeString)obj).Value;
                if (key is PySlice strSlice)
                {
                    if (!strSlice.TryGetBounds(out var a, out var b, out var c)) return false;
                    value = PyText.Slice(str, a, b, c);
                    return true;
                }
                if (key is not (long or bool or BigInteger)) return false;
                var ch = PyText.At(str, key is BigInteger ? long.MaxValue : PyOps.ToIndex(key, "index"));
                value = ch;
                return ch != null;
            }
            default:
                return false;
        }
    }

    static bool TryIndex(object? key, int count, out int index)
    {
        index = 0;
        long i;
        switch (key)
        {
            case long l: i = l; break;
            case bool b: i = b ? 1 : 0; break;
            default: return false;
        }
        if (i < 0) i += count;
        if (i < 0 || i >= count) return false;
        index = (int)i;
        return true;
    }

    /// <summary>A Python attribute of the value (not an item).</summary>
    public static bool TryAttribute(object? obj, string name, out object? value)
    {
        value = null;
        if (name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal) && name.Length > 4)
        {
            value = Undefined.Unsafe(obj, name);
            return true;
        }
        switch (obj)
        {
            case Namespace ns:
                if (!ns.Attributes.TryGetValue(name, out value)) return false;
                if (name.StartsWith('_')) value = Undefined.Unsafe(obj, name);
                return true;
            case LoopContext loop:
                return loop.TryGetAttribute(name, out value);
            case Macro m:
                switch (name)
                {
                    case "name": value = m.Name; return true;
                    case "arguments": value = new PyTuple(m.Definition.Parameters.Cast<object?>().ToArray()); return true;
                    case "catch_kwargs": value = m.Definition.CatchKwargs; return true;
                    case "catch_varargs": value = m.Definition.CatchVarargs; return true;
                    case "caller": value = m.Definition.UsesCaller; return true;
                }
                return false;
        }
        switch (ObjectMethods.Kind(obj, name))
        {
            case MethodKind.Safe: value = new BoundMethod(obj, name); return true;
            case MethodKind.Unsafe: value = Undefined.Unsafe(obj, name); return true;
            default: return false;
        }
    }
}

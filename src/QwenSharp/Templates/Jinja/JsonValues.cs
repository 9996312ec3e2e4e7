using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Converts System.Text.Json nodes to the values templates see, as Python's json.loads would produce them:
/// objects become dicts (insertion order kept), arrays lists, numbers int when written without a fraction or
/// exponent and float otherwise, null None.
/// </summary>
internal static class JsonValues
{
    public const int MaxDepth = 256;

    public static object? FromNode(JsonNode? node, int depth = 0)
    {
        if (depth > MaxDepth) throw new JinjaError("ValueError", $"input nested more than {MaxDepth} levels deep");
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
            {
                var d = new PyDict(obj.Count);
                foreach (var (key, value) in obj) d.Set(key, FromNode(value, depth + 1));
                return d;
            }
            case JsonArray arr:
            {
                var list = new List<object?>(arr.Count);
                foreach (var item in arr) list.Add(FromNode(item, depth + 1));
                return list;
            }
            case JsonValue v:
                return FromValue(v);
            default:
                throw new JinjaError("TypeError", $"unsupported JSON node {node.GetType().Name}");
        }
    }

    static object? FromValue(JsonValue v)
    {
        if (v.TryGetValue<JsonElement>(out var el)) return FromElement(el, 0);
        if (v.TryGetValue<string>(out var s)) return s;
        if (v.TryGetValue<bool>(out var b)) return b;
        // Values built in C# keep their CLR kind: integers become int, floating point becomes float
        // (JsonValue.Create(2.0) is the float 2.0, although its JSON text is "2").
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<int>(out var i)) return (long)i;
        if (v.TryGetValue<short>(out var sh)) return (long)sh;
        if (v.TryGetValue<byte>(out var by)) return (long)by;
        if (v.TryGetValue<sbyte>(out var sb)) return (long)sb;
        if (v.TryGetValue<uint>(out var ui)) return (long)ui;
        if (v.TryGetValue<ushort>(out var us)) return (long)us;
        if (v.TryGetValue<ulong>(out var ul)) return PyInt.Normalize(ul);
        if (v.TryGetValue<double>(out var d)) return d;
        if (v.TryGetValue<float>(out var f)) return double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        if (v.TryGetValue<decimal>(out var m)) return (double)m;
        if (v.TryGetValue<char>(out var c)) return c.ToString();
        // Anything else (DateTime, Guid, ...): through its JSON text, as Python would read it.
        using var doc = JsonDocument.Parse(v.ToJsonString());
        return FromElement(doc.RootElement, 0);
    }

    public static object? FromElement(JsonElement el, int depth)
    {
        if (depth > MaxDepth) throw new JinjaError("ValueError", $"input nested more than {MaxDepth} levels deep");
        switch (el.ValueKind)
        {
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.String: return el.GetString();
            case JsonValueKind.Number: return ParseNumber(el.GetRawText());
            case JsonValueKind.Array:
            {
                var list = new List<object?>(el.GetArrayLength());
                foreach (var item in el.EnumerateArray()) list.Add(FromElement(item, depth + 1));
                return list;
            }
            default:
            {
                var d = new PyDict();
                foreach (var p in el.EnumerateObject()) d.Set(p.Name, FromElement(p.Value, depth + 1));
                return d;
            }
        }
    }

    static object ParseNumber(string raw)
    {
        if (raw.AsSpan().IndexOfAny(".eE") >= 0) return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
        return PyInt.Normalize(BigInteger.Parse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// Typed, checked access to the fields of a JSON request object. Every read names the field in its error
/// (400, <c>param</c> set); null counts as absent, as in OpenAI's API. Fields that were never read are
/// unknown: <see cref="RejectUnknown"/> answers them with OpenAI's "Unrecognized request argument".
/// </summary>
public sealed class RequestFields(JsonObject obj, string prefix = "")
{
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public JsonObject Source => obj;

    string Name(string field) => prefix + field;

    /// <summary>The raw node (null when absent or JSON null); marks the field as known.</summary>
    public JsonNode? Raw(string field)
    {
        _read.Add(field);
        return obj[field];
    }

    public bool Has(string field) => Raw(field) is not null;

    /// <summary>Fields of the API that are accepted and have no effect here (user, metadata, store...).</summary>
    public void Accept(params string[] fields)
    {
        foreach (var f in fields) _read.Add(f);
    }

    public void RejectUnknown()
    {
        foreach (var (k, _) in obj)
            if (!_read.Contains(k)) throw OpenAiException.BadRequest($"Unrecognized request argument supplied: {Name(k)}", Name(k), "unknown_parameter");
    }

    static string Kind(JsonNode n) => n.GetValueKind() switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    OpenAiException WrongType(string field, string expected, JsonNode got) =>
        OpenAiException.BadRequest($"'{Name(field)}' must be {expected}, not {Kind(got)}", Name(field), "invalid_type");

    public string? String(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        return n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw WrongType(field, "a string", n);
    }

    public bool? Bool(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        return n.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(field, "a boolean", n),
        };
    }

    public double? Number(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        if (n.GetValueKind() != JsonValueKind.Number) throw WrongType(field, "a number", n);
        double d = n.GetValue<JsonElement>().GetDouble();
        if (!double.IsFinite(d)) throw OpenAiException.Unprocessable($"'{Name(field)}' must be a finite number", Name(field));
        return d;
    }

    public float? Float(string field) => Number(field) is double d ? (float)d : null;

    public long? Long(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        if (n.GetValueKind() != JsonValueKind.Number) throw WrongType(field, "an integer", n);
        var e = n.GetValue<JsonElement>();
        if (e.TryGetInt64(out long v)) return v;
        // 3.0 is an integer too (JSON has one number type); 3.5 and 1e300 are not.
        if (e.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        throw OpenAiException.BadRequest($"'{Name(field)}' must be an integer", Name(field), "invalid_type");
    }

    public int? Int(string field)
    {
        long? v = Long(field);
        if (v is null) return null;
        if (v < int.MinValue || v > int.MaxValue) throw OpenAiException.Unprocessable($"'{Name(field)}' is out of range ({v})", Name(field));
        return (int)v;
    }

    public JsonObject? Object(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        return n as JsonObject ?? throw WrongType(field, "an object", n);
    }

    public JsonArray? Array(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        return n as JsonArray ?? throw WrongType(field, "an array", n);
    }

    /// <summary>A string or an array of strings (OpenAI's <c>stop</c>).</summary>
    public List<string>? StringOrStrings(string field)
    {
        var n = Raw(field);
        if (n is null) return null;
        if (n.GetValueKind() == JsonValueKind.String) return [n.GetValue<string>()];
        if (n is not JsonArray a) throw WrongType(field, "a string or an array of strings", n);
        var list = new List<string>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not { } x || x.GetValueKind() != JsonValueKind.String)
                throw OpenAiException.BadRequest($"'{Name(field)}[{i}]' must be a string", Name(field), "invalid_type");
            list.Add(x.GetValue<string>());
        }
        return list;
    }

    /// <summary>An array of integers.</summary>
    public List<int>? Ints(string field)
    {
        var a = Array(field);
        if (a is null) return null;
        return ReadInts(a, Name(field));
    }

    public static List<int> ReadInts(JsonArray a, string name)
    {
        var list = new List<int>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not { } x || x.GetValueKind() != JsonValueKind.Number || !x.GetValue<JsonElement>().TryGetInt32(out int v))
                throw OpenAiException.BadRequest($"'{name}[{i}]' must be an integer", name, "invalid_type");
            list.Add(v);
        }
        return list;
    }

    /// <summary>A nested object's fields, with errors naming "parent.child".</summary>
    public RequestFields? Nested(string field)
    {
        var o = Object(field);
        return o is null ? null : new RequestFields(o, Name(field) + ".");
    }
}

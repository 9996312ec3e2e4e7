namespace QwenSharp.Templates.Jinja;

/// <summary>The arguments of one call (function, method, filter, test or macro): positional then keyword.</summary>
internal sealed class CallArgs
{
    public static readonly CallArgs Empty = new();

    public List<object?> Positional { get; } = new();
    public List<KeyValuePair<string, object?>>? Named { get; private set; }

    public int Count => Positional.Count + (Named?.Count ?? 0);

    public CallArgs() { }
    public CallArgs(params object?[] positional) => Positional.AddRange(positional);

    public void AddNamed(string name, object? value)
    {
        Named ??= new();
        foreach (var kv in Named)
            if (kv.Key == name) throw JinjaError.Type($"got multiple values for keyword argument '{name}'");
        Named.Add(new(name, value));
    }

    /// <summary>Binds the arguments to <paramref name="names"/> like a Python signature; a slot that was not
    /// passed holds <see cref="Missing.Value"/>. The first <paramref name="required"/> names must be given.</summary>
    public object?[] Bind(string function, string[] names, int required = 0)
    {
        var values = new object?[names.Length];
        Array.Fill(values, Missing.Value);
        if (Positional.Count > names.Length)
            throw JinjaError.Type($"{function}() takes at most {names.Length} argument{(names.Length == 1 ? "" : "s")} ({Count} given)");
        for (int i = 0; i < Positional.Count; i++) values[i] = Positional[i];
        if (Named != null)
        {
            foreach (var (key, value) in Named)
            {
                int i = Array.IndexOf(names, key);
                if (i < 0) throw JinjaError.Type($"{function}() got an unexpected keyword argument '{key}'");
                if (values[i] is not Missing) throw JinjaError.Type($"{function}() got multiple values for argument '{key}'");
                values[i] = value;
            }
        }
        for (int i = 0; i < required; i++)
            if (values[i] is Missing) throw JinjaError.Type($"{function}() missing required argument '{names[i]}'");
        return values;
    }

    /// <summary>The value of a bound slot, or <paramref name="fallback"/> when it was not passed.</summary>
    public static object? Or(object? bound, object? fallback) => bound is Missing ? fallback : bound;
}

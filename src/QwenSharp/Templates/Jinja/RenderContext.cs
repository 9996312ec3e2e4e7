using System.Diagnostics;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// The state of one render: the output being written, the current scope, and the counters that enforce
/// <see cref="TemplateLimits"/>. <see cref="Site"/> is the node being evaluated, so that an error raised deep
/// inside a filter still reports the template line and column it came from.
/// </summary>
internal sealed class RenderContext
{
    readonly long _deadline;
    int _iterations;
    int _depth;
    long _allocated;

    public RenderContext(SourceText source, TemplateLimits limits, Scope scope)
    {
        Source = source;
        Limits = limits;
        Scope = scope;
        long ticks = (long)(limits.Timeout.TotalSeconds * Stopwatch.Frequency);
        _deadline = limits.Timeout <= TimeSpan.Zero ? long.MaxValue : Stopwatch.GetTimestamp() + Math.Max(ticks, 1);
    }

    public SourceText Source { get; }
    public TemplateLimits Limits { get; }
    public StringBuilder Output { get; set; } = new();
    public Scope Scope { get; set; }
    public Node? Site { get; set; }
    public bool AutoEscape { get; set; }

    /// <summary>The rendered body of a <c>{% filter %}</c> block, fed to its first filter.</summary>
    public object? FilterInput { get; set; }

    /// <summary>The clock behind <c>strftime_now</c> (replaceable in tests).</summary>
    public Func<DateTime> Now { get; init; } = () => DateTime.Now;

    public void Write(string s)
    {
        if (Output.Length + (long)s.Length > Limits.MaxOutputLength)
            throw JinjaError.Limit($"output longer than {Limits.MaxOutputLength} characters");
        Output.Append(s);
    }

    /// <summary>Counts one loop iteration or call against the limits.</summary>
    public void Tick()
    {
        if (++_iterations > Limits.MaxLoopIterations)
            throw JinjaError.Limit($"more than {Limits.MaxLoopIterations} loop iterations and calls");
        if ((_iterations & 63) == 0) CheckTime();
    }

    public void CheckTime()
    {
        if (Stopwatch.GetTimestamp() > _deadline) throw JinjaError.Limit($"rendering took longer than {Limits.Timeout.TotalSeconds:0.###} s");
    }

    public void EnterCall()
    {
        if (++_depth > Limits.MaxRecursionDepth)
            throw JinjaError.Limit($"macro calls nested deeper than {Limits.MaxRecursionDepth}");
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
    }

    public void ExitCall() => _depth--;

    /// <summary>Refuses a string longer than the limit before it is built, and counts it.</summary>
    public void CheckLength(long chars)
    {
        if (chars > Limits.MaxOutputLength) throw JinjaError.Limit($"string longer than {Limits.MaxOutputLength} characters");
        Charge(chars);
    }

    /// <summary>Refuses a list longer than the limit before it is built, and counts it.</summary>
    public void CheckItems(long items)
    {
        if (items > Limits.MaxOutputLength) throw JinjaError.Limit($"list longer than {Limits.MaxOutputLength} items");
        Charge(items);
    }

    void Charge(long n)
    {
        _allocated += n;
        if (_allocated > Limits.MaxAllocatedItems)
            throw JinjaError.Limit($"the template built more than {Limits.MaxAllocatedItems} characters and items in total");
    }

    public string CheckedConcat(string a, string b)
    {
        CheckLength(a.Length + (long)b.Length);
        return string.Concat(a, b);
    }

    /// <summary>Checks (and counts) a string or collection that a filter or method produced.</summary>
    public object? Track(object? value)
    {
        switch (value)
        {
            case string s: CheckLength(s.Length); break;
            case List<object?> l: CheckItems(l.Count); break;
            case PyDict d: CheckItems(d.Count); break;
            case PyTuple t: CheckItems(t.Count); break;
            case PyGenerator g: CheckItems(g.Count); break;
        }
        return value;
    }

    /// <summary>Python str() of a value, bounded by the string length limit.</summary>
    public string Str(object? value) => value is string s ? s : PyRepr.Str(value, Limits.MaxOutputLength);
}

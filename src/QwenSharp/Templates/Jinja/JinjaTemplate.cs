namespace QwenSharp.Templates.Jinja;

/// <summary>
/// A parsed Jinja2 template, set up as transformers sets up chat templates (sandboxed and immutable,
/// trim_blocks, lstrip_blocks, loop controls, the generation tag, transformers' tojson, raise_exception and
/// strftime_now). Parse once, render many times; rendering is thread-safe.
/// </summary>
internal sealed class JinjaTemplate
{
    readonly Stmt[] _body;

    public SourceText Source { get; }
    public TemplateLimits Limits { get; }

    JinjaTemplate(SourceText source, Stmt[] body, TemplateLimits limits)
    {
        Source = source;
        _body = body;
        Limits = limits;
    }

    /// <summary>Parses <paramref name="text"/>; syntax errors throw <see cref="TemplateException"/> with line and column.</summary>
    public static JinjaTemplate Parse(string text, string name, TemplateLimits limits)
    {
        var source = new SourceText(name, text);
        return new JinjaTemplate(source, Parser.Parse(source, limits.MaxNestingDepth), limits);
    }

    static readonly Scope Globals = BuiltinGlobals.CreateScope();

    /// <summary>Renders with the given variables (already converted to template values).</summary>
    public string Render(Dictionary<string, object?> variables, Func<DateTime>? clock = null)
    {
        var ctx = new RenderContext(Source, Limits, new Scope(Globals, variables)) { Now = clock ?? (() => DateTime.Now) };
        try
        {
            Stmt.Run(_body, ctx);
            return ctx.Output.ToString();
        }
        catch (JinjaError e)
        {
            throw Source.Error(e.Reason, ctx.Site?.Offset ?? 0, e);
        }
        catch (InsufficientExecutionStackException e)
        {
            throw Source.Error("LimitExceeded: template nested too deeply for the stack", ctx.Site?.Offset ?? 0, e);
        }
        catch (OutOfMemoryException e)
        {
            throw Source.Error("LimitExceeded: out of memory while rendering", ctx.Site?.Offset ?? 0, e);
        }
        catch (Exception e) when (e is not TemplateException)
        {
            // A bug in the engine: still reported as a template error (never a crash), marked so tests notice.
            throw Source.Error($"InternalError: {e.GetType().Name}: {e.Message}", ctx.Site?.Offset ?? 0, e);
        }
    }
}

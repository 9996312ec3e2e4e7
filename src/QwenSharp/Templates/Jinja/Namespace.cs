namespace QwenSharp.Templates.Jinja;

/// <summary>The object <c>namespace(...)</c> returns: the only thing a sandboxed template may change
/// (<c>{% set ns.attr = value %}</c>), so that values survive a loop's scope.</summary>
internal sealed class Namespace
{
    public PyDict Attributes { get; } = new();
}

using System.Text.Encodings.Web;
using System.Text.Json;

namespace QwenSharp.Generation;

/// <summary>JSON text as models and OpenAI clients expect it: no HTML escaping of &lt;, &gt;, &amp; or non-ASCII.</summary>
public static class JsonText
{
    public static JsonSerializerOptions Options { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

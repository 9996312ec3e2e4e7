using System.Text.Json.Nodes;

namespace QwenSharp.Templates;

/// <summary>
/// The typed form of what a caller passes to transformers' <c>apply_chat_template</c>: the messages
/// (string content or content parts, <c>tool_calls</c>, tool results, <c>reasoning_content</c>), the tool
/// schemas, the two prompt switches and any extra template variables (<c>enable_thinking</c>,
/// <c>add_vision_id</c>, <c>documents</c>, ...).
/// </summary>
public sealed class ChatTemplateInput
{
    public JsonArray Messages { get; set; } = new();
    public JsonArray? Tools { get; set; }
    public bool AddGenerationPrompt { get; set; }
    public bool ContinueFinalMessage { get; set; }
    public IDictionary<string, JsonNode?> Variables { get; set; } = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
}

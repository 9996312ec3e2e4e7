namespace QwenSharp.Hub;

/// <summary>Where models are downloaded from. Both go into the same huggingface_hub-layout cache.</summary>
public enum HubSource
{
    /// <summary>The Hugging Face Hub (huggingface.co, or HF_ENDPOINT).</summary>
    HuggingFace,
    /// <summary>ModelScope (www.modelscope.cn, or MODELSCOPE_DOMAIN), where Qwen publishes the same models.</summary>
    ModelScope,
}

public static class HubSourceNames
{
    /// <summary>Parses "hf", "huggingface", "ms" or "modelscope" (any case).</summary>
    public static bool TryParse(string? text, out HubSource source)
    {
        source = HubSource.HuggingFace;
        switch (text?.Trim().ToLowerInvariant())
        {
            case "hf": case "huggingface": case "hugging-face": case "hub": source = HubSource.HuggingFace; return true;
            case "ms": case "modelscope": source = HubSource.ModelScope; return true;
            default: return false;
        }
    }

    public static HubSource Parse(string text, string what) => TryParse(text, out var s) ? s
        : throw new HubException(HubErrorKind.InvalidArgument, $"{what}: unknown source '{text}' (expected hf or modelscope)");

    public static string Name(HubSource s) => s == HubSource.ModelScope ? "modelscope" : "hf";
}

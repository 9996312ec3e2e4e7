namespace QwenSharp.Hub;

/// <summary>
/// The settings that come from environment variables, read the way Python's huggingface_hub reads them, so a
/// model downloaded by Python tools is found here and the other way round:
/// <list type="bullet">
/// <item><c>HF_HOME</c> (default <c>$XDG_CACHE_HOME/huggingface</c>, else <c>~/.cache/huggingface</c>);</item>
/// <item><c>HF_HUB_CACHE</c> (or the older <c>HUGGINGFACE_HUB_CACHE</c>; default <c>$HF_HOME/hub</c>): the cache;</item>
/// <item><c>HF_ENDPOINT</c> (default https://huggingface.co);</item>
/// <item><c>HF_TOKEN</c> (or <c>HUGGING_FACE_HUB_TOKEN</c>, else the file <c>HF_TOKEN_PATH</c> or <c>$HF_HOME/token</c>
/// that <c>huggingface-cli login</c> writes);</item>
/// <item><c>HF_HUB_OFFLINE</c> (or <c>TRANSFORMERS_OFFLINE</c>) = 1/true/yes/on: use the cache only;</item>
/// <item><c>QWENSHARP_SOURCE</c> = hf | modelscope: the default download source;</item>
/// <item><c>MODELSCOPE_DOMAIN</c> (default www.modelscope.cn) and <c>MODELSCOPE_API_TOKEN</c> for ModelScope.</item>
/// </list>
/// </summary>
public sealed class HubEnvironment
{
    public const string DefaultEndpoint = "https://huggingface.co";
    public const string DefaultModelScopeEndpoint = "https://www.modelscope.cn";

    public required string HfHome { get; init; }
    public required string CacheDir { get; init; }
    public required string Endpoint { get; init; }
    public string? Token { get; init; }
    public bool Offline { get; init; }
    public HubSource Source { get; init; }
    public required string ModelScopeEndpoint { get; init; }
    public string? ModelScopeToken { get; init; }

    /// <summary>The settings of this process's environment.</summary>
    public static HubEnvironment Current => FromVariables(Environment.GetEnvironmentVariable);

    /// <summary>Reads the settings through <paramref name="get"/> (a variable lookup; tests pass a dictionary).</summary>
    public static HubEnvironment FromVariables(Func<string, string?> get)
    {
        string? Get(string name) { var v = get(name); return string.IsNullOrWhiteSpace(v) ? null : v.Trim(); }

        string home = Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string xdgCache = Get("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache");
        string hfHome = ExpandHome(Get("HF_HOME") ?? Path.Combine(xdgCache, "huggingface"), home);
        string cache = ExpandHome(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub"), home);

        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN");
        if (token == null)
        {
            string tokenPath = ExpandHome(Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token"), home);
            try { if (File.Exists(tokenPath)) token = File.ReadAllText(tokenPath).Trim() is { Length: > 0 } t ? t : null; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }

        var source = HubSource.HuggingFace;
        if (Get("QWENSHARP_SOURCE") is { } s) source = HubSourceNames.Parse(s, "QWENSHARP_SOURCE");

        string msEndpoint = Get("MODELSCOPE_DOMAIN") is { } domain
            ? (domain.Contains("://", StringComparison.Ordinal) ? domain : "https://" + domain).TrimEnd('/')
            : DefaultModelScopeEndpoint;

        return new HubEnvironment
        {
            HfHome = hfHome,
            CacheDir = cache,
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = token,
            Offline = IsTrue(Get("HF_HUB_OFFLINE")) || IsTrue(Get("TRANSFORMERS_OFFLINE")),
            Source = source,
            ModelScopeEndpoint = msEndpoint,
            ModelScopeToken = Get("MODELSCOPE_API_TOKEN"),
        };
    }

    /// <summary>huggingface_hub's truthy values: 1, ON, YES, TRUE (any case).</summary>
    public static bool IsTrue(string? value) =>
        value != null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    static string ExpandHome(string path, string home) =>
        path == "~" ? home : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..]) : path;
}

namespace QwenSharp.Hub;

/// <summary>How <see cref="HubClient.PullAsync"/> downloads a repository. Every setting left null comes from
/// the environment (<see cref="HubEnvironment"/>).</summary>
public class PullOptions
{
    /// <summary>Branch, tag or commit (default "main" on the Hugging Face Hub, "master" on ModelScope).
    /// A revision given in the repo text (<c>Org/Name@rev</c>) is used when this is null.</summary>
    public string? Revision { get; init; }

    /// <summary>Glob patterns (fnmatch style: *, ?, [abc]; matched case-insensitively against the whole
    /// path in the repo) of the files to download; empty means every file (but see <see cref="Exclude"/>).</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Glob patterns of files to leave out. With no <see cref="Include"/> and no Exclude, a repository
    /// that has .safetensors weights skips the duplicate weight formats (*.bin, *.pth, *.pt, *.h5, *.msgpack,
    /// *.ot, *.onnx).</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Download source (default: QWENSHARP_SOURCE, else the Hugging Face Hub).</summary>
    public HubSource? Source { get; init; }

    /// <summary>Base URL of the source (default: HF_ENDPOINT or MODELSCOPE_DOMAIN).</summary>
    public string? Endpoint { get; init; }

    /// <summary>Access token (default: HF_TOKEN / the login token file, or MODELSCOPE_API_TOKEN).</summary>
    public string? Token { get; init; }

    /// <summary>Files downloaded at the same time (default 4).</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>The cache folder (default: HF_HUB_CACHE / $HF_HOME/hub).</summary>
    public string? CacheDir { get; init; }

    /// <summary>Cache only, no network (default: HF_HUB_OFFLINE).</summary>
    public bool? Offline { get; init; }

    /// <summary>How often a dropped connection is resumed within one call before giving up (default 5).
    /// A download that still fails leaves its .incomplete file, which the next call resumes.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The environment to read defaults from (default: this process's).</summary>
    public HubEnvironment? Environment { get; init; }

    /// <summary>Set by <see cref="ModelLocator"/>: refuse to download a whole GGUF repository (all its
    /// quantizations) when no include pattern picks one.</summary>
    internal bool RequireGgufSelection { get; init; }
}

/// <summary>How <see cref="ModelLocator.Resolve"/> finds a model. Same settings as <see cref="PullOptions"/>.</summary>
public sealed class ModelResolveOptions : PullOptions
{
    /// <summary>False: use the cache only, as if HF_HUB_OFFLINE were set (default true).</summary>
    public bool AllowDownload { get; init; } = true;
}

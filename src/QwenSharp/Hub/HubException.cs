namespace QwenSharp.Hub;

/// <summary>What went wrong while finding, downloading or caching a model.</summary>
public enum HubErrorKind
{
    /// <summary>A repo id, revision, pattern or option the caller gave is malformed.</summary>
    InvalidArgument,
    /// <summary>The repository does not exist (or is private and no valid token was sent).</summary>
    RepositoryNotFound,
    /// <summary>The repository is gated or private: a token with access is needed (HF_TOKEN).</summary>
    Unauthorized,
    /// <summary>The branch, tag or commit does not exist.</summary>
    RevisionNotFound,
    /// <summary>A file does not exist in the repository at that revision.</summary>
    EntryNotFound,
    /// <summary>Downloaded bytes do not match the size or hash the server announced; they were discarded.</summary>
    Integrity,
    /// <summary>The server listed a file name that would escape the cache folder (../, absolute, backslash).</summary>
    UnsafePath,
    /// <summary>Offline mode is on (HF_HUB_OFFLINE) and the model is not in the cache.</summary>
    Offline,
    /// <summary>The server could not be reached, or the connection kept failing.</summary>
    Network,
    /// <summary>The server answered something this client does not understand.</summary>
    BadResponse,
    /// <summary>The request matches several things where one is needed (e.g. several GGUF files).</summary>
    Ambiguous,
    /// <summary>The local cache is not in the expected shape.</summary>
    Cache,
}

/// <summary>An error of the Hub client or cache, with a message meant for the user (it names the repo, file or setting).</summary>
public sealed class HubException : Exception
{
    public HubErrorKind Kind { get; }

    public HubException(HubErrorKind kind, string message, Exception? inner = null) : base(message, inner) => Kind = kind;
}

using System.Text.RegularExpressions;

namespace QwenSharp.Hub;

/// <summary>
/// A model repository id on the Hugging Face Hub or ModelScope: <c>Owner/Name</c>, as in
/// <c>Qwen/Qwen3-0.6B</c>. The rules are the Hub's own (huggingface_hub's <c>validate_repo_id</c>): letters,
/// digits, '-', '_' and '.', at most 96 characters per part, no "--" or "..", not starting or ending with
/// '-' or '.'. Text such as <c>Qwen/Qwen3-0.6B@main</c> carries a revision after '@'.
/// </summary>
public readonly partial record struct RepoId(string Owner, string Name)
{
    /// <summary>"Owner/Name".</summary>
    public string Id => $"{Owner}/{Name}";

    /// <summary>The repository's folder in the huggingface_hub cache: <c>models--Owner--Name</c>.</summary>
    public string CacheFolderName => $"models--{Owner}--{Name}";

    public override string ToString() => Id;

    /// <summary>Parses "Owner/Name" or "Owner/Name@revision". Returns false for anything else.</summary>
    public static bool TryParse(string? text, out RepoId repo, out string? revision)
    {
        repo = default;
        revision = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string id = text.Trim();
        int at = id.IndexOf('@');
        if (at >= 0)
        {
            revision = id[(at + 1)..];
            id = id[..at];
            if (!IsValidRevision(revision)) { revision = null; return false; }
        }
        int slash = id.IndexOf('/');
        if (slash <= 0 || slash != id.LastIndexOf('/')) { revision = null; return false; }
        string owner = id[..slash], name = id[(slash + 1)..];
        if (!IsValidPart(owner) || !IsValidPart(name)) { revision = null; return false; }
        repo = new RepoId(owner, name);
        return true;
    }

    /// <summary>Parses "Owner/Name[@revision]" or throws a <see cref="HubException"/> that says what a repo id looks like.</summary>
    public static RepoId Parse(string text, out string? revision)
    {
        if (!TryParse(text, out var repo, out revision))
            throw new HubException(HubErrorKind.InvalidArgument,
                $"'{text}' is not a repository id: expected Owner/Name or Owner/Name@revision (for example Qwen/Qwen3-0.6B)");
        return repo;
    }

    /// <summary>Parses the "models--Owner--Name" folder name of the huggingface_hub cache.</summary>
    public static bool TryParseCacheFolder(string folderName, out RepoId repo)
    {
        repo = default;
        if (!folderName.StartsWith("models--", StringComparison.Ordinal)) return false;
        string rest = folderName["models--".Length..];
        int sep = rest.IndexOf("--", StringComparison.Ordinal);
        if (sep <= 0) return false;
        string owner = rest[..sep], name = rest[(sep + 2)..];
        if (!IsValidPart(owner) || !IsValidPart(name)) return false;
        repo = new RepoId(owner, name);
        return true;
    }

    /// <summary>
    /// A branch, tag or commit name as it may appear in a URL and as a file under refs/ (so "refs/pr/1" is
    /// allowed, "../x", "/x", "a//b" and backslashes are not).
    /// </summary>
    public static bool IsValidRevision(string? revision)
    {
        if (string.IsNullOrEmpty(revision) || revision.Length > 255) return false;
        if (!RevisionChars().IsMatch(revision)) return false;
        foreach (var segment in revision.Split('/'))
            if (segment.Length == 0 || segment == "." || segment == ".." || segment.EndsWith(".lock", StringComparison.Ordinal)) return false;
        return true;
    }

    /// <summary>True for a full 40-hex-digit git commit hash.</summary>
    public static bool IsCommitHash(string? revision) => revision != null && CommitHash().IsMatch(revision);

    static bool IsValidPart(string part) =>
        part.Length is > 0 and <= 96 && PartChars().IsMatch(part) &&
        !part.Contains("--", StringComparison.Ordinal) && !part.Contains("..", StringComparison.Ordinal) &&
        part[0] is not ('-' or '.') && part[^1] is not ('-' or '.');

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+$")] private static partial Regex PartChars();
    [GeneratedRegex(@"^[A-Za-z0-9_.\-/]+$")] private static partial Regex RevisionChars();
    [GeneratedRegex(@"^[0-9a-f]{40}$")] private static partial Regex CommitHash();
}

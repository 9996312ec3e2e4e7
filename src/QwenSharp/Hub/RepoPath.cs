namespace QwenSharp.Hub;

/// <summary>
/// Checks file names that come from a server before any of them becomes a path on disk. A repository file
/// name must be relative, use '/' between parts, and have no empty, "." or ".." part, no backslash, no ':'
/// (drive letters, NTFS streams) and no control character. Anything else is refused with
/// <see cref="HubErrorKind.UnsafePath"/>, so a hostile or broken server cannot write outside the cache.
/// </summary>
public static class RepoPath
{
    /// <summary>Returns <paramref name="path"/> if it is a safe relative repository path, else throws.</summary>
    public static string Validate(string? path, string context)
    {
        string? problem = Problem(path);
        if (problem != null)
            throw new HubException(HubErrorKind.UnsafePath, $"{context}: refused file name '{Printable(path)}': {problem}");
        return path!;
    }

    /// <summary>Why <paramref name="path"/> is unsafe, or null when it is fine.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "empty name";
        if (path.Length > 1024) return "name longer than 1024 characters";
        if (path.Contains('\\')) return "backslashes are not allowed";
        if (path.Contains(':')) return "':' is not allowed (drive letters and streams)";
        if (path[0] == '/') return "absolute paths are not allowed";
        foreach (char c in path) if (char.IsControl(c)) return "control characters are not allowed";
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0) return "empty path segment";
            if (part == "." || part == "..") return "'.' and '..' segments are not allowed";
        }
        return null;
    }

    /// <summary>Joins a validated repository path to <paramref name="root"/> and checks the result stays inside it.</summary>
    public static string Combine(string root, string path, string context)
    {
        Validate(path, context);
        string full = Path.GetFullPath(Path.Combine(root, path.Replace('/', Path.DirectorySeparatorChar)));
        string rootFull = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootFull, StringComparison.Ordinal))
            throw new HubException(HubErrorKind.UnsafePath, $"{context}: refused file name '{Printable(path)}': it leads outside {root}");
        return full;
    }

    static string Printable(string? s) =>
        s == null ? "" : new string(s.Select(c => char.IsControl(c) ? '?' : c).Take(200).ToArray());
}

namespace QwenSharp.Hub;

/// <summary>What <see cref="HubClient.PullAsync"/> did.</summary>
/// <param name="Repo">The repository.</param>
/// <param name="Revision">The revision asked for.</param>
/// <param name="Commit">The commit it resolved to (the snapshot folder's name).</param>
/// <param name="SnapshotPath">The snapshot folder in the cache.</param>
/// <param name="Files">The files pulled (relative, '/'-separated).</param>
/// <param name="FilesDownloaded">Files whose bytes were downloaded (fully or resumed).</param>
/// <param name="FilesCached">Files already in the cache.</param>
/// <param name="BytesDownloaded">Bytes received over the network.</param>
/// <param name="Source">Where it came from.</param>
/// <param name="FromCacheOnly">True when the network was not used (offline mode).</param>
public sealed record PullResult(RepoId Repo, string Revision, string Commit, string SnapshotPath, IReadOnlyList<string> Files,
    int FilesDownloaded, int FilesCached, long BytesDownloaded, HubSource Source, bool FromCacheOnly)
{
    /// <summary>Full paths of the pulled files.</summary>
    public IEnumerable<string> FilePaths => Files.Select(f => Path.Combine(SnapshotPath, f.Replace('/', Path.DirectorySeparatorChar)));
}

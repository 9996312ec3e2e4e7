namespace QwenSharp.Hub;

/// <summary>One snapshot (commit) of a cached repository.</summary>
/// <param name="Commit">The commit hash (the snapshot folder's name).</param>
/// <param name="Refs">Branches and tags under refs/ that point to it ("main", "refs/pr/1", ...).</param>
/// <param name="Path">The snapshot folder.</param>
/// <param name="Files">Files present, relative and '/'-separated.</param>
/// <param name="SizeBytes">Bytes of those files (through the symlinks).</param>
/// <param name="Info">Format and whether QwenSharp runs it.</param>
public sealed record CachedRevision(string Commit, IReadOnlyList<string> Refs, string Path, IReadOnlyList<string> Files, long SizeBytes, ModelFolderInfo Info)
{
    /// <summary>The refs, or the short commit when no ref points here.</summary>
    public string DisplayName => Refs.Count > 0 ? string.Join(",", Refs) : Commit[..Math.Min(7, Commit.Length)];
}

/// <summary>A repository in the cache.</summary>
/// <param name="Repo">Its id.</param>
/// <param name="Path">Its models--Owner--Name folder.</param>
/// <param name="SizeOnDisk">Bytes on disk (each blob once, plus partial downloads).</param>
/// <param name="IncompleteBytes">Bytes of partial downloads (blobs/*.incomplete) that the next pull resumes.</param>
/// <param name="Revisions">Its snapshots, newest first.</param>
public sealed record CachedModel(RepoId Repo, string Path, long SizeOnDisk, long IncompleteBytes, IReadOnlyList<CachedRevision> Revisions);

/// <summary>What <see cref="HubCache.Remove"/> deleted.</summary>
public sealed record RemovalResult(RepoId Repo, IReadOnlyList<string> RemovedCommits, long FreedBytes, bool RemovedWholeRepo);

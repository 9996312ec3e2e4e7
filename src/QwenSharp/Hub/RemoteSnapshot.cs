namespace QwenSharp.Hub;

/// <summary>One file of a repository at a commit, as the server lists it.</summary>
/// <param name="Path">Path inside the repository ('/'-separated, already checked by <see cref="RepoPath"/>).</param>
/// <param name="Size">Size in bytes, when the listing gives it.</param>
/// <param name="Sha256">SHA-256 of the content (Git LFS files on the Hub; every file on ModelScope).</param>
/// <param name="GitBlobId">Git blob SHA-1 (the ETag of a small, non-LFS file on the Hub).</param>
public sealed record RemoteFile(string Path, long? Size, string? Sha256, string? GitBlobId)
{
    /// <summary>The name the content has under blobs/ in the cache, when the listing tells it: the SHA-256
    /// for LFS files, the git blob id otherwise (the same names huggingface_hub uses).</summary>
    public string? BlobName => Sha256 ?? GitBlobId;
}

/// <summary>A repository at one commit: what <see cref="IRepoSource.GetSnapshotAsync"/> returns.</summary>
public sealed record RemoteSnapshot(RepoId Repo, string Revision, string Commit, IReadOnlyList<RemoteFile> Files);

/// <summary>Where and how to fetch one file.</summary>
/// <param name="Url">The URL to GET (after the Hub's redirect to its CDN, when there is one).</param>
/// <param name="BlobName">The cache name of the content: the normalized ETag (SHA-256 or git blob id).</param>
/// <param name="Size">Exact size in bytes.</param>
/// <param name="SendToken">Whether the access token may be sent to <see cref="Url"/> (only to the source's own host).</param>
public sealed record FileLocation(Uri Url, string BlobName, long Size, bool SendToken);

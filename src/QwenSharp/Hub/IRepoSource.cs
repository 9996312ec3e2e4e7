namespace QwenSharp.Hub;

/// <summary>A place models are downloaded from: the Hugging Face Hub or ModelScope.</summary>
public interface IRepoSource
{
    HubSource Kind { get; }

    /// <summary>"main" on the Hub, "master" on ModelScope.</summary>
    string DefaultRevision { get; }

    /// <summary>The commit a revision points to and the files there (every name already checked by <see cref="RepoPath"/>).</summary>
    Task<RemoteSnapshot> GetSnapshotAsync(RepoId repo, string revision, CancellationToken ct);

    /// <summary>Where to GET one file, its exact size and the name (hash) to verify it against.</summary>
    Task<FileLocation> GetLocationAsync(RemoteSnapshot snapshot, RemoteFile file, CancellationToken ct);

    /// <summary>Adds the access token to a request, if there is one.</summary>
    void Authorize(System.Net.Http.Headers.HttpRequestHeaders headers);

    /// <summary>The host the token may be sent to.</summary>
    string TokenHost { get; }

    /// <summary>Turns an error response into an exception that says what to do.</summary>
    HubException ErrorFor(HttpResponseMessage response, RepoId repo, string what);
}

using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace QwenSharp.Hub;

/// <summary>
/// ModelScope's HTTP API, as the modelscope Python package uses it. Answers are wrapped in
/// <c>{"Code": 200, "Success": true, "Message": ..., "Data": ...}</c>.
/// <list type="bullet">
/// <item><c>GET {endpoint}/api/v1/models/{repo}/revisions</c>: <c>Data.RevisionMap.Branches</c> and <c>.Tags</c>,
/// each <c>{"Revision": name, "CommitId": ..., "CreatedAt": ...}</c>;</item>
/// <item><c>GET {endpoint}/api/v1/models/{repo}/repo/files?Revision={rev}&amp;Recursive=true</c>:
/// <c>Data.Files</c>, each <c>{"Path", "Name", "Type": "blob"|"tree", "Size", "Sha256", "Revision"}</c>;</item>
/// <item><c>GET {endpoint}/api/v1/models/{repo}/repo?Revision={rev}&amp;FilePath={path}</c>: the file
/// (Range requests resume it; redirects are followed).</item>
/// </list>
/// Files go into the same huggingface_hub-layout cache, under their SHA-256 (so LFS weights are shared with a
/// Hub download of the same model). The snapshot folder is named by the branch's <c>CommitId</c>; when the
/// server gives none, by a SHA-1 of the sorted (path, sha256, size) list, which changes exactly when the content does.
/// </summary>
public sealed class ModelScopeSource : IRepoSource
{
    readonly HttpClient _http;
    readonly Uri _endpoint;
    readonly string? _token;

    public ModelScopeSource(HttpClient http, string endpoint, string? token)
    {
        _http = http;
        if (!Uri.TryCreate(endpoint.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new HubException(HubErrorKind.InvalidArgument, $"MODELSCOPE_DOMAIN / --endpoint: '{endpoint}' is not an http(s) URL or host name");
        _endpoint = uri;
        _token = token;
    }

    public HubSource Kind => HubSource.ModelScope;
    public string DefaultRevision => "master";
    public string TokenHost => _endpoint.Authority;

    public void Authorize(HttpRequestHeaders headers)
    {
        if (_token == null) return;
        headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        headers.Add("Cookie", "m_session_id=" + _token);
    }

    public async Task<RemoteSnapshot> GetSnapshotAsync(RepoId repo, string revision, CancellationToken ct)
    {
        var revUrl = new Uri(_endpoint, $"api/v1/models/{repo.Owner}/{repo.Name}/revisions");
        using var revDoc = await GetEnvelopeAsync(revUrl, repo, "revision list", ct).ConfigureAwait(false);
        string? commit = null;
        var known = new List<string>();
        if (revDoc.RootElement.TryGetProperty("Data", out var data) && data.TryGetProperty("RevisionMap", out var map))
        {
            foreach (var group in new[] { "Branches", "Tags" })
            {
                if (!map.TryGetProperty(group, out var list) || list.ValueKind != JsonValueKind.Array) continue;
                foreach (var entry in list.EnumerateArray())
                {
                    string? name = entry.TryGetProperty("Revision", out var r) ? r.GetString() : null;
                    if (name == null) continue;
                    known.Add(name);
                    if (name == revision)
                        commit = entry.TryGetProperty("CommitId", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()?.ToLowerInvariant() : null;
                }
            }
        }
        bool isCommit = RepoId.IsCommitHash(revision);
        if (!known.Contains(revision) && !isCommit)
            throw new HubException(HubErrorKind.RevisionNotFound,
                $"{repo}: revision '{revision}' not found on ModelScope ({_endpoint.Authority}); it has: {(known.Count == 0 ? "none" : string.Join(", ", known))}");
        if (isCommit) commit = revision;

        var filesUrl = new Uri(_endpoint, $"api/v1/models/{repo.Owner}/{repo.Name}/repo/files?Revision={Uri.EscapeDataString(revision)}&Recursive=true");
        using var filesDoc = await GetEnvelopeAsync(filesUrl, repo, $"file list of revision '{revision}'", ct).ConfigureAwait(false);
        var files = new List<RemoteFile>();
        try
        {
            var list = filesDoc.RootElement.GetProperty("Data").GetProperty("Files");
            foreach (var f in list.EnumerateArray())
            {
                string? type = f.TryGetProperty("Type", out var t) ? t.GetString() : "blob";
                if (type == "tree") continue;
                string? path = f.TryGetProperty("Path", out var p) ? p.GetString() : null;
                RepoPath.Validate(path, $"{repo} (ModelScope file list)");
                if (path is ".gitattributes" or ".gitignore") continue;
                long? size = f.TryGetProperty("Size", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() : null;
                string? sha = f.TryGetProperty("Sha256", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString()?.ToLowerInvariant() : null;
                if (sha != null && !(sha.Length == 64 && sha.All(Uri.IsHexDigit))) sha = null;
                files.Add(new RemoteFile(path!, size, sha, null));
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException)
        {
            throw new HubException(HubErrorKind.BadResponse, $"{filesUrl}: unexpected answer (no Data.Files list)", e);
        }

        if (!RepoId.IsCommitHash(commit)) commit = ContentCommitId(files);
        return new RemoteSnapshot(repo, revision, commit!, files);
    }

    /// <summary>A stable 40-hex-digit id of a file list, for a revision the server gives no commit id for.</summary>
    internal static string ContentCommitId(IEnumerable<RemoteFile> files)
    {
        var sb = new StringBuilder("modelscope\n");
        foreach (var f in files.OrderBy(f => f.Path, StringComparer.Ordinal))
            sb.Append(f.Path).Append('\0').Append(f.Sha256).Append('\0').Append(f.Size).Append('\n');
        return Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    public Task<FileLocation> GetLocationAsync(RemoteSnapshot snapshot, RemoteFile file, CancellationToken ct)
    {
        if (file.Sha256 == null || file.Size == null)
            throw new HubException(HubErrorKind.BadResponse,
                $"{snapshot.Repo}: ModelScope lists no Sha256 or Size for '{file.Path}', so it cannot be verified; use --source hf");
        var url = new Uri(_endpoint, $"api/v1/models/{snapshot.Repo.Owner}/{snapshot.Repo.Name}/repo?Revision={Uri.EscapeDataString(snapshot.Revision)}&FilePath={Uri.EscapeDataString(file.Path)}");
        return Task.FromResult(new FileLocation(url, file.Sha256, file.Size.Value, true));
    }

    async Task<JsonDocument> GetEnvelopeAsync(Uri url, RepoId repo, string what, CancellationToken ct)
    {
        using var deadline = HubHttp.ApiDeadline(ct);
        using var resp = await HubHttp.SendAsync(_http, HttpMethod.Get, url, Authorize, TokenHost, HubHttp.Redirects.SameHost,
            h => h.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json")), HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode) throw ErrorFor(resp, repo, what);
        string text = await HubHttp.ReadTextAsync(resp, url, deadline.Token).ConfigureAwait(false);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e) { throw new HubException(HubErrorKind.BadResponse, $"{url}: the answer is not valid JSON ({e.Message})", e); }
        var root = doc.RootElement;
        bool ok = root.ValueKind == JsonValueKind.Object &&
                  (!root.TryGetProperty("Code", out var code) || (code.ValueKind == JsonValueKind.Number && code.GetInt32() == 200)) &&
                  (!root.TryGetProperty("Success", out var success) || success.ValueKind != JsonValueKind.False);
        if (!ok)
        {
            string msg = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("Message", out var m) ? m.ToString() : "unknown error";
            doc.Dispose();
            throw new HubException(HubErrorKind.RepositoryNotFound, $"{repo}: ModelScope refused the {what}: {msg}");
        }
        return doc;
    }

    public HubException ErrorFor(HttpResponseMessage resp, RepoId repo, string what)
    {
        int status = (int)resp.StatusCode;
        string site = _endpoint.GetLeftPart(UriPartial.Authority);
        string tokenAdvice = _token == null
            ? "set MODELSCOPE_API_TOKEN to an access token of an account that has access"
            : "the token in MODELSCOPE_API_TOKEN does not give access to it";
        return status switch
        {
            401 or 403 => new HubException(HubErrorKind.Unauthorized, $"{repo}: ModelScope ({site}) denied access to the {what} ({status}); {tokenAdvice}"),
            404 => new HubException(what.StartsWith("file", StringComparison.Ordinal) ? HubErrorKind.EntryNotFound : HubErrorKind.RepositoryNotFound,
                $"{repo}: {what} not found on ModelScope ({site})"),
            429 or >= 500 => new HubException(HubErrorKind.Network, $"ModelScope ({site}) answered {status} {resp.ReasonPhrase} for {repo} {what}: try again later"),
            _ => new HubException(HubErrorKind.BadResponse, $"ModelScope ({site}) answered {status} {resp.ReasonPhrase} for {repo} {what}"),
        };
    }
}

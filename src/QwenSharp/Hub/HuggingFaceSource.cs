using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace QwenSharp.Hub;

/// <summary>
/// The Hugging Face Hub's HTTP API, as huggingface_hub uses it:
/// <list type="bullet">
/// <item><c>GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true</c>: the commit (<c>sha</c>) and
/// <c>siblings</c> (<c>rfilename</c>, <c>size</c>, <c>blobId</c>, <c>lfs.sha256</c>, <c>lfs.size</c>);</item>
/// <item><c>HEAD {endpoint}/{repo}/resolve/{commit}/{file}</c>: <c>X-Repo-Commit</c>, <c>X-Linked-Etag</c> /
/// <c>ETag</c> (the content's SHA-256 for LFS files, its git blob id otherwise), <c>X-Linked-Size</c> /
/// <c>Content-Length</c>, and for large files a redirect to the CDN, which is then fetched with Range requests;</item>
/// <item>errors carry <c>X-Error-Code</c>: RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound.</item>
/// </list>
/// </summary>
public sealed class HuggingFaceSource : IRepoSource
{
    readonly HttpClient _http;
    readonly Uri _endpoint;
    readonly string? _token;

    public HuggingFaceSource(HttpClient http, string endpoint, string? token)
    {
        _http = http;
        if (!Uri.TryCreate(endpoint.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new HubException(HubErrorKind.InvalidArgument, $"HF_ENDPOINT / --endpoint: '{endpoint}' is not an http(s) URL");
        _endpoint = uri;
        _token = token;
    }

    public HubSource Kind => HubSource.HuggingFace;
    public string DefaultRevision => "main";
    public string TokenHost => _endpoint.Authority;
    public Uri Endpoint => _endpoint;

    public void Authorize(HttpRequestHeaders headers)
    {
        if (_token != null) headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
    }

    public async Task<RemoteSnapshot> GetSnapshotAsync(RepoId repo, string revision, CancellationToken ct)
    {
        var url = new Uri(_endpoint, $"api/models/{repo.Owner}/{repo.Name}/revision/{Uri.EscapeDataString(revision)}?blobs=true");
        using var deadline = HubHttp.ApiDeadline(ct);
        using var resp = await HubHttp.SendAsync(_http, HttpMethod.Get, url, Authorize, TokenHost, HubHttp.Redirects.SameHost,
            h => h.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json")), HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode) throw ErrorFor(resp, repo, $"revision '{revision}'");
        string json = await HubHttp.ReadTextAsync(resp, url, deadline.Token).ConfigureAwait(false);
        return ParseModelInfo(json, repo, revision, url);
    }

    internal static RemoteSnapshot ParseModelInfo(string json, RepoId repo, string revision, Uri url)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            string? sha = root.TryGetProperty("sha", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (!RepoId.IsCommitHash(sha))
                throw new HubException(HubErrorKind.BadResponse, $"{url}: the answer has no valid commit 'sha' (got '{sha}')");
            var files = new List<RemoteFile>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
            {
                foreach (var sib in siblings.EnumerateArray())
                {
                    string? name = sib.TryGetProperty("rfilename", out var n) ? n.GetString() : null;
                    RepoPath.Validate(name, $"{repo} (Hub file list)");
                    long? size = sib.TryGetProperty("size", out var sz) && sz.ValueKind == JsonValueKind.Number ? sz.GetInt64() : null;
                    string? blobId = sib.TryGetProperty("blobId", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;
                    string? sha256 = null;
                    if (sib.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
                    {
                        sha256 = lfs.TryGetProperty("sha256", out var h) ? h.GetString() : lfs.TryGetProperty("oid", out var o) ? o.GetString() : null;
                        if (lfs.TryGetProperty("size", out var ls) && ls.ValueKind == JsonValueKind.Number) size = ls.GetInt64();
                        blobId = null; // the blobId of an LFS file is the pointer's, not the content's
                    }
                    if (sha256 != null && !HubHttp.IsSafeBlobName(sha256)) sha256 = null;
                    if (blobId != null && !HubHttp.IsSafeBlobName(blobId)) blobId = null;
                    files.Add(new RemoteFile(name!, size, sha256?.ToLowerInvariant(), blobId?.ToLowerInvariant()));
                }
            }
            return new RemoteSnapshot(repo, revision, sha!, files);
        }
        catch (JsonException e)
        {
            throw new HubException(HubErrorKind.BadResponse, $"{url}: the answer is not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            throw new HubException(HubErrorKind.BadResponse, $"{url}: unexpected JSON ({e.Message})", e);
        }
    }

    public async Task<FileLocation> GetLocationAsync(RemoteSnapshot snapshot, RemoteFile file, CancellationToken ct)
    {
        var url = new Uri(_endpoint, $"{snapshot.Repo.Owner}/{snapshot.Repo.Name}/resolve/{snapshot.Commit}/{HubHttp.EscapePath(file.Path)}");
        using var deadline = HubHttp.ApiDeadline(ct);
        // Like huggingface_hub: HEAD, follow only same-host redirects (renamed repos), keep the CDN redirect.
        using var resp = await HubHttp.SendAsync(_http, HttpMethod.Head, url, Authorize, TokenHost, HubHttp.Redirects.SameHost,
            h => h.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity")), HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        int code = (int)resp.StatusCode;
        if (code >= 400 || code < 200) throw ErrorFor(resp, snapshot.Repo, $"file '{file.Path}'");

        string? etag = HubHttp.NormalizeEtag(HubHttp.Header(resp, "X-Linked-Etag") ?? HubHttp.Header(resp, "ETag"));
        bool redirect = code is >= 300 and < 400;
        string? sizeText = HubHttp.Header(resp, "X-Linked-Size") ?? (redirect ? null : resp.Content.Headers.ContentLength?.ToString());
        long size = long.TryParse(sizeText, out var sz) ? sz : file.Size ?? -1;
        if (size < 0) throw new HubException(HubErrorKind.BadResponse, $"{snapshot.Repo}: the Hub gave no size for '{file.Path}'");
        etag ??= file.BlobName;
        if (!HubHttp.IsSafeBlobName(etag))
            throw new HubException(HubErrorKind.BadResponse, $"{snapshot.Repo}: the Hub gave no usable ETag for '{file.Path}' (got '{etag}')");

        Uri location = redirect && resp.Headers.Location is { } loc ? (loc.IsAbsoluteUri ? loc : new Uri(url, loc)) : resp.RequestMessage?.RequestUri ?? url;
        bool sendToken = string.Equals(location.Authority, TokenHost, StringComparison.OrdinalIgnoreCase);
        return new FileLocation(location, etag!.ToLowerInvariant(), size, sendToken);
    }

    public HubException ErrorFor(HttpResponseMessage resp, RepoId repo, string what)
    {
        string? code = HubHttp.Header(resp, "X-Error-Code");
        string? message = HubHttp.Header(resp, "X-Error-Message");
        int status = (int)resp.StatusCode;
        string site = _endpoint.GetLeftPart(UriPartial.Authority);
        string tokenAdvice = _token == null
            ? "set HF_TOKEN to an access token that has access (https://huggingface.co/settings/tokens) or run `huggingface-cli login`"
            : "the token in HF_TOKEN (or the login token file) does not give access to it: check the token and that your account was granted access";
        switch (code)
        {
            case "GatedRepo":
                return new HubException(HubErrorKind.Unauthorized,
                    $"{repo} is a gated repository ({status}): accept its conditions on {site}/{repo} and {tokenAdvice}");
            case "RepoNotFound":
                return new HubException(HubErrorKind.RepositoryNotFound,
                    $"repository {repo} not found on {site} ({status}); if it is private or gated, {tokenAdvice}");
            case "RevisionNotFound":
                return new HubException(HubErrorKind.RevisionNotFound, $"{repo}: {what} not found on {site} (no such branch, tag or commit)");
            case "EntryNotFound":
                return new HubException(HubErrorKind.EntryNotFound, $"{repo}: {what} not found on {site}");
        }
        return status switch
        {
            401 => new HubException(HubErrorKind.Unauthorized,
                message == "Invalid credentials in Authorization header"
                    ? $"{repo}: the Hub rejected the token in HF_TOKEN (invalid or expired): set HF_TOKEN to a valid access token"
                    : $"{repo}: {site} requires authentication (401): the repository is gated, private or does not exist; {tokenAdvice}"),
            403 => new HubException(HubErrorKind.Unauthorized,
                $"{repo}: access denied (403{(message != null ? ": " + message : "")}); {tokenAdvice}"),
            404 => new HubException(what.StartsWith("file", StringComparison.Ordinal) ? HubErrorKind.EntryNotFound : HubErrorKind.RepositoryNotFound,
                $"{repo}: {what} not found on {site} (404)"),
            429 => new HubException(HubErrorKind.Network, $"{site} is rate-limiting requests (429): wait a little and try again{(_token == null ? ", or set HF_TOKEN" : "")}"),
            >= 500 => new HubException(HubErrorKind.Network, $"{site} answered {status} {resp.ReasonPhrase} for {repo} {what}: try again later"),
            _ => new HubException(HubErrorKind.BadResponse, $"{site} answered {status} {resp.ReasonPhrase} for {repo} {what}"),
        };
    }
}

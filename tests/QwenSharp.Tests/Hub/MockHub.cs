using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using QwenSharp.Hub;

namespace QwenSharp.Tests.Hub;

/// <summary>A file of a mock repository.</summary>
public sealed class MockFile(string path, byte[] content, bool lfs)
{
    public string Path { get; } = path;
    public byte[] Content { get; set; } = content;
    public bool Lfs { get; } = lfs;
    public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Content));
    public string GitBlobId => ContentHash.GitBlobId(Content);
    /// <summary>What the Hub calls its ETag: the SHA-256 for LFS files, the git blob id otherwise.</summary>
    public string Etag => Lfs ? Sha256 : GitBlobId;
}

/// <summary>A repository of the mock: revisions (name -> commit) and files per commit.</summary>
public sealed class MockRepo
{
    public required string Id { get; init; }
    public Dictionary<string, string> Refs { get; } = new();
    public Dictionary<string, List<MockFile>> Commits { get; } = new();
    /// <summary>Token required for file downloads (a gated repo); null = public.</summary>
    public string? GatedToken { get; set; }

    public MockRepo AddCommit(string commit, string? branch, params MockFile[] files)
    {
        Commits[commit] = files.ToList();
        if (branch != null) Refs[branch] = commit;
        return this;
    }

    public string? CommitOf(string rev) => Commits.ContainsKey(rev) ? rev : Refs.GetValueOrDefault(rev);
}

/// <summary>
/// A local HTTP server that answers like the Hugging Face Hub (model info API, resolve URLs with the LFS
/// redirect to a CDN on a second port, X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, Range requests,
/// X-Error-Code errors) and like ModelScope's API (revisions, repo/files, repo?FilePath=).
/// Tests can make it drop a connection mid-file or serve corrupted bytes, and read its request log.
/// </summary>
public sealed class MockHub : IDisposable
{
    readonly HttpListener _listener = new();
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    public int HubPort { get; }
    public int CdnPort { get; }
    public string Endpoint => $"http://127.0.0.1:{HubPort}";
    public ConcurrentDictionary<string, MockRepo> Repos { get; } = new();
    public ConcurrentQueue<(string Method, string Url, string? Range, string? Authorization)> Log { get; } = new();
    /// <summary>Path -> number of bytes after which the next GET of that file is cut off (once per entry).</summary>
    public ConcurrentDictionary<string, long> DropAfter { get; } = new();
    /// <summary>Paths served with one byte flipped (the announced hash stays the true one).</summary>
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new();
    public int RequestCount => Log.Count;

    public MockHub()
    {
        HubPort = FreePort();
        CdnPort = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{HubPort}/");
        _listener.Prefixes.Add($"http://127.0.0.1:{CdnPort}/");
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public MockRepo AddRepo(string id)
    {
        var r = new MockRepo { Id = id };
        Repos[id] = r;
        return r;
    }

    async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() => Handle(ctx));
        }
    }

    void Handle(HttpListenerContext ctx)
    {
        var req = ctx.Request;
        var resp = ctx.Response;
        Log.Enqueue((req.HttpMethod, req.Url!.ToString(), req.Headers["Range"], req.Headers["Authorization"]));
        try
        {
            string path = Uri.UnescapeDataString(req.Url.AbsolutePath);
            if (req.Url.Port == CdnPort) ServeCdn(ctx, path);
            else if (path.StartsWith("/api/v1/models/", StringComparison.Ordinal)) ServeModelScope(ctx, path["/api/v1/models/".Length..]);
            else if (path.StartsWith("/api/models/", StringComparison.Ordinal)) ServeModelInfo(ctx, path["/api/models/".Length..]);
            else if (path.Contains("/resolve/", StringComparison.Ordinal)) ServeResolve(ctx, path[1..]);
            else Error(resp, 404, null);
        }
        catch (HttpListenerException) { }
        catch (ObjectDisposedException) { }
    }

    static void Json(HttpListenerResponse resp, object value)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value);
        resp.ContentType = "application/json";
        resp.ContentLength64 = bytes.Length;
        resp.OutputStream.Write(bytes);
        resp.Close();
    }

    static void Error(HttpListenerResponse resp, int status, string? code, string? message = null)
    {
        resp.StatusCode = status;
        if (code != null) resp.AddHeader("X-Error-Code", code);
        if (message != null) resp.AddHeader("X-Error-Message", message);
        var bytes = Encoding.UTF8.GetBytes($"{{\"error\":\"{code ?? "error"}\"}}");
        resp.ContentLength64 = bytes.Length;
        resp.OutputStream.Write(bytes);
        resp.Close();
    }

    // GET /api/models/{owner}/{name}/revision/{rev}
    void ServeModelInfo(HttpListenerContext ctx, string rest)
    {
        var parts = rest.Split('/', 4);
        if (parts.Length < 4 || parts[2] != "revision") { Error(ctx.Response, 404, null); return; }
        string id = parts[0] + "/" + parts[1];
        if (!Repos.TryGetValue(id, out var repo)) { Error(ctx.Response, 401, "RepoNotFound", "Repository not found"); return; }
        string? commit = repo.CommitOf(parts[3]);
        if (commit == null) { Error(ctx.Response, 404, "RevisionNotFound", "Invalid rev id"); return; }
        bool blobs = ctx.Request.QueryString["blobs"] == "true" || ctx.Request.QueryString["blobs"] == "True";
        var siblings = repo.Commits[commit].Select(f => blobs
            ? (object)(f.Lfs
                ? new Dictionary<string, object> { ["rfilename"] = f.Path, ["size"] = f.Content.Length, ["blobId"] = "0123456789abcdef0123456789abcdef01234567",
                    ["lfs"] = new Dictionary<string, object> { ["sha256"] = f.Sha256, ["size"] = f.Content.Length, ["pointerSize"] = 134 } }
                : new Dictionary<string, object> { ["rfilename"] = f.Path, ["size"] = f.Content.Length, ["blobId"] = f.GitBlobId })
            : new Dictionary<string, object> { ["rfilename"] = f.Path }).ToList();
        Json(ctx.Response, new Dictionary<string, object> { ["id"] = id, ["modelId"] = id, ["sha"] = commit, ["gated"] = repo.GatedToken != null ? "auto" : false, ["siblings"] = siblings });
    }

    // HEAD/GET /{owner}/{name}/resolve/{rev}/{path}
    void ServeResolve(HttpListenerContext ctx, string rest)
    {
        var parts = rest.Split('/', 5);
        if (parts.Length < 5) { Error(ctx.Response, 404, null); return; }
        string id = parts[0] + "/" + parts[1], rev = parts[3], file = parts[4];
        var resp = ctx.Response;
        if (!Repos.TryGetValue(id, out var repo)) { Error(resp, 401, "RepoNotFound"); return; }
        if (repo.GatedToken != null && ctx.Request.Headers["Authorization"] != "Bearer " + repo.GatedToken)
        {
            Error(resp, ctx.Request.Headers["Authorization"] == null ? 401 : 403, "GatedRepo", "Access to model " + id + " is restricted");
            return;
        }
        string? commit = repo.CommitOf(rev);
        if (commit == null) { Error(resp, 404, "RevisionNotFound"); return; }
        var f = repo.Commits[commit].FirstOrDefault(x => x.Path == file);
        if (f == null) { Error(resp, 404, "EntryNotFound", "Entry not found"); return; }
        resp.AddHeader("X-Repo-Commit", commit);
        if (f.Lfs)
        {
            resp.StatusCode = 302;
            resp.AddHeader("Location", $"http://127.0.0.1:{CdnPort}/cdn/{f.Sha256}?repo={Uri.EscapeDataString(id)}&file={Uri.EscapeDataString(f.Path)}&commit={commit}");
            resp.AddHeader("X-Linked-Etag", $"\"{f.Sha256}\"");
            resp.AddHeader("X-Linked-Size", f.Content.Length.ToString());
            resp.AddHeader("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
            resp.ContentLength64 = 0;
            resp.Close();
            return;
        }
        resp.AddHeader("ETag", $"\"{f.GitBlobId}\"");
        SendContent(ctx, f, allowRange: true);
    }

    // GET /cdn/{sha256}?repo=..&file=..&commit=..
    void ServeCdn(HttpListenerContext ctx, string path)
    {
        string? id = ctx.Request.QueryString["repo"], file = ctx.Request.QueryString["file"], commit = ctx.Request.QueryString["commit"];
        if (id == null || file == null || commit == null || !Repos.TryGetValue(id, out var repo) || !repo.Commits.TryGetValue(commit, out var files))
        { Error(ctx.Response, 404, null); return; }
        var f = files.FirstOrDefault(x => x.Path == file);
        if (f == null) { Error(ctx.Response, 404, null); return; }
        ctx.Response.AddHeader("ETag", $"\"{f.Sha256}\"");
        SendContent(ctx, f, allowRange: true);
    }

    // ModelScope: {owner}/{name}/revisions | {owner}/{name}/repo/files | {owner}/{name}/repo
    void ServeModelScope(HttpListenerContext ctx, string rest)
    {
        var parts = rest.Split('/', 3);
        var resp = ctx.Response;
        if (parts.Length < 3) { Error(resp, 404, null); return; }
        string id = parts[0] + "/" + parts[1];
        if (!Repos.TryGetValue(id, out var repo)) { resp.StatusCode = 404; Json(resp, new { Code = 10010205, Message = "model not found", Success = false }); return; }
        string what = parts[2];
        string? rev = ctx.Request.QueryString["Revision"];
        if (what == "revisions")
        {
            var branches = repo.Refs.Select(r => new { Revision = r.Key, CommitId = r.Value, CreatedAt = 1700000000 }).ToList();
            Json(resp, new { Code = 200, Success = true, Message = "success", Data = new { RevisionMap = new { Branches = branches, Tags = Array.Empty<object>() } } });
            return;
        }
        string? commit = rev == null ? null : repo.CommitOf(rev);
        if (commit == null) { resp.StatusCode = 404; Json(resp, new { Code = 10010404, Message = "revision not found", Success = false }); return; }
        if (what == "repo/files")
        {
            var list = repo.Commits[commit].Select(f => new { Name = System.IO.Path.GetFileName(f.Path), Path = f.Path, Type = "blob", Size = f.Content.Length, Sha256 = f.Sha256, Revision = commit, IsLFS = f.Lfs }).ToList<object>();
            list.Add(new { Name = "sub", Path = "sub", Type = "tree", Size = 0, Sha256 = "", Revision = commit, IsLFS = false });
            Json(resp, new { Code = 200, Success = true, Message = "success", Data = new { Files = list } });
            return;
        }
        if (what == "repo")
        {
            string? filePath = ctx.Request.QueryString["FilePath"];
            var f = repo.Commits[commit].FirstOrDefault(x => x.Path == filePath);
            if (f == null) { Error(resp, 404, null); return; }
            // Like ModelScope's storage, large files are served from another host through a redirect.
            resp.StatusCode = 302;
            resp.AddHeader("Location", $"http://127.0.0.1:{CdnPort}/cdn/{f.Sha256}?repo={Uri.EscapeDataString(id)}&file={Uri.EscapeDataString(f.Path)}&commit={commit}");
            resp.ContentLength64 = 0;
            resp.Close();
            return;
        }
        Error(resp, 404, null);
    }

    void SendContent(HttpListenerContext ctx, MockFile f, bool allowRange)
    {
        var resp = ctx.Response;
        byte[] content = f.Content;
        if (Corrupt.ContainsKey(f.Path))
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0x5a;
        }
        long start = 0;
        string? range = ctx.Request.Headers["Range"];
        if (allowRange && range != null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1]);
            if (start >= content.Length) { resp.StatusCode = 416; resp.AddHeader("Content-Range", $"bytes */{content.Length}"); resp.ContentLength64 = 0; resp.Close(); return; }
            resp.StatusCode = 206;
            resp.AddHeader("Content-Range", $"bytes {start}-{content.Length - 1}/{content.Length}");
        }
        resp.AddHeader("Accept-Ranges", "bytes");
        resp.ContentLength64 = content.Length - start;
        if (ctx.Request.HttpMethod == "HEAD") { resp.Close(); return; }
        if (DropAfter.TryRemove(f.Path, out long dropAt) && dropAt > start)
        {
            int n = (int)(dropAt - start);
            resp.OutputStream.Write(content, (int)start, n);
            resp.OutputStream.Flush();
            resp.Abort(); // the connection is cut mid-file
            return;
        }
        resp.OutputStream.Write(content, (int)start, (int)(content.Length - start));
        resp.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _listener.Stop(); _listener.Close(); } catch (ObjectDisposedException) { }
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }
}

using System.Net;
using System.Net.Http.Headers;

namespace QwenSharp.Hub;

/// <summary>
/// HTTP plumbing shared by the sources: one client with redirects handled here (so an access token is sent
/// only to the source's own host, never to the CDN a file redirects to), short timeouts for API calls and
/// errors turned into <see cref="HubException"/>s that say what to do.
/// </summary>
internal static class HubHttp
{
    public static readonly TimeSpan ApiTimeout = TimeSpan.FromSeconds(60);
    const int MaxRedirects = 10;

    /// <summary>An HttpClient for the Hub: no automatic redirects or decompression, no overall timeout
    /// (large downloads take long; each call sets its own).</summary>
    public static HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("qwensharp", typeof(HubHttp).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return http;
    }

    /// <summary>Which redirects <see cref="SendAsync"/> follows.</summary>
    public enum Redirects { None, SameHost, All }

    /// <summary>
    /// Sends a request and follows redirects by <paramref name="redirects"/>; the token goes only to
    /// <paramref name="tokenHost"/>. Returns the last response (a 3xx one when the redirect was not followed).
    /// Connection failures become <see cref="HubErrorKind.Network"/> errors.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(
        HttpClient http, HttpMethod method, Uri url, Action<HttpRequestHeaders>? auth, string tokenHost,
        Redirects redirects, Action<HttpRequestHeaders>? headers, HttpCompletionOption completion, CancellationToken ct)
    {
        for (int hop = 0; ; hop++)
        {
            using var req = new HttpRequestMessage(method, url);
            if (auth != null && string.Equals(url.Authority, tokenHost, StringComparison.OrdinalIgnoreCase)) auth(req.Headers);
            headers?.Invoke(req.Headers);
            HttpResponseMessage resp;
            try
            {
                resp = await http.SendAsync(req, completion, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new HubException(HubErrorKind.Network, $"cannot reach {url.GetLeftPart(UriPartial.Authority)}: {e.Message}", e);
            }
            catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new HubException(HubErrorKind.Network, $"{url.GetLeftPart(UriPartial.Authority)} did not answer in time", e);
            }

            int code = (int)resp.StatusCode;
            if (code is >= 300 and < 400 && resp.Headers.Location is { } loc && redirects != Redirects.None)
            {
                var next = loc.IsAbsoluteUri ? loc : new Uri(url, loc);
                bool sameHost = !loc.IsAbsoluteUri || string.Equals(next.Authority, url.Authority, StringComparison.OrdinalIgnoreCase);
                if (redirects == Redirects.All || sameHost)
                {
                    if (hop >= MaxRedirects)
                    {
                        resp.Dispose();
                        throw new HubException(HubErrorKind.BadResponse, $"too many redirects from {url}");
                    }
                    if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
                    {
                        resp.Dispose();
                        throw new HubException(HubErrorKind.BadResponse, $"{url} redirects to a non-HTTP address");
                    }
                    resp.Dispose();
                    url = next;
                    continue;
                }
            }
            return resp;
        }
    }

    /// <summary>A CancellationTokenSource that also fires after <see cref="ApiTimeout"/>.</summary>
    public static CancellationTokenSource ApiDeadline(CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(ApiTimeout);
        return cts;
    }

    /// <summary>Reads a small response body (API JSON), turning a stalled server into a Network error.</summary>
    public static async Task<string> ReadTextAsync(HttpResponseMessage resp, Uri url, CancellationToken ct)
    {
        try { return await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false); }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            throw new HubException(HubErrorKind.Network, $"the connection to {url.GetLeftPart(UriPartial.Authority)} broke while reading {url.AbsolutePath}", e);
        }
    }

    /// <summary>Escapes each '/'-separated part of a repository path for use in a URL path.</summary>
    public static string EscapePath(string repoPath) => string.Join('/', repoPath.Split('/').Select(Uri.EscapeDataString));

    /// <summary>Removes the weak marker and quotes of an ETag, as huggingface_hub's _normalize_etag does.</summary>
    public static string? NormalizeEtag(string? etag)
    {
        if (etag == null) return null;
        string e = etag.Trim();
        if (e.StartsWith("W/", StringComparison.Ordinal)) e = e[2..];
        return e.Trim('"');
    }

    /// <summary>True for a name that can safely be a file name under blobs/ (hex digits and the like).</summary>
    public static bool IsSafeBlobName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 128 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string? Header(HttpResponseMessage resp, string name)
    {
        if (resp.Headers.TryGetValues(name, out var v)) return v.FirstOrDefault();
        if (resp.Content.Headers.TryGetValues(name, out var c)) return c.FirstOrDefault();
        return null;
    }
}

using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace QwenSharp.Server.Security;

/// <summary>Works out who a request comes from (once per request; the result is kept in HttpContext.Items).</summary>
public sealed class ClientAuthenticator(IOptions<QwenServerOptions> options)
{
    readonly ApiKeyStore _keys = new(options.Value.ApiKeys);

    public ApiKeyStore Keys => _keys;

    /// <summary>
    /// With keys configured: the matching key's identity, or an unauthenticated one. Without keys every
    /// caller is allowed and identified by its address (for per-client rate limits).
    /// </summary>
    public ClientIdentity Identify(HttpContext ctx)
    {
        if (ctx.Items.TryGetValue(ClientIdentity.ItemKey, out var cached) && cached is ClientIdentity c) return c;
        ClientIdentity id;
        if (_keys.Enabled)
        {
            var key = _keys.Find(ApiKeyStore.BearerToken(ctx.Request));
            id = key is null ? new ClientIdentity("unauthenticated", false) : new ClientIdentity(key, true);
        }
        else
        {
            id = new ClientIdentity("client-" + (ctx.Connection.RemoteIpAddress?.ToString() ?? "local"), true);
        }
        ctx.Items[ClientIdentity.ItemKey] = id;
        return id;
    }
}

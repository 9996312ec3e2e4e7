using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace QwenSharp.Router;

/// <summary>Checks the client's <c>Authorization: Bearer KEY</c> against the router's keys, in constant time.</summary>
public sealed class ApiKeyCheck
{
    readonly byte[][] _hashes;

    public ApiKeyCheck(IEnumerable<string> keys) => _hashes = keys.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();

    public bool Enabled => _hashes.Length > 0;

    public bool IsAuthorized(HttpRequest request)
    {
        if (_hashes.Length == 0) return true;
        string? header = request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return false;
        // Comparing hashes keeps the time independent of the key's length and content.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan(7).Trim().ToString()));
        bool ok = false;
        foreach (var h in _hashes) ok |= CryptographicOperations.FixedTimeEquals(h, given);
        return ok;
    }
}

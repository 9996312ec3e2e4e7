using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace QwenSharp.Server.Security;

/// <summary>The caller a request was authenticated as: an API key (by its index and a short fingerprint, never the key) or anonymous.</summary>
public sealed record ClientIdentity(string Id, bool Allowed)
{
    public const string ItemKey = "qwensharp.identity";
}

/// <summary>
/// The accepted API keys, kept as SHA-256 hashes. A presented key is hashed and compared with every
/// stored hash by <see cref="CryptographicOperations.FixedTimeEquals"/>, all of them every time, so the
/// time taken tells nothing about which key or how much of one matched.
/// </summary>
public sealed class ApiKeyStore
{
    readonly byte[][] _hashes;
    readonly string[] _ids;

    public ApiKeyStore(IEnumerable<string> keys)
    {
        var list = new List<byte[]>();
        foreach (var k in keys)
        {
            if (string.IsNullOrWhiteSpace(k)) throw new ArgumentException("an API key must not be empty or blank");
            if (k.Any(char.IsWhiteSpace)) throw new ArgumentException("an API key must not contain whitespace");
            var h = SHA256.HashData(Encoding.UTF8.GetBytes(k));
            if (!list.Any(x => x.AsSpan().SequenceEqual(h))) list.Add(h);
        }
        _hashes = [.. list];
        _ids = _hashes.Select((h, i) => $"key{i + 1}-{Convert.ToHexStringLower(h, 0, 4)}").ToArray();
    }

    /// <summary>Whether any key is configured (requests must then present one).</summary>
    public bool Enabled => _hashes.Length > 0;

    public int Count => _hashes.Length;

    /// <summary>The identity for a presented key, or null when it matches none.</summary>
    public string? Find(ReadOnlySpan<char> presented)
    {
        if (_hashes.Length == 0) return null;
        Span<byte> utf8 = presented.Length <= 256 ? stackalloc byte[presented.Length * 3] : new byte[Encoding.UTF8.GetMaxByteCount(presented.Length)];
        int n = Encoding.UTF8.GetBytes(presented, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..n], hash);
        int found = -1;
        for (int i = 0; i < _hashes.Length; i++)
        {
            bool eq = CryptographicOperations.FixedTimeEquals(hash, _hashes[i]);
            found = eq && found < 0 ? i : found;
        }
        return found < 0 ? null : _ids[found];
    }

    /// <summary>The key of an <c>Authorization: Bearer KEY</c> header, or empty.</summary>
    public static ReadOnlySpan<char> BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization;
        if (header.Count != 1) return default;
        var value = header[0].AsSpan().Trim();
        const string scheme = "Bearer ";
        if (value.Length <= scheme.Length || !value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return default;
        return value[scheme.Length..].Trim();
    }

    /// <summary>
    /// Reads a keys file: one key per line; blank lines and lines starting with '#' are skipped.
    /// </summary>
    public static List<string> ReadKeysFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: API keys file not found", path);
        var keys = new List<string>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            if (line.Any(char.IsWhiteSpace)) throw new FormatException($"{path}:{lineNo}: a key must be one word (no spaces)");
            keys.Add(line);
        }
        if (keys.Count == 0) throw new FormatException($"{path}: no API keys in the file");
        return keys;
    }

    /// <summary>Keys from an environment variable: separated by commas or whitespace.</summary>
    public static List<string> ParseList(string? value) =>
        value is null ? [] : [.. value.Split([',', ' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)];
}

using System.Security.Cryptography;
using System.Text;

namespace QwenSharp.Hub;

/// <summary>
/// Verifies downloaded bytes against the id the server gave for them, while they stream in: a 64-hex-digit id
/// is a SHA-256 (Git LFS files, ModelScope), a 40-hex-digit id a git blob SHA-1 (<c>sha1("blob {size}\0" +
/// content)</c>, the ETag of small files on the Hub). Any other id cannot be checked (size only).
/// </summary>
public sealed class ContentHash : IDisposable
{
    readonly IncrementalHash? _hash;
    readonly long _size;
    public string ExpectedId { get; }
    public bool CanVerify => _hash != null;

    public ContentHash(string expectedId, long size)
    {
        ExpectedId = expectedId.ToLowerInvariant();
        _size = size;
        if (IsHex(ExpectedId, 64)) _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        else if (IsHex(ExpectedId, 40)) _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        Reset();
    }

    /// <summary>Starts over (the server ignored a Range request and sent the whole file).</summary>
    public void Reset()
    {
        if (_hash == null) return;
        _hash.GetHashAndReset();
        if (ExpectedId.Length == 40) _hash.AppendData(Encoding.ASCII.GetBytes($"blob {_size}\0"));
    }

    public void Append(ReadOnlySpan<byte> data) => _hash?.AppendData(data);

    /// <summary>The hex digest of what was appended, or null when the id is not a hash.</summary>
    public string? Finish() => _hash == null ? null : Convert.ToHexStringLower(_hash.GetHashAndReset());

    /// <summary>The hex SHA-256 of a whole file.</summary>
    public static string Sha256OfFile(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>The git blob id of a byte array (what the Hub's ETag is for a non-LFS file).</summary>
    public static string GitBlobId(ReadOnlySpan<byte> content)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        h.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
        h.AppendData(content);
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    static bool IsHex(string s, int length) => s.Length == length && s.All(Uri.IsHexDigit);

    public void Dispose() => _hash?.Dispose();
}

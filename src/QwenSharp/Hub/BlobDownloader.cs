using System.Net;

namespace QwenSharp.Hub;

/// <summary>
/// Downloads one file into the cache's blobs/ folder, the way huggingface_hub lays it out:
/// bytes go to <c>blobs/&lt;name&gt;.incomplete</c> and the file is renamed to <c>blobs/&lt;name&gt;</c> only once
/// its size and hash match what the server announced, so an interrupted download never looks complete.
/// An existing .incomplete file is resumed with a Range request (and its bytes hashed first, so the whole
/// content is verified); a dropped connection is resumed the same way up to <c>maxRetries</c> times in a row
/// without progress. A file whose hash does not match is deleted and reported as
/// <see cref="HubErrorKind.Integrity"/>. The open .incomplete file is also the lock that keeps two processes
/// from writing the same blob.
/// </summary>
internal sealed class BlobDownloader(HttpClient http, IRepoSource source, int maxRetries)
{
    const int BufferSize = 1 << 20;
    static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);
    static readonly TimeSpan LockWait = TimeSpan.FromMinutes(30);

    /// <summary>Downloads <paramref name="location"/> to <paramref name="blobPath"/>; <paramref name="onBytes"/>
    /// gets the file's byte count so far (including resumed bytes), <paramref name="onRetry"/> each resume.</summary>
    public async Task DownloadAsync(RepoId repo, string repoPath, FileLocation location, string blobPath,
        Action<long> onBytes, Action<Exception> onRetry, CancellationToken ct)
    {
        string incomplete = blobPath + ".incomplete";
        Directory.CreateDirectory(Path.GetDirectoryName(blobPath)!);
        FileStream? fs = await OpenExclusiveAsync(incomplete, blobPath, repo, repoPath, ct).ConfigureAwait(false);
        if (fs == null) { onBytes(location.Size); return; } // another process finished it meanwhile

        bool keepPartial = true;
        try
        {
            using var hash = new ContentHash(location.BlobName, location.Size);
            long have = fs.Length;
            if (have > location.Size) { fs.SetLength(0); have = 0; }
            if (have > 0 && hash.CanVerify) await HashPrefixAsync(fs, have, hash, ct).ConfigureAwait(false);
            fs.Position = have;
            onBytes(have);

            var buffer = new byte[BufferSize];
            int failuresWithoutProgress = 0;
            while (have < location.Size)
            {
                long before = have;
                try
                {
                    have = await FetchAsync(repo, repoPath, location, fs, have, hash, buffer, onBytes, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (IsRetryable(e, ct))
                {
                    failuresWithoutProgress = fs.Position > before ? 1 : failuresWithoutProgress + 1;
                    have = fs.Position;
                    await fs.FlushAsync(ct).ConfigureAwait(false);
                    if (failuresWithoutProgress > maxRetries)
                        throw new HubException(HubErrorKind.Network,
                            $"{repo}: downloading '{repoPath}' failed after {have} of {location.Size} bytes ({e.Message}); " +
                            "the partial file is kept and the next pull resumes it", e);
                    onRetry(e);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(8000, 250 * (1 << Math.Min(5, failuresWithoutProgress - 1)))), ct).ConfigureAwait(false);
                }
            }

            await fs.FlushAsync(ct).ConfigureAwait(false);
            if (fs.Length != location.Size)
            {
                keepPartial = false;
                throw new HubException(HubErrorKind.Integrity, $"{repo}: '{repoPath}' has {fs.Length} bytes, the server announced {location.Size}: discarded");
            }
            string? digest = hash.Finish();
            if (digest != null && digest != hash.ExpectedId)
            {
                keepPartial = false;
                throw new HubException(HubErrorKind.Integrity,
                    $"{repo}: '{repoPath}' is corrupt: its {(digest.Length == 64 ? "SHA-256" : "git blob id")} is {digest}, the server announced {hash.ExpectedId}. " +
                    "The download was discarded and not used; run the command again to download it anew");
            }
        }
        catch (Exception e)
        {
            await fs.DisposeAsync().ConfigureAwait(false);
            fs = null;
            if (!keepPartial || e is HubException { Kind: HubErrorKind.Integrity }) TryDelete(incomplete);
            throw;
        }
        finally
        {
            if (fs != null) await fs.DisposeAsync().ConfigureAwait(false);
        }

        if (File.Exists(blobPath)) TryDelete(incomplete); // finished by another process meanwhile: same content
        else File.Move(incomplete, blobPath);
    }

    async Task<long> FetchAsync(RepoId repo, string repoPath, FileLocation location, FileStream fs, long have, ContentHash hash,
        byte[] buffer, Action<long> onBytes, CancellationToken ct)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(StallTimeout);
        long start = have;
        using var resp = await HubHttp.SendAsync(http, HttpMethod.Get, location.Url, location.SendToken ? source.Authorize : null, source.TokenHost,
            HubHttp.Redirects.All, h =>
            {
                if (start > 0) h.Range = new System.Net.Http.Headers.RangeHeaderValue(start, null);
                h.AcceptEncoding.Add(new System.Net.Http.Headers.StringWithQualityHeaderValue("identity"));
            }, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);

        if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The partial file is not a prefix the server can continue: start over.
            Restart(fs, hash);
            throw new IOException($"the server refused to resume at byte {start} (416); restarting the file");
        }
        if (!resp.IsSuccessStatusCode) throw source.ErrorFor(resp, repo, $"file '{repoPath}'");

        if (resp.StatusCode == HttpStatusCode.PartialContent)
        {
            long? from = resp.Content.Headers.ContentRange?.From;
            if (from != start)
            {
                Restart(fs, hash);
                throw new IOException($"the server resumed at byte {from} instead of {start}; restarting the file");
            }
        }
        else if (start > 0)
        {
            Restart(fs, hash); // a 200 to a Range request: the whole file comes again
            have = 0;
            onBytes(0);
        }

        await using var body = await resp.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
        while (true)
        {
            int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            if (n == 0) break;
            if (have + n > location.Size)
            {
                throw new HubException(HubErrorKind.Integrity,
                    $"{repo}: the server sent more than the announced {location.Size} bytes for '{repoPath}': discarded");
            }
            await fs.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            hash.Append(buffer.AsSpan(0, n));
            have += n;
            onBytes(have);
            stall.CancelAfter(StallTimeout);
        }
        if (have < location.Size)
            throw new IOException($"the connection closed after {have} of {location.Size} bytes");
        return have;
    }

    static void Restart(FileStream fs, ContentHash hash)
    {
        fs.SetLength(0);
        fs.Position = 0;
        hash.Reset();
    }

    static async Task HashPrefixAsync(FileStream fs, long length, ContentHash hash, CancellationToken ct)
    {
        fs.Position = 0;
        var buffer = new byte[BufferSize];
        long left = length;
        while (left > 0)
        {
            int n = await fs.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
            if (n == 0) break;
            hash.Append(buffer.AsSpan(0, n));
            left -= n;
        }
    }

    static bool IsRetryable(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested &&
        (e is IOException or HttpRequestException or OperationCanceledException ||
         e is HubException { Kind: HubErrorKind.Network });

    /// <summary>Opens the .incomplete file exclusively; waits while another process holds it. Returns null
    /// when the blob appeared meanwhile.</summary>
    static async Task<FileStream?> OpenExclusiveAsync(string incomplete, string blobPath, RepoId repo, string repoPath, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            if (File.Exists(blobPath)) return null;
            try
            {
                return new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            }
            catch (IOException) when (File.Exists(incomplete) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, ct).ConfigureAwait(false);
            }
            catch (IOException e) when (File.Exists(incomplete))
            {
                throw new HubException(HubErrorKind.Cache, $"{repo}: another process has been downloading '{repoPath}' ({incomplete}) for {LockWait.TotalMinutes:0} minutes", e);
            }
        }
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

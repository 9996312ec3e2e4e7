namespace QwenSharp.Hub;

/// <summary>What a progress report is about.</summary>
public enum DownloadStage
{
    /// <summary>The file list is known; <see cref="DownloadProgress.TotalBytes"/> is the size still to download.</summary>
    Started,
    /// <summary>Bytes of <see cref="DownloadProgress.File"/> arrived.</summary>
    Downloading,
    /// <summary>A dropped connection is being resumed.</summary>
    Retrying,
    /// <summary><see cref="DownloadProgress.File"/> is downloaded and verified.</summary>
    FileCompleted,
    /// <summary><see cref="DownloadProgress.File"/> was already in the cache.</summary>
    FileCached,
    /// <summary>Every file is in place.</summary>
    Completed,
}

/// <summary>
/// One progress report of a download. Reports come from several threads when files download in parallel.
/// Byte counts include bytes resumed from an earlier partial download.
/// </summary>
public sealed record DownloadProgress(
    DownloadStage Stage,
    string File,
    long FileBytes,
    long FileSize,
    long TotalBytes,
    long TotalSize,
    int FilesDone,
    int FilesTotal);

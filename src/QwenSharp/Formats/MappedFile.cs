using System.IO.MemoryMappedFiles;

namespace QwenSharp.Formats;

/// <summary>
/// A read-only memory-mapped file. Model weights are read through this mapping, so the
/// operating system pages them in only when they are touched (zero-copy, no managed arrays).
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile? _mmf;
    readonly MemoryMappedViewAccessor? _view;
    byte* _ptr;

    public string Path { get; }
    public long Length { get; }

    /// <summary>Start of the mapping. Valid until <see cref="Dispose"/>.</summary>
    public byte* Pointer => _ptr != null || Length == 0 ? _ptr : throw new ObjectDisposedException(Path);

    public MappedFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found", path);
        Length = info.Length;
        if (Length == 0) return;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        _mmf = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _ptr = p + _view.PointerOffset;
    }

    /// <summary>A span over [offset, offset+length); the caller has validated the range.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length) => new(_ptr + offset, length);

    public void Dispose()
    {
        if (_view != null && _ptr != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _ptr = null;
        }
        _view?.Dispose();
        _mmf?.Dispose();
    }
}

/// <summary>A file that is not what it claims to be. The message names the file and the problem.</summary>
public sealed class ModelFormatException : Exception
{
    public string FilePath { get; }
    public ModelFormatException(string path, string problem) : base($"{path}: {problem}") { FilePath = path; }
}

using QwenSharp.Engine;
using QwenSharp.Hub;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>Turns a --model argument into a loaded model, with errors as one clear line.</summary>
public static class ModelResolver
{
    /// <summary>The default model of `chat` and `generate` when --model is not given.</summary>
    public const string DefaultModel = "Qwen/Qwen3-0.6B";

    /// <summary>
    /// A local path for --model: an existing file or folder as is; a Hub repo id (Org/Name[@revision]) is
    /// resolved through the local cache, downloading it on first use (progress on stderr).
    /// </summary>
    public static string Resolve(string model, string? include = null, TextWriter? progressOut = null)
    {
        if (File.Exists(model) || Directory.Exists(model)) return model;
        if (!RepoId.TryParse(model, out _, out _))
            throw new CliException($"--model: '{model}' is not a file, a folder, or a Hub repo id like Qwen/Qwen3-0.6B", 2);
        try
        {
            var options = new ModelResolveOptions { Include = include is null ? [] : [include] };
            var progress = progressOut is null ? null : new Progress<DownloadProgress>(p =>
            {
                if (p.Stage == DownloadStage.FileCompleted) progressOut.WriteLine($"downloaded {p.File}");
            });
            return ModelLocator.Resolve(model, options, progress).GetAwaiter().GetResult();
        }
        catch (HubException e) { throw new CliException(e.Message, 1); }
    }

    public static QwenModel LoadModel(string path, ModelLoadOptions? options = null)
    {
        try { return QwenModel.Load(path, options); }
        catch (Exception e) when (e is Formats.ModelFormatException or NotSupportedException or FileNotFoundException or IOException or UnauthorizedAccessException)
        {
            throw new CliException(e.Message, 1);
        }
    }

    public static WorkerPool CreatePool(int? threads)
    {
        if (threads is { } t && (t < 1 || t > 1024)) throw new CliException($"--threads: {t} must be between 1 and 1024", 2);
        return new WorkerPool(threads ?? WorkerPool.DefaultThreads);
    }
}

/// <summary>Writes a file atomically: to a temporary name beside it, then renamed.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new CliException($"{path}: folder '{dir}' does not exist", 2);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write)) write(fs);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { }
            throw;
        }
    }
}

using QwenSharp.Engine;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>Turns a --model argument into a loaded model, with errors as one clear line.</summary>
public static class ModelResolver
{
    /// <summary>A local path for --model (repo ids are resolved through the Hub cache once it exists).</summary>
    public static string Resolve(string model)
    {
        if (File.Exists(model) || Directory.Exists(model)) return model;
        throw new CliException($"--model: '{model}' is not a file or folder", 2);
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

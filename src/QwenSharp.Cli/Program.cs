using System.CommandLine;
using QwenSharp.Cli.Commands;

namespace QwenSharp.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Builds the command tree. Each command lives in its own file under Commands/.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("qwensharp: run, serve, benchmark, quantize and fine-tune Qwen models in pure .NET");
        foreach (var c in CommandRegistry.All()) root.Add(c);
        return root;
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildRoot();
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (CliException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is Formats.ModelFormatException or NotSupportedException or FileNotFoundException
                                   or DirectoryNotFoundException or UnauthorizedAccessException or ArgumentException or IOException
                                   or Templates.TemplateException or Hub.HubException)
        {
            // Bad input named by the exception's message: one line, no stack trace.
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}

/// <summary>An error to show the user as one line, with an exit code (no stack trace).</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

using System.CommandLine;
using QwenSharp.Catalog;
using QwenSharp.Hub;
using Spectre.Console;

namespace QwenSharp.Cli.Commands;

/// <summary><c>qwensharp pull REPO[@rev]</c>: downloads a model into the Hugging Face cache.</summary>
public static class PullCommand
{
    public static Command Create()
    {
        var repo = new Argument<string>("repo") { Description = "Repository id, e.g. Qwen/Qwen3-0.6B or Qwen/Qwen3-8B-GGUF@main" };
        var include = new Option<string[]>("--include") { Description = "Only files matching this glob (repeatable), e.g. '*Q4_K_M.gguf'", Arity = ArgumentArity.OneOrMore };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave out files matching this glob (repeatable)", Arity = ArgumentArity.OneOrMore };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (default main; master on ModelScope)" };
        var source = new Option<string?>("--source") { Description = "hf (Hugging Face Hub) or modelscope (default: QWENSHARP_SOURCE, else hf)" };
        var endpoint = new Option<string?>("--endpoint") { Description = "Base URL of the source (default: HF_ENDPOINT / MODELSCOPE_DOMAIN)" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub)" };
        var parallel = new Option<int>("--parallel") { Description = "Files downloaded at once", DefaultValueFactory = _ => 4 };
        var quiet = new Option<bool>("--quiet") { Description = "No progress display" };
        var cmd = new Command("pull", "Download a model from the Hugging Face Hub or ModelScope into the shared cache (resumable, verified)")
        {
            repo, include, exclude, revision, source, endpoint, cacheDir, parallel, quiet,
        };
        cmd.SetAction((parse, ct) => Guard(parse, async () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var options = new PullOptions
            {
                Revision = parse.GetValue(revision),
                Include = parse.GetValue(include) ?? [],
                Exclude = parse.GetValue(exclude) ?? [],
                Source = ParseSource(parse.GetValue(source)),
                Endpoint = parse.GetValue(endpoint),
                CacheDir = parse.GetValue(cacheDir),
                Parallelism = parse.GetValue(parallel),
            };
            string id = parse.GetValue(repo)!;
            using var client = new HubClient();
            PullResult result;
            try
            {
                bool live = !parse.GetValue(quiet) && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
                result = live ? await PullWithLiveProgress(client, id, options, ct) : await PullWithLines(client, id, options, output, parse.GetValue(quiet), ct);
            }
            catch (HubException e) { throw Fail(e); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw new CliException("interrupted: partial downloads are kept (blobs/*.incomplete); run the same command again to resume", 130);
            }
            output.WriteLine($"pulled {result.Repo}@{result.Revision} (commit {result.Commit[..Math.Min(7, result.Commit.Length)]}, {SourceName(result.Source)}): " +
                             $"{result.Files.Count} files, {Units.FormatBytes(result.BytesDownloaded)} downloaded, {result.FilesCached} already cached");
            output.WriteLine(result.SnapshotPath);
            return 0;
        }));
        return cmd;
    }

    static async Task<PullResult> PullWithLiveProgress(HubClient client, string id, PullOptions options, CancellationToken ct)
    {
        PullResult? result = null;
        await AnsiConsole.Progress()
            .AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var gate = new object();
                ProgressTask? total = null;
                var files = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                var progress = new Reporter(p =>
                {
                    lock (gate)
                    {
                        total ??= ctx.AddTask("[bold]total[/]", autoStart: true, maxValue: Math.Max(1, p.TotalSize));
                        if (p.Stage == DownloadStage.Started) total.MaxValue = Math.Max(1, p.TotalSize);
                        if (p.File.Length > 0 && p.Stage is DownloadStage.Downloading or DownloadStage.FileCompleted or DownloadStage.Retrying)
                        {
                            if (!files.TryGetValue(p.File, out var t))
                                files[p.File] = t = ctx.AddTask(Markup.Escape(p.File), autoStart: true, maxValue: Math.Max(1, p.FileSize));
                            t.Value = p.FileBytes;
                            if (p.Stage == DownloadStage.Retrying) t.Description = Markup.Escape(p.File) + " [yellow](resuming)[/]";
                            if (p.Stage == DownloadStage.FileCompleted) { t.Description = Markup.Escape(p.File); t.Value = t.MaxValue; t.StopTask(); }
                        }
                        total.Value = Math.Min(total.MaxValue, p.TotalBytes);
                        if (p.Stage == DownloadStage.Completed) { total.Value = total.MaxValue; total.StopTask(); }
                    }
                });
                result = await client.PullAsync(id, options, progress, ct);
            });
        return result!;
    }

    static async Task<PullResult> PullWithLines(HubClient client, string id, PullOptions options, TextWriter output, bool quiet, CancellationToken ct)
    {
        var gate = new object();
        var progress = new Reporter(p =>
        {
            if (quiet) return;
            lock (gate)
            {
                switch (p.Stage)
                {
                    case DownloadStage.FileCompleted: output.WriteLine($"  {p.File}  {Units.FormatBytes(p.FileSize)}  [{p.FilesDone}/{p.FilesTotal}]"); break;
                    case DownloadStage.FileCached: output.WriteLine($"  {p.File}  cached  [{p.FilesDone}/{p.FilesTotal}]"); break;
                    case DownloadStage.Retrying: output.WriteLine($"  {p.File}  connection dropped at {Units.FormatBytes(p.FileBytes)}: resuming"); break;
                }
            }
        });
        return await client.PullAsync(id, options, progress, ct);
    }

    /// <summary>Reports synchronously on the reporting thread (Progress&lt;T&gt; would post to a thread pool out of order).</summary>
    internal sealed class Reporter(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }

    internal static HubSource? ParseSource(string? text)
    {
        if (text == null) return null;
        if (!HubSourceNames.TryParse(text, out var s)) throw new CliException($"--source: unknown source '{text}' (expected hf or modelscope)", 2);
        return s;
    }

    internal static string SourceName(HubSource s) => s == HubSource.ModelScope ? "ModelScope" : "Hugging Face Hub";

    /// <summary>Runs a command body and prints a <see cref="CliException"/> as one "error: ..." line with its exit
    /// code (System.CommandLine's default handler would otherwise print a stack trace).</summary>
    internal static async Task<int> Guard(ParseResult parse, Func<Task<int>> body)
    {
        try { return await body(); }
        catch (CliException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }

    /// <inheritdoc cref="Guard(ParseResult, Func{Task{int}})"/>
    internal static int Guard(ParseResult parse, Func<int> body)
    {
        try { return body(); }
        catch (CliException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }

    /// <summary>The one-line error for a Hub failure, with an exit code by kind.</summary>
    internal static CliException Fail(HubException e) => new(e.Message, e.Kind switch
    {
        HubErrorKind.InvalidArgument => 2,
        HubErrorKind.Unauthorized => 3,
        HubErrorKind.RepositoryNotFound or HubErrorKind.RevisionNotFound or HubErrorKind.EntryNotFound => 4,
        HubErrorKind.Offline or HubErrorKind.Network => 5,
        HubErrorKind.Integrity => 6,
        _ => 1,
    });
}

using System.CommandLine;
using QwenSharp.Catalog;
using QwenSharp.Hub;

namespace QwenSharp.Cli.Commands;

/// <summary><c>qwensharp rm REPO[@rev]</c>: removes a cached model, or one revision of it.</summary>
public static class RmCommand
{
    public static Command Create()
    {
        var repo = new Argument<string>("repo") { Description = "Repository id, optionally @revision (branch, tag, commit or commit prefix)" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub)" };
        var cmd = new Command("rm", "Remove a model (or one revision of it) from the cache") { repo, yes, cacheDir };
        cmd.SetAction(parse => PullCommand.Guard(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            string text = parse.GetValue(repo)!;
            if (!RepoId.TryParse(text, out var id, out var revision))
                throw new CliException($"'{text}' is not a repository id (Owner/Name or Owner/Name@revision)", 2);
            HubCache cache;
            CachedModel? model;
            try
            {
                cache = new HubCache(parse.GetValue(cacheDir));
                model = cache.Get(id);
            }
            catch (Exception e) when (e is HubException or IOException or UnauthorizedAccessException) { throw new CliException($"cannot read the cache: {e.Message}", 1); }
            if (model == null) throw new CliException($"{id} is not in the cache ({cache.Root}); `qwensharp list` shows what is", 4);

            string what = revision == null ? $"{id} ({Units.FormatBytes(model.SizeOnDisk)}, {model.Revisions.Count} revision(s))" : $"{id}@{revision}";
            if (!parse.GetValue(yes))
            {
                if (Console.IsInputRedirected || !ReferenceEquals(output, Console.Out))
                    throw new CliException($"not removing {what} without confirmation: add --yes", 2);
                output.Write($"remove {what} from {cache.Root}? [y/N] ");
                string? answer = Console.ReadLine();
                if (answer?.Trim().ToLowerInvariant() is not ("y" or "yes")) { output.WriteLine("nothing removed"); return 1; }
            }
            RemovalResult result;
            try { result = cache.Remove(id, revision); }
            catch (HubException e) { throw new CliException(e.Message, 4); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot remove {what}: {e.Message}", 1); }
            output.WriteLine(result.RemovedWholeRepo
                ? $"removed {id} ({Units.FormatBytes(result.FreedBytes)} freed)"
                : $"removed {id}@{revision} (commit {result.RemovedCommits[0][..Math.Min(7, result.RemovedCommits[0].Length)]}, {Units.FormatBytes(result.FreedBytes)} freed)");
            return 0;
        }));
        return cmd;
    }
}

using System.CommandLine;

namespace QwenSharp.Cli.Commands;

/// <summary>Every top-level command, in the order `qwensharp --help` lists them.</summary>
public static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return InfoCommand.Create();
        yield return LogitsCommand.Create();
        yield return GenerateCommand.Create();
        yield return ChatCommand.Create();
        yield return ServeCommand.Create();
        yield return TokenizeCommand.Create();
        yield return TemplateCommand.Create();
        yield return PullCommand.Create();
        yield return ListCommand.Create();
        yield return RmCommand.Create();
        yield return RecommendCommand.Create();
        yield return BenchCommand.Create();
        yield return QuantizeCommand.Create();
        yield return FinetuneCommand.Create();
        yield return MergeCommand.Create();
        yield return RouterCommand.Create();
        yield break;
    }
}

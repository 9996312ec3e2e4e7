using System.CommandLine;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwensharp info --model PATH`: architecture, parameters, dtypes, context length, memory needed.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var cmd = new Command("info", "Show a model's architecture, parameter count, weight types, context length and memory needs") { model, json };
        cmd.SetAction(r =>
        {
            var path = ModelResolver.Resolve(r.GetValue(model)!);
            using var m = ModelResolver.LoadModel(path, new ModelLoadOptions { DeferWeights = true });
            var info = ModelInfo.Describe(m);
            var o = r.InvocationConfiguration.Output;
            if (r.GetValue(json)) o.WriteLine(info.ToJson());
            else o.Write(info.ToText());
            return 0;
        });
        return cmd;
    }
}

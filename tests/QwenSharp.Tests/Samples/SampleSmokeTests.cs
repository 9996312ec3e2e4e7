using QwenSharp.Samples;

namespace QwenSharp.Tests.Samples;

/// <summary>Every sample starts, produces output and exits 0 against a fixture model, so samples never rot.</summary>
[Collection(ConsoleCollection.Name)]
public class SampleSmokeTests
{
    public static TheoryData<string> Names => new(Program.Samples.Keys.Order());

    [Theory]
    [MemberData(nameof(Names))]
    public async Task SampleRunsAgainstAFixtureModel(string name)
    {
        string model = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        int code;
        try { code = await Program.Samples[name].Run(new SampleArgs(["--model", model, "--max-tokens", "8"])); }
        finally { Console.SetOut(old); }
        Assert.True(code == 0, $"{name} exited {code}:\n{output}");
        Assert.True(output.ToString().Trim().Length > 0, $"{name} printed nothing");
    }

    [Fact]
    public async Task SecuritySampleShowsRejectionsAndNoPromptTextInLogs()
    {
        string model = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try { Assert.Equal(0, await Program.Samples["security"].Run(new SampleArgs(["--model", model, "--max-tokens", "8"]))); }
        finally { Console.SetOut(old); }
        string text = output.ToString();
        Assert.Matches(@"no key:\s+401", text);
        Assert.Matches(@"wrong key:\s+401", text);
        Assert.Matches(@"alice request 1:\s+200", text);
        Assert.Matches(@"alice request 4:\s+429", text);
        Assert.Matches(@"bob \(own limit\):\s+200", text);
        Assert.Matches(@"too long a prompt:\s+400", text);
        Assert.Contains("prompt text in the log: False", text);
    }

    [Fact]
    public async Task FinetuneSampleLowersTheLossAndChatsWithTheAdapter()
    {
        string model = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try { Assert.Equal(0, await Program.Samples["finetune"].Run(new SampleArgs(["--model", model, "--max-tokens", "4"]))); }
        finally { Console.SetOut(old); }
        string text = output.ToString();
        var m = System.Text.RegularExpressions.Regex.Match(text, @"loss on the data: ([0-9.]+) before, ([0-9.]+) after");
        Assert.True(m.Success, text);
        double before = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        double after = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(after < before - 1.0, $"loss {before} -> {after}");
        Assert.Matches(@"(?m)^base ", text);
        Assert.Matches(@"(?m)^pirate ", text);
    }

    [Fact]
    public void EverySampleSaysWhatItShowsInItsFirstLine()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "samples", "QwenSharp.Samples");
        foreach (var file in Directory.GetFiles(dir, "*.cs").Where(f => Path.GetFileName(f) != "Program.cs"))
            Assert.StartsWith("// Shows:", File.ReadLines(file).First());
    }

    [Fact]
    public void MonitoringHealthCheckReportsDegraded()
    {
        Assert.Equal(Monitoring.Health.Healthy, Monitoring.Check(20, 0.5, 1L << 30).Status);
        var (status, reason) = Monitoring.Check(1, 7, 1L << 30);
        Assert.Equal(Monitoring.Health.Degraded, status);
        Assert.Contains("tokens/s", reason);
        Assert.Contains("time to first token", reason);
    }
}

/// <summary>Tests that redirect Console run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}

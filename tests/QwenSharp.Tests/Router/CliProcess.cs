using System.Diagnostics;
using System.Text.RegularExpressions;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>The tests that start real `qwensharp serve` processes run one class at a time (they are CPU-heavy).</summary>
[CollectionDefinition("RouterServe", DisableParallelization = true)]
public sealed class RouterServeCollection;

/// <summary>
/// A real `qwensharp` server process (the CLI built next to this test assembly) on 127.0.0.1 with a free port,
/// ready (its /ready answers 200) when started: `serve` of a fixture model with one kernel thread, or any
/// command line that prints "... on http://ADDRESS" (`router`).
/// </summary>
public sealed partial class CliProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly List<string> _log = [];
    readonly HttpClient _http;

    public string Url { get; }
    public bool Exited => _process.HasExited;
    public string Log { get { lock (_log) return string.Join("\n", _log); } }

    CliProcess(Process process, string url)
    {
        _process = process;
        Url = url;
        _http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>`qwensharp serve` of a fixture model.</summary>
    public static Task<CliProcess> StartServeAsync(string model = "qwen3-tiny", params string[] extra) =>
        StartAsync(["serve", "--model", Path.Combine(TestPaths.Fixtures, "models", model), "--host", "127.0.0.1", "--port", "0", "--threads", "1", .. extra]);

    /// <summary>Any `qwensharp` command line that listens and prints its address.</summary>
    public static async Task<CliProcess> StartAsync(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "QwenSharp.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var log = new List<string>();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (log) log.Add(line);
            var m = Serving().Match(line);
            if (m.Success) address.TrySetResult(m.Groups[1].Value);
        }
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _ = p.WaitForExitAsync().ContinueWith(_ => address.TrySetException(new InvalidOperationException("qwensharp exited: " + string.Join("\n", log))));
        string url;
        try { url = await address.Task.WaitAsync(TimeSpan.FromSeconds(90)); }
        catch
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            throw;
        }
        var s = new CliProcess(p, url);
        lock (log) s._log.AddRange(log);
        await s.WaitReadyAsync();
        return s;
    }

    static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
        : Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet" ? pp : "dotnet";

    [GeneratedRegex(@" on (http://[0-9.]+:\d+)")]
    private static partial Regex Serving();

    async Task WaitReadyAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (true)
        {
            try
            {
                using var r = await _http.GetAsync("/ready", cts.Token);
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(50, cts.Token);
        }
    }

    /// <summary>The replica's /metrics, each name summed over labels.</summary>
    public async Task<Dictionary<string, double>> MetricsAsync() => PrometheusText.SumByName(await _http.GetStringAsync("/metrics"));

    /// <summary>Kills the process (and its children), as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        _http.Dispose();
        _process.Dispose();
        await Task.CompletedTask;
    }
}

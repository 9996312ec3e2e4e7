using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using QwenSharp.Generation;

namespace QwenSharp.Server.Hosting;

/// <summary>
/// Readiness and in-flight tracking: /ready is 503 until the warm-up is done and again once shutdown
/// starts; generation requests are refused (503) while draining; those still running when the shutdown
/// timeout ends are cancelled through <see cref="Stopping"/>.
/// </summary>
public sealed class ServerLifecycle : IHostedService, IDisposable
{
    readonly Qwen _qwen;
    readonly QwenServerOptions _options;
    readonly ILogger _log;
    readonly CancellationTokenSource _hardStop = new();
    readonly object _lock = new();
    TaskCompletionSource _idle = NewIdle(true);
    int _inFlight;
    volatile bool _ready, _draining;

    public ServerLifecycle(Qwen qwen, IOptions<QwenServerOptions> options, ILogger<ServerLifecycle> log, IHostApplicationLifetime lifetime)
    {
        _qwen = qwen;
        _options = options.Value;
        _log = log;
        // Shutdown is announced before any hosted service stops (Kestrel stops before us, waiting for open
        // requests): refuse new work at once, and cut what is still running when the timeout ends.
        lifetime.ApplicationStopping.Register(BeginDrain);
    }

    void BeginDrain()
    {
        if (_draining) return;
        _draining = true;
        int inFlight = InFlight;
        if (inFlight > 0)
            _log.LogInformation("shutting down: {Count} request(s) in flight get {Seconds} s to finish", inFlight, _options.ShutdownTimeout.TotalSeconds);
        try { _hardStop.CancelAfter(_options.ShutdownTimeout); }
        catch (ObjectDisposedException) { }
    }

    static TaskCompletionSource NewIdle(bool done)
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (done) t.SetResult();
        return t;
    }

    public bool Ready => _ready && !_draining;
    public bool Draining => _draining;
    public int InFlight => Volatile.Read(ref _inFlight);
    /// <summary>Cancelled when the shutdown timeout has passed since shutdown began: in-flight generations stop.</summary>
    public CancellationToken Stopping => _hardStop.Token;
    /// <summary>Completes when warm-up has finished (successfully or not).</summary>
    public Task WarmedUp { get; private set; } = Task.CompletedTask;

    /// <summary>Counts a generation request as in flight until the returned handle is disposed.</summary>
    public IDisposable Enter()
    {
        lock (_lock)
        {
            if (_inFlight++ == 0) _idle = NewIdle(false);
        }
        return new Leave(this);
    }

    sealed class Leave(ServerLifecycle owner) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (owner._lock)
            {
                if (--owner._inFlight == 0) owner._idle.TrySetResult();
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.WarmUp) { _ready = true; return Task.CompletedTask; }
        WarmedUp = Task.Run(WarmUpAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>
    /// A few short generations, alone and two at a time, so the kernels are compiled and optimized (the
    /// runtime's first, unoptimized code for them is many times slower) before the first client arrives.
    /// </summary>
    async Task WarmUpAsync()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            int vocab = Math.Min(_qwen.Model.Config.VocabSize, _qwen.Tokenizer.VocabSize);
            int[] Prompt(int round) => Enumerable.Range(0, 32).Select(i => (i * 31 + round * 7 + 1) % Math.Max(1, vocab - 1)).ToArray();
            async Task Run(int round)
            {
                var options = new GenerationOptions { Sampling = new SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true } };
                var request = _qwen.BuildRequest(Prompt(round), options, false);
                await foreach (var _ in _qwen.Engine.GenerateAsync(request, _hardStop.Token).ConfigureAwait(false)) { }
            }
            for (int round = 0; round < 3; round++) await Run(round).ConfigureAwait(false);
            await Task.WhenAll(Run(3), Run(4)).ConfigureAwait(false);
            _log.LogInformation("warm-up done in {Milliseconds} ms", (int)sw.ElapsedMilliseconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogWarning("warm-up failed ({Error}); serving anyway", e.Message);
        }
        _ready = true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        Task idle;
        lock (_lock) idle = _idle.Task;
        if (idle.IsCompleted) return;
        // The hard stop fires at the timeout; give cancelled streams a moment to end.
        await Task.WhenAny(idle, Task.Delay(_options.ShutdownTimeout + TimeSpan.FromSeconds(5), cancellationToken)).ConfigureAwait(false);
        if (!idle.IsCompleted) _log.LogWarning("shutdown: {Count} request(s) still in flight", InFlight);
    }

    public void Dispose() => _hardStop.Dispose();
}

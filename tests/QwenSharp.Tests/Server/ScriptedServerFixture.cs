using QwenSharp.Generation;
using QwenSharp.Tests.Generation;

namespace QwenSharp.Tests.Server;

/// <summary>
/// One server (qwen3-tiny with Qwen3's chat template) shared by a test class. A test sets
/// <see cref="Script"/> to make the random-weight model write a chosen text (reasoning, tool calls...):
/// it maps the prompt's token ids to the tokens to produce.
/// </summary>
public sealed class ScriptedServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    /// <summary>Prompt ids → output ids; null: the model's own (random) output.</summary>
    public Func<IReadOnlyList<int>, int[]>? Script { get; set; }

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(o =>
        {
            o.ConfigureGeneration = g => Script is { } s
                ? g with { Sampling = g.Sampling with { LogitsProcessors = [new ScriptedOutput(s)] } }
                : g;
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

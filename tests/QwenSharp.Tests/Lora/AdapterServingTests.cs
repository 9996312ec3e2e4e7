using System.Text.Json.Nodes;
using QwenSharp.Generation;
using QwenSharp.Lora;
using QwenSharp.Models;
using static QwenSharp.Tests.Lora.LoraTestSupport;

namespace QwenSharp.Tests.Lora;

/// <summary>Adapters through the Qwen facade (named, per request, concurrent) and the CLI (generate --adapter, merge).</summary>
public class AdapterServingTests
{
    static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 12, IgnoreEos = true };

    static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = QwenSharp.Cli.Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static int[] Tokens(string json) => JsonNode.Parse(json)!["tokens"]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();

    [Fact]
    public async Task RequestsPickTheirAdapterAndRunTogether()
    {
        string dir = TestPaths.NewTempDir();
        using var q = Qwen.Load(ModelDir("qwen3-tiny"));
        var a = RandomAdapter(q.Model.Config, "a", seed: 7);
        var b = RandomAdapter(q.Model.Config, "b", seed: 8, targets: ["o_proj", "up_proj"]);
        a.Save(Path.Combine(dir, "a"));
        b.SaveGguf(Path.Combine(dir, "b.gguf"), q.Model.Config);
        q.LoadAdapter("a", Path.Combine(dir, "a"));
        q.LoadAdapter("b", Path.Combine(dir, "b.gguf"));
        Assert.Equal(["a", "b"], q.Adapters.Keys.Order());
        Assert.Throws<ArgumentException>(() => q.LoadAdapter("a", Path.Combine(dir, "a")));

        Task<ChatResult> Ask(string? adapter) => q.ChatAsync("Hello there", new GenerationOptions { Sampling = Greedy, Adapter = adapter });
        var alone = new[] { await Ask(null), await Ask("a"), await Ask("b") };
        Assert.NotEqual(alone[0].TokenIds, alone[1].TokenIds);
        Assert.NotEqual(alone[1].TokenIds, alone[2].TokenIds);
        var together = await Task.WhenAll(Ask("b"), Ask(null), Ask("a"), Ask("b"));
        Assert.Equal(alone[2].TokenIds, together[0].TokenIds);
        Assert.Equal(alone[0].TokenIds, together[1].TokenIds);
        Assert.Equal(alone[1].TokenIds, together[2].TokenIds);
        Assert.Equal(alone[2].TokenIds, together[3].TokenIds);

        var e = await Assert.ThrowsAsync<ArgumentException>(() => Ask("nope"));
        Assert.Contains("'nope'", e.Message);
        Assert.Contains("a, b", e.Message);

        q.DefaultAdapter = "a";
        Assert.Equal(alone[1].TokenIds, (await Ask(null)).TokenIds);
        Assert.Equal(alone[0].TokenIds, (await Ask("")).TokenIds);
        Assert.True(q.UnloadAdapter("a"));
        Assert.Null(q.DefaultAdapter);
        await Assert.ThrowsAsync<ArgumentException>(() => Ask("a"));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void GenerateWithAdapterEqualsTheMergedModel()
    {
        string dir = TestPaths.NewTempDir();
        var config = ModelConfig.FromConfigJson(Path.Combine(ModelDir("qwen2-tiny"), "config.json"));
        string adapter = Path.Combine(dir, "adapter");
        RandomAdapter(config, "adapter", seed: 9).Save(adapter);
        // Sampling given in full: a GGUF file carries no generation_config.json defaults (repetition_penalty 1.05 here).
        string[] gen = ["generate", "--prompt", "Tell me a story", "--temperature", "0", "--repetition-penalty", "1", "--max-tokens", "12", "--ignore-eos", "--json"];

        var withAdapter = Cli([.. gen, "--model", ModelDir("qwen2-tiny"), "--adapter", adapter]);
        Assert.True(withAdapter.Code == 0, withAdapter.Err);
        var plain = Cli([.. gen, "--model", ModelDir("qwen2-tiny")]);
        Assert.NotEqual(Tokens(plain.Out), Tokens(withAdapter.Out));

        var merge = Cli("merge", "--model", ModelDir("qwen2-tiny"), "--adapter", adapter, "--out", Path.Combine(dir, "merged"), "--type", "f32");
        Assert.True(merge.Code == 0, merge.Err);
        var merged = Cli([.. gen, "--model", Path.Combine(dir, "merged")]);
        Assert.True(merged.Code == 0, merged.Err);
        Assert.Equal(Tokens(withAdapter.Out), Tokens(merged.Out));

        // GGUF output from a Hugging Face base: weights and tokenizer metadata in one file that loads and runs.
        var ggufMerge = Cli("merge", "--model", ModelDir("qwen2-tiny"), "--adapter", adapter, "--out", Path.Combine(dir, "merged.gguf"), "--type", "f32");
        Assert.True(ggufMerge.Code == 0, ggufMerge.Err);
        var fromGguf = Cli([.. gen, "--model", Path.Combine(dir, "merged.gguf")]);
        Assert.True(fromGguf.Code == 0, fromGguf.Err);
        Assert.Equal(Tokens(withAdapter.Out), Tokens(fromGguf.Out));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CliErrorsAreOneLine()
    {
        string dir = TestPaths.NewTempDir();
        var missing = Cli("generate", "--model", ModelDir("qwen2-tiny"), "--prompt", "x", "--adapter", Path.Combine(dir, "none"));
        Assert.Equal(2, missing.Code);
        Assert.StartsWith("error: --adapter:", missing.Err);
        var type = Cli("merge", "--model", ModelDir("qwen2-tiny"), "--adapter", dir, "--out", Path.Combine(dir, "o"), "--type", "q4");
        Assert.Equal(2, type.Code);
        Assert.Contains("--type", type.Err);
        var notAdapter = Cli("merge", "--model", ModelDir("qwen2-tiny"), "--adapter", dir, "--out", Path.Combine(dir, "o"));
        Assert.Equal(1, notAdapter.Code);
        Assert.Contains("adapter_config.json", notAdapter.Err);
        Assert.Single(notAdapter.Err.Trim().Split('\n'));

        // Several adapters: generate takes one; serve needs distinct, usable names.
        var config = ModelConfig.FromConfigJson(Path.Combine(ModelDir("qwen2-tiny"), "config.json"));
        RandomAdapter(config, "x", seed: 1).Save(Path.Combine(dir, "x"));
        var two = Cli("generate", "--model", ModelDir("qwen2-tiny"), "--prompt", "x", "--adapter", Path.Combine(dir, "x"), "--adapter", "y=" + Path.Combine(dir, "x"));
        Assert.Equal(2, two.Code);
        Assert.StartsWith("error: --adapter: give one adapter", two.Err);
        var same = Cli("serve", "--model", ModelDir("qwen2-tiny"), "--adapter", Path.Combine(dir, "x"), "--adapter", "x=" + Path.Combine(dir, "x"));
        Assert.Equal(2, same.Code);
        Assert.Contains("two adapters are named 'x'", same.Err);
        var colon = Cli("serve", "--model", ModelDir("qwen2-tiny"), "--adapter", "a:b=" + Path.Combine(dir, "x"));
        Assert.Equal(2, colon.Code);
        Assert.Contains("'a:b' is not a usable adapter name", colon.Err);
        var empty = Cli("serve", "--model", ModelDir("qwen2-tiny"), "--adapter", "a=");
        Assert.Equal(2, empty.Code);
        Assert.Contains("no path after '='", empty.Err);
        Directory.Delete(dir, true);
    }
}

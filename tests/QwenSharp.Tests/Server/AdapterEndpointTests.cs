using System.Text.Json.Nodes;
using QwenSharp.Generation;
using static QwenSharp.Tests.Lora.LoraTestSupport;

namespace QwenSharp.Tests.Server;

/// <summary>LoRA adapters behind the OpenAI endpoints: a request picks one with "model": "BASE:ADAPTER".</summary>
[Collection("Server")]
public class AdapterEndpointTests
{
    const string Question = "Tell me a story";

    static string Body(string model, bool chat) => chat
        ? $$"""{"model": "{{model}}", "temperature": 0, "max_tokens": 10, "messages": [{"role": "user", "content": "{{Question}}"}]}"""
        : $$"""{"model": "{{model}}", "temperature": 0, "max_tokens": 10, "prompt": [12, 300, 45, 7, 99, 250]}""";

    static string Answer(JsonObject json, bool chat) => chat
        ? (string?)json["choices"]![0]!["message"]!["reasoning_content"] + "|" + (string?)json["choices"]![0]!["message"]!["content"]
        : (string)json["choices"]![0]!["text"]!;

    [Fact]
    public async Task RequestsSelectTheirAdapterByModelName()
    {
        await using var s = await TestServer.StartAsync(o => { o.Adapters.Add("a"); o.Adapters.Add("b"); });
        s.Qwen.AddAdapter(RandomAdapter(s.Qwen.Model.Config, "a", seed: 7));
        s.Qwen.AddAdapter(RandomAdapter(s.Qwen.Model.Config, "b", seed: 8, targets: ["o_proj", "up_proj"]));

        using (var res = await s.Http.GetAsync("/v1/models"))
        {
            var ids = JsonNode.Parse(await res.Content.ReadAsStringAsync())!["data"]!.AsArray().Select(m => (string)m!["id"]!).Order().ToArray();
            Assert.Equal(["qwen3-tiny", "qwen3-tiny:a", "qwen3-tiny:b"], ids);
        }

        foreach (bool chat in new[] { true, false })
        {
            string path = chat ? "/v1/chat/completions" : "/v1/completions";
            var answers = new Dictionary<string, string>();
            foreach (var model in new[] { "qwen3-tiny", "qwen3-tiny:a", "qwen3-tiny:b", "a" })
            {
                var (status, json) = await s.PostJsonAsync(path, Body(model, chat));
                Assert.True(status == 200, $"{path} {model}: {status} {json}");
                answers[model] = Answer(json, chat);
                Assert.Equal(model, (string)json["model"]!);
            }
            Assert.NotEqual(answers["qwen3-tiny"], answers["qwen3-tiny:a"]);
            Assert.NotEqual(answers["qwen3-tiny:a"], answers["qwen3-tiny:b"]);
            Assert.Equal(answers["qwen3-tiny:a"], answers["a"]);

            if (chat)
            {
                // The server's answer with adapter "a" is the library's answer with that adapter.
                var greedy = new SamplingParams { Temperature = 0, MaxTokens = 10 };
                var lib = await s.Qwen.ChatAsync(Question, new GenerationOptions { Sampling = greedy, Adapter = "a" });
                Assert.Equal(answers["qwen3-tiny:a"], lib.Reasoning + "|" + lib.Text);
                var libBase = await s.Qwen.ChatAsync(Question, new GenerationOptions { Sampling = greedy });
                Assert.Equal(answers["qwen3-tiny"], libBase.Reasoning + "|" + libBase.Text);
            }

            var (missing, err) = await s.PostJsonAsync(path, Body("qwen3-tiny:nope", chat));
            Assert.Equal(404, missing);
            Assert.Equal("model", (string?)err["error"]!["param"]);
        }
    }
}

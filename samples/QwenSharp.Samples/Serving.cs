// Shows: serving: the OpenAI-compatible server started in-process, called with the official OpenAI .NET client,
// one prompt and then a batch of prompts sent at once (the server batches them: continuous batching).
using System.ClientModel;
using OpenAI;
using OpenAI.Chat;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;

namespace QwenSharp.Samples;

public static class Serving
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        await using var app = QwenServer.Create(qwen, new QwenServerOptions(), "127.0.0.1", port: 0, logging: _ => { });
        await app.StartAsync();
        await QwenServer.WaitUntilReadyAsync(app); // requests before the warm-up ends get 503 + Retry-After
        string url = QwenServer.Addresses(app)[0];
        Console.WriteLine($"server listening on {url}");

        // The official OpenAI client, pointed at our server (no key needed on 127.0.0.1).
        var client = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(url + "/v1") });
        ChatClient chat = client.GetChatClient(qwen.Name);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = args.MaxTokens(64), Temperature = 0.7f };

        ChatCompletion one = await chat.CompleteChatAsync([new UserChatMessage("Say hello in French.")], options);
        Console.WriteLine($"one prompt: {one.Content[0].Text} [{one.Usage.OutputTokenCount} tokens]");

        string[] prompts = ["What is 2+2?", "Name a color.", "Name a fruit.", "Name an animal."];
        var answers = await Task.WhenAll(prompts.Select(p => chat.CompleteChatAsync([new UserChatMessage(p)], options)));
        for (int i = 0; i < prompts.Length; i++) Console.WriteLine($"batch {i + 1}: {prompts[i]} -> {answers[i].Value.Content[0].Text}");

        await app.StopAsync();
        return 0;
    }
}

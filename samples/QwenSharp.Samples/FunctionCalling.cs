// Shows: Qwen as a Microsoft.Extensions.AI IChatClient with function calling through UseFunctionInvocation():
// the model calls a real C# function, the result goes back, and the model answers with it.
using Microsoft.Extensions.AI;
using QwenSharp.AI;

namespace QwenSharp.Samples;

public static class FunctionCalling
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        IChatClient client = new ChatClientBuilder(new QwenChatClient(qwen))
            .UseFunctionInvocation()
            .Build();
        var getWeather = AIFunctionFactory.Create(
            (string city) => city.Equals("Paris", StringComparison.OrdinalIgnoreCase) ? "Sunny, 24 °C" : "Cloudy, 15 °C",
            "get_weather", "Gets the current weather for a city");
        var options = new ChatOptions
        {
            Tools = [getWeather],
            MaxOutputTokens = args.MaxTokens(512),
            AdditionalProperties = new() { ["enable_thinking"] = false },
        };
        var response = await client.GetResponseAsync("What's the weather like in Paris today?", options);
        foreach (var message in response.Messages)
            foreach (var content in message.Contents)
                Console.WriteLine(content switch
                {
                    FunctionCallContent call => $"[model calls {call.Name}({string.Join(", ", call.Arguments?.Select(a => $"{a.Key}: {a.Value}") ?? [])})]",
                    FunctionResultContent result => $"[function returns {result.Result}]",
                    TextContent text => text.Text,
                    _ => "",
                });
        Console.WriteLine($"[{response.Usage?.TotalTokenCount} tokens]");
        return 0;
    }
}

using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

public class PromptBuilderTests
{
    [Fact]
    public void StepByStepUsesQwenMathInstruction()
    {
        var m = PromptBuilders.StepByStep("What is 12*13?");
        Assert.Single(m);
        Assert.Equal("user", (string)m[0]!["role"]!);
        Assert.EndsWith("put your final answer within \\boxed{}.", (string)m[0]!["content"]!);
    }

    [Fact]
    public void CodingListsConstraintsInOrder()
    {
        var m = PromptBuilders.Coding("reverse a string", "C#", ["no LINQ", "", "handle null"]);
        string user = (string)m[1]!["content"]!;
        Assert.Contains("1. no LINQ\n2. handle null", user);
        Assert.Contains("```c#", user);
        Assert.Equal("system", (string)m[0]!["role"]!);
    }

    [Fact]
    public void MultilingualNamesEveryLanguage()
    {
        string user = (string)PromptBuilders.Multilingual("Hi?", ["English", "中文", "Français"])[0]!["content"]!;
        Assert.Contains("English, 中文, Français", user);
        Assert.Throws<ArgumentException>(() => PromptBuilders.Multilingual("x", []));
    }
}

using QwenSharp.Cli.Commands;

namespace QwenSharp.Tests.Cli;

/// <summary>Reading resident memory from /proc/self/status lines for `qwensharp bench`.</summary>
public class BenchMemoryTests
{
    [Theory]
    [InlineData("VmHWM:\t  830124 kB", 830124)]
    [InlineData("RssAnon:\t   38912 kB", 38912)]
    [InlineData("RssFile:\t15829000 kB", 15829000)]   // 8 digits and more: no space after the tab
    [InlineData("VmHWM:\t123456789 kB", 123456789)]
    public void StatusLineNumberIsReadWithOrWithoutPadding(string line, long kb) =>
        Assert.Equal(kb, QwenSharp.Engine.ModelBenchmark.StatusKilobytes(line));
}

using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>The loader's own hash tables against a Dictionary.</summary>
public class HashTableTests
{
    [Fact]
    public void Utf8TokenTableFindsWhatWasAddedAndNothingElse()
    {
        var rng = new Random(2);
        var table = new Utf8TokenTable(16); // small on purpose: it must grow
        var reference = new Dictionary<string, int>();
        for (int i = 0; i < 20000; i++)
        {
            int len = rng.Next(1, 24); // both sides of the 8-byte inline limit
            var s = new string(Enumerable.Range(0, len).Select(_ => (char)rng.Next(0x20, 0x250)).ToArray());
            bool added = table.Add(Encoding.UTF8.GetBytes(s), i);
            Assert.Equal(reference.TryAdd(s, i), added);
        }
        foreach (var (s, id) in reference) Assert.Equal(id, table.Find(Encoding.UTF8.GetBytes(s)));
        Assert.Equal(-1, table.Find("not there at all, long enough"u8));
        Assert.Equal(-1, table.Find("zz\0"u8));
        Assert.Equal(reference.Count, table.Count);
    }

    [Fact]
    public void MergeTableKeepsTheLastRankOfAPairAndCoversLargeIds()
    {
        var m = new MergeTable(100);
        m.Add(1, 2, 5, 300);
        m.Add(1, 2, 7, 301);          // listed twice: the last wins, as in Hugging Face's map
        m.Add(300, 70000, 8, 70001);  // ids above the 256x256 direct table
        Assert.Equal(7, m.TryGet(1, 2, out int merged));
        Assert.Equal(301, merged);
        Assert.Equal(8, m.TryGet(300, 70000, out merged));
        Assert.Equal(70001, merged);
        Assert.Equal(-1, m.TryGet(2, 1, out _));
        Assert.Equal(-1, m.TryGet(70000, 300, out _));
        Assert.Equal(2, m.Count);
    }
}

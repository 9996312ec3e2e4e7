using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>Small weight blocks share huge-page chunks: they never overlap, are counted, and a chunk goes with its last block.
/// Runs alone (other tests load models, which allocate weights too).</summary>
[Collection(QwenSharp.Tests.Samples.ConsoleCollection.Name)]
public unsafe class WeightMemoryTests
{
    [Fact]
    public void SmallBlocksShareChunksWithoutOverlapAndChunksAreFreedWithTheirLastBlock()
    {
        int chunksBefore = NativeMemoryHelper.LiveWeightChunks;
        long countedBefore = MemoryUse.WeightBytes;
        var r = new Random(5);
        // 1.9 MB blocks and small ones, about 80 MB in all: several 32 MiB chunks, and blocks that do not fit the rest of one.
        var sizes = Enumerable.Range(0, 120).Select(i => i % 3 == 0 ? 1_900_000L : r.Next(1, 600_000)).ToArray();
        var blocks = new List<(nint P, long Bytes, byte Fill)>();
        for (int i = 0; i < sizes.Length; i++)
        {
            byte* p = (byte*)NativeMemoryHelper.AllocWeights(sizes[i]);
            Assert.Equal(0, (long)p % 64);
            byte fill = (byte)(i * 7 + 1);
            new Span<byte>(p, (int)sizes[i]).Fill(fill);
            blocks.Add(((nint)p, sizes[i], fill));
        }
        Assert.Equal(countedBefore + sizes.Sum(s => Math.Max(s, 64)), MemoryUse.WeightBytes);
        if (OperatingSystem.IsLinux()) Assert.True(NativeMemoryHelper.LiveWeightChunks - chunksBefore >= 2, "small blocks come from shared chunks");
        // Every block still holds its own bytes: none was handed out twice.
        foreach (var (p, bytes, fill) in blocks)
            Assert.True(new ReadOnlySpan<byte>((void*)p, (int)bytes).IndexOfAnyExcept(fill) < 0, "a block was overwritten by another");

        foreach (var (p, _, _) in blocks.OrderBy(_ => r.Next())) NativeMemoryHelper.FreeWeights((void*)p);
        Assert.Equal(countedBefore, MemoryUse.WeightBytes);
        Assert.True(NativeMemoryHelper.LiveWeightChunks <= chunksBefore, "every chunk is freed with its last block");

        // Large blocks are allocations of their own.
        byte* big = (byte*)NativeMemoryHelper.AllocWeights(5 << 20);
        Assert.Equal(0, (long)big % (1 << 21));
        NativeMemoryHelper.FreeWeights(big);
    }
}

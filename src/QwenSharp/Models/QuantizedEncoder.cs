using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Models;

/// <summary>
/// GGUF export to a quantized file type with llama.cpp's per-tensor mixture rules (llama_tensor_get_type,
/// without an importance matrix): the output tensor (or the tied token embedding) goes to Q6_K (Q8_0 when
/// its rows are not a multiple of 256 or the file is Q8_0); for Q4_K_M / Q5_K_M, attn_v and ffn_down of
/// the layers use_more_bits picks go to Q6_K; rows that do not fit a 256-block type fall back
/// (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0). Blocks are written by <see cref="BlockQuantizer"/>.
/// </summary>
public sealed unsafe class QuantizedEncoder : GgufExport.TensorEncoder
{
    readonly string _scheme;
    readonly GgmlType _default;
    readonly int _layers;
    readonly bool _hasOutput;

    /// <summary>File types `qwensharp quantize --type` accepts.</summary>
    public static IReadOnlyList<string> Schemes { get; } = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K"];

    /// <param name="scheme">One of <see cref="Schemes"/> (case-insensitive).</param>
    /// <param name="layers">Decoder layers (for use_more_bits).</param>
    /// <param name="hasOutputTensor">False when the LM head is tied to the token embedding.</param>
    public QuantizedEncoder(string scheme, int layers, bool hasOutputTensor)
    {
        _scheme = Schemes.FirstOrDefault(s => s.Equals(scheme, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown quantization type '{scheme}' (supported: {string.Join(", ", Schemes)})", nameof(scheme));
        _default = _scheme switch
        {
            "Q8_0" => GgmlType.Q8_0, "Q4_0" => GgmlType.Q4_0, "Q4_1" => GgmlType.Q4_1, "Q5_0" => GgmlType.Q5_0, "Q5_1" => GgmlType.Q5_1,
            "Q4_K_M" or "Q4_K_S" => GgmlType.Q4_K, "Q5_K_M" or "Q5_K_S" => GgmlType.Q5_K, _ => GgmlType.Q6_K,
        };
        _layers = layers;
        _hasOutput = hasOutputTensor;
    }

    /// <summary>llama_ftype numbers.</summary>
    public override uint FileType => _scheme switch
    {
        "Q4_0" => 2u, "Q4_1" => 3u, "Q8_0" => 7u, "Q5_0" => 8u, "Q5_1" => 9u,
        "Q4_K_S" => 14u, "Q4_K_M" => 15u, "Q5_K_S" => 16u, "Q5_K_M" => 17u, _ => 18u,
    };

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers and every third in between.</summary>
    static bool UseMoreBits(int i, int n) => i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;

    static int LayerOf(string name) =>
        name.StartsWith("blk.", StringComparison.Ordinal) && int.TryParse(name.AsSpan(4, name.IndexOf('.', 4) - 4), out int l) ? l : 0;

    public override GgmlType TypeFor(string ggufName, long rows, long cols)
    {
        var t = _default;
        bool isOutput = ggufName == "output.weight" || (!_hasOutput && ggufName == "token_embd.weight");
        if (isOutput)
        {
            t = cols % 256 != 0 ? GgmlType.Q8_0 : t != GgmlType.Q8_0 ? GgmlType.Q6_K : t;
        }
        else if (ggufName.Contains("attn_v.weight", StringComparison.Ordinal))
        {
            int i = LayerOf(ggufName);
            if (_scheme is "Q4_K_M" or "Q5_K_M" && UseMoreBits(i, _layers)) t = GgmlType.Q6_K;
            else if (_scheme == "Q4_K_S" && i < 4) t = GgmlType.Q5_K;
        }
        else if (ggufName.Contains("ffn_down", StringComparison.Ordinal))
        {
            int i = LayerOf(ggufName);
            if (_scheme is "Q4_K_M" or "Q5_K_M" && UseMoreBits(i, _layers)) t = GgmlType.Q6_K;
            else if (_scheme == "Q4_K_S" && i < _layers / 8) t = GgmlType.Q5_K;
        }
        return OnTheFlyQuantizer.Fallback(t, checked((int)cols));
    }

    public override void Encode(GgmlType type, ReadOnlySpan<float> rowMajor, long rows, long cols, Stream output)
    {
        if (type is GgmlType.F16 or GgmlType.F32 or GgmlType.BF16)
        {
            new GgufExport.FloatEncoder(type).Encode(type, rowMajor, rows, cols, output);
            return;
        }
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var buf = new byte[rowBytes * rows];
        var src = rowMajor.ToArray();
        Parallel.For(0, rows, r =>
        {
            fixed (float* x = src) fixed (byte* d = buf)
                BlockQuantizer.Row(type, x + r * cols, d + r * rowBytes, (int)cols);
        });
        output.Write(buf);
    }
}

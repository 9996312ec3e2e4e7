using System.Text.Json;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>One tensor of a safetensors file. Shape is row-major, as written in the header.</summary>
public sealed record SafetensorsTensorInfo(string Name, string DType, long[] Shape, long Offset, long ByteSize)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The element type, for the dtypes weights can have (BF16, F16, F32); null for others.</summary>
    public GgmlType? Type => DType switch { "F32" => GgmlType.F32, "F16" => GgmlType.F16, "BF16" => GgmlType.BF16, _ => null };
}

/// <summary>
/// A safetensors file: an 8-byte little-endian header length, a JSON header, then raw little-endian
/// tensor data. Memory-mapped; the header is validated completely (dtypes, shapes against byte
/// ranges, ranges inside the file, no overlaps) before any tensor is handed out.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100_000_000; // the limit Hugging Face's safetensors applies

    readonly MappedFile _file;
    readonly Dictionary<string, SafetensorsTensorInfo> _byName = new(StringComparer.Ordinal);

    public string Path => _file.Path;
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyCollection<SafetensorsTensorInfo> Tensors => _byName.Values;
    public MappedFile File => _file;

    static int DTypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    public SafetensorsFile(string path)
    {
        _file = new MappedFile(path);
        try
        {
            long len = _file.Length;
            if (len < 8) throw Fail($"too short for a safetensors file ({len} bytes)");
            ulong headerLen = *(ulong*)_file.Pointer;
            if (headerLen > MaxHeaderBytes) throw Fail($"header length {headerLen} is larger than the {MaxHeaderBytes}-byte limit");
            if ((long)headerLen > len - 8) throw Fail($"header length {headerLen} runs past the end of the file ({len} bytes); the file may be truncated");
            long dataStart = 8 + (long)headerLen;
            long dataLen = len - dataStart;
            var meta = new Dictionary<string, string>();
            JsonDocument doc;
            try { doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(_file.Span(8, (int)headerLen).ToArray()), new JsonDocumentOptions { MaxDepth = 8 }); }
            catch (JsonException e) { throw Fail($"header is not valid JSON: {e.Message}"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Fail("header is not a JSON object");
                foreach (var prop in doc.RootElement.EnumerateObject())
                {
                    if (prop.Name == "__metadata__")
                    {
                        if (prop.Value.ValueKind != JsonValueKind.Object) throw Fail("__metadata__ is not an object");
                        foreach (var m in prop.Value.EnumerateObject())
                            meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw Fail($"__metadata__ value '{m.Name}' is not a string");
                        continue;
                    }
                    _byName.Add(prop.Name, ParseTensor(prop.Name, prop.Value, dataStart, dataLen));
                }
            }
            Metadata = meta;
            var sorted = _byName.Values.OrderBy(t => t.Offset).ToArray();
            for (int i = 1; i < sorted.Length; i++)
                if (sorted[i - 1].Offset + sorted[i - 1].ByteSize > sorted[i].Offset)
                    throw Fail($"tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap");
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    SafetensorsTensorInfo ParseTensor(string name, JsonElement e, long dataStart, long dataLen)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Fail($"tensor '{name}': entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Fail($"tensor '{name}': missing dtype");
        string dtype = dt.GetString()!;
        int size = DTypeSize(dtype);
        if (size == 0) throw Fail($"tensor '{name}': unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Fail($"tensor '{name}': missing shape");
        if (sh.GetArrayLength() > 8) throw Fail($"tensor '{name}': {sh.GetArrayLength()} dimensions is too many");
        var shape = new long[sh.GetArrayLength()];
        long elements = 1;
        int d = 0;
        foreach (var x in sh.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out long n) || n < 0) throw Fail($"tensor '{name}': shape entry {x} is not a non-negative integer");
            if (n != 0 && elements > long.MaxValue / 8 / n) throw Fail($"tensor '{name}': shape overflows");
            shape[d++] = n;
            elements *= n;
        }
        if (!e.TryGetProperty("data_offsets", out var offs) || offs.ValueKind != JsonValueKind.Array || offs.GetArrayLength() != 2)
            throw Fail($"tensor '{name}': data_offsets must be [begin, end]");
        if (!offs[0].TryGetInt64(out long begin) || !offs[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Fail($"tensor '{name}': invalid data_offsets [{offs[0]}, {offs[1]}]");
        if (end > dataLen) throw Fail($"tensor '{name}': data [{begin}, {end}) runs past the end of the data ({dataLen} bytes); the file may be truncated");
        if (end - begin != elements * size)
            throw Fail($"tensor '{name}': {dtype} shape [{string.Join(", ", shape)}] needs {elements * size} bytes but data_offsets span {end - begin}");
        return new SafetensorsTensorInfo(name, dtype, shape, dataStart + begin, end - begin);
    }

    ModelFormatException Fail(string problem) => new(_file.Path, problem);

    public bool TryGetTensor(string name, out SafetensorsTensorInfo info) => _byName.TryGetValue(name, out info!);

    public byte* DataPointer(SafetensorsTensorInfo t) => _file.Pointer + t.Offset;

    public void Dispose() => _file.Dispose();
}

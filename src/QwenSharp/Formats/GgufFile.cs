using System.Text;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>GGUF metadata value types, as numbered in the file.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>One tensor of a GGUF file. <see cref="Shape"/> is in row-major order (outermost first,
/// i.e. GGUF's ne[] reversed), so a weight matrix is [out_features, in_features] as in PyTorch.</summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, long Offset, long ByteSize)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped. Metadata values become plain .NET values:
/// byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double, or a typed array of
/// those (string[], int[], float[], ...; an array of arrays is object[]). Large arrays (the vocabulary and
/// merges: hundreds of thousands of strings) are checked at open but built only when first read, and the
/// header's pages are then dropped from the process, so loading only the weights keeps neither resident.
/// Every count, length and offset is checked against the file before it is used: a corrupt or hostile
/// file gives a <see cref="ModelFormatException"/> that names the file and the problem.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF"
    const int MaxDims = 4;
    const long MaxStringBytes = 1L << 30;

    readonly MappedFile _file;
    public string Path => _file.Path;
    public uint Version { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public long DataOffset { get; }
    public int Alignment { get; }
    readonly Dictionary<string, GgufTensorInfo> _byName;

    public GgufFile(string path)
    {
        _file = new MappedFile(path);
        try
        {
            var r = new Cursor(_file.Pointer, _file.Length, path);
            if (_file.Length < 24) throw r.Fail($"too short for a GGUF header ({_file.Length} bytes)");
            uint magic = r.U32();
            if (magic != Magic) throw r.Fail($"not a GGUF file (magic 0x{magic:x8}, expected 'GGUF')");
            Version = r.U32();
            if (Version == 1) throw r.Fail("GGUF version 1 is not supported (versions 2 and 3 are)");
            if (Version is < 2 or > 3) throw r.Fail($"unsupported GGUF version {Version} (versions 2 and 3 are supported)");
            ulong tensorCount = r.U64();
            ulong kvCount = r.U64();
            // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8+4+8+4+8.
            if (kvCount > (ulong)(_file.Length / 13)) throw r.Fail($"metadata count {kvCount} is larger than the file could hold");
            if (tensorCount > (ulong)(_file.Length / 32)) throw r.Fail($"tensor count {tensorCount} is larger than the file could hold");

            var meta = new Dictionary<string, object>((int)kvCount, StringComparer.Ordinal);
            for (ulong i = 0; i < kvCount; i++)
            {
                string key = r.String("metadata key");
                var type = (GgufValueType)r.U32();
                object value = r.Value(type, key, depth: 0, lazyLargeArrays: true);
                if (!meta.TryAdd(key, value)) throw r.Fail($"duplicate metadata key '{key}'");
            }
            Metadata = new GgufMetadata(meta, ReadDeferred);

            Alignment = 32;
            if (meta.TryGetValue("general.alignment", out var al))
            {
                long a = al switch { uint u => u, int s => s, ulong ul => (long)Math.Min(ul, int.MaxValue), _ => -1 };
                if (a <= 0 || a > 1 << 20 || (a & (a - 1)) != 0) throw r.Fail($"general.alignment {al} is not a power of two");
                Alignment = (int)a;
            }

            var infos = new List<GgufTensorInfo>((int)tensorCount);
            var rawOffsets = new List<ulong>((int)tensorCount);
            _byName = new Dictionary<string, GgufTensorInfo>((int)tensorCount, StringComparer.Ordinal);
            for (ulong i = 0; i < tensorCount; i++)
            {
                string name = r.String("tensor name");
                uint nDims = r.U32();
                if (nDims == 0 || nDims > MaxDims) throw r.Fail($"tensor '{name}' has {nDims} dimensions (1 to {MaxDims} allowed)");
                var ne = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++)
                {
                    ulong n = r.U64();
                    if (n == 0 || n > (ulong)_file.Length * 8) throw r.Fail($"tensor '{name}' has an impossible dimension {n}");
                    ne[d] = (long)n;
                    if (elements > long.MaxValue / (long)n) throw r.Fail($"tensor '{name}' element count overflows");
                    elements *= (long)n;
                }
                var type = (GgmlType)r.U32();
                var (bs, _) = GgmlTypeInfo.Layout(type);
                if (bs == 0) throw r.Fail($"tensor '{name}' has unknown type {(uint)type}");
                long rowBytes = GgmlTypeInfo.RowBytes(type, ne[0]);
                if (rowBytes < 0) throw r.Fail($"tensor '{name}': row length {ne[0]} is not a multiple of the {GgmlTypeInfo.Name(type)} block size {bs}");
                long bytes = rowBytes;
                for (int d = 1; d < nDims; d++)
                {
                    if (bytes > long.MaxValue / ne[d]) throw r.Fail($"tensor '{name}' byte size overflows");
                    bytes *= ne[d];
                }
                ulong off = r.U64();
                if (off % (ulong)Alignment != 0) throw r.Fail($"tensor '{name}' offset {off} is not aligned to {Alignment}");
                var shape = new long[nDims];
                for (int d = 0; d < nDims; d++) shape[d] = ne[nDims - 1 - d];
                var info = new GgufTensorInfo(name, type, shape, (long)Math.Min(off, (ulong)long.MaxValue / 2), bytes);
                if (!_byName.TryAdd(name, info)) throw r.Fail($"duplicate tensor name '{name}'");
                infos.Add(info);
                rawOffsets.Add(off);
            }
            long dataStart = (r.Position + Alignment - 1) / Alignment * Alignment;
            DataOffset = dataStart;
            // Make offsets absolute, check bounds and overlaps.
            for (int i = 0; i < infos.Count; i++)
            {
                var t = infos[i];
                ulong abs = (ulong)dataStart + rawOffsets[i];
                if (rawOffsets[i] > (ulong)_file.Length || abs + (ulong)t.ByteSize > (ulong)_file.Length)
                    throw r.Fail($"tensor '{t.Name}' data [{abs}, {abs + (ulong)t.ByteSize}) runs past the end of the file ({_file.Length} bytes); the file may be truncated");
                infos[i] = t with { Offset = (long)abs };
                _byName[t.Name] = infos[i];
            }
            var sorted = infos.OrderBy(t => t.Offset).ToArray();
            for (int i = 1; i < sorted.Length; i++)
                if (sorted[i - 1].Offset + sorted[i - 1].ByteSize > sorted[i].Offset)
                    throw r.Fail($"tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap");
            Tensors = infos;
            // Everything needed later is in managed objects or deferred arrays (read again on demand).
            NativeMemoryHelper.ReleaseMapped(_file.Pointer, Math.Min(DataOffset, _file.Length));
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>Builds a deferred array from the mapping (its counts and strings were checked at open).</summary>
    object ReadDeferred(DeferredArray d)
    {
        var r = new Cursor(_file.Pointer, _file.Length, Path, d.Position);
        return r.Value(GgufValueType.Array, d.Key, depth: 0, lazyLargeArrays: false);
    }

    public bool TryGetTensor(string name, out GgufTensorInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Pointer to a tensor's bytes in the mapping (valid while this file is open).</summary>
    public byte* DataPointer(GgufTensorInfo t) => _file.Pointer + t.Offset;

    public MappedFile File => _file;

    // --- typed metadata access -------------------------------------------------------------------

    public bool Has(string key) => Metadata.ContainsKey(key);

    public string? GetString(string key) => Metadata.TryGetValue(key, out var v) ? v as string ?? throw Bad(key, v, "a string") : null;

    public long? GetInteger(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v switch
        {
            byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint u => u, int i => i,
            ulong ul when ul <= long.MaxValue => (long)ul, long l => l,
            _ => throw Bad(key, v, "an integer"),
        };
    }

    public double? GetFloat(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v switch
        {
            float f => f, double d => d, byte or sbyte or ushort or short or uint or int or ulong or long => Convert.ToDouble(v),
            _ => throw Bad(key, v, "a number"),
        };
    }

    public bool? GetBool(string key) => Metadata.TryGetValue(key, out var v) ? v as bool? ?? throw Bad(key, v, "a bool") : null;

    public T[]? GetArray<T>(string key) => Metadata.TryGetValue(key, out var v) ? v as T[] ?? throw Bad(key, v, $"an array of {typeof(T).Name}") : null;

    ModelFormatException Bad(string key, object v, string expected) =>
        new(Path, $"metadata '{key}' is {DescribeValue(v)}, expected {expected}");

    internal static string DescribeValue(object v) => v is Array a ? $"an array of {a.GetType().GetElementType()!.Name} ({a.Length})" : $"{v.GetType().Name} {v}";

    public void Dispose() => _file.Dispose();

    /// <summary>Bounds-checked little-endian reader over the mapping.</summary>
    ref struct Cursor(byte* p, long length, string path, long start = 0)
    {
        long _pos = start;
        public readonly long Position => _pos;

        public readonly ModelFormatException Fail(string problem) => new(path, problem);

        void Need(long n, string what = "data")
        {
            if (n < 0 || _pos + n > length) throw Fail($"unexpected end of file reading {what} at offset {_pos} (the file may be truncated)");
        }

        public uint U32() { Need(4); uint v = *(uint*)(p + _pos); _pos += 4; return v; }
        public ulong U64() { Need(8); ulong v = *(ulong*)(p + _pos); _pos += 8; return v; }

        public string String(string what) => Encoding.UTF8.GetString(StringBytes(what));

        /// <summary>Element <paramref name="index"/> of a string array (the description is built only for an error).</summary>
        public string String(string key, int index) => Encoding.UTF8.GetString(StringBytes(key, index));

        /// <summary>The bytes of a string, checked (length within the file, valid UTF-8), without building it.</summary>
        public ReadOnlySpan<byte> StringBytes(string what) => StringBytes(what, -1);

        /// <summary>As <see cref="StringBytes(string)"/>; with an <paramref name="index"/> ≥ 0, <paramref name="what"/> is
        /// an array's key and the error names the element.</summary>
        public ReadOnlySpan<byte> StringBytes(string what, int index)
        {
            ulong len = U64();
            if (len > MaxStringBytes || (long)len > length - _pos)
                throw Fail($"{Describe(what, index)} length {len} at offset {_pos - 8} runs past the end of the file");
            var span = new ReadOnlySpan<byte>(p + _pos, (int)len);
            if (!System.Text.Unicode.Utf8.IsValid(span)) throw Fail($"{Describe(what, index)} at offset {_pos} is not valid UTF-8");
            _pos += (long)len;
            return span;
        }

        static string Describe(string what, int index) => index < 0 ? what : $"metadata '{what}' element {index}";

        /// <summary>Reads a value; with <paramref name="lazyLargeArrays"/>, a large top-level array is checked and skipped,
        /// and a <see cref="DeferredArray"/> stands for it.</summary>
        public object Value(GgufValueType type, string key, int depth, bool lazyLargeArrays = false)
        {
            long start = _pos;
            switch (type)
            {
                case GgufValueType.UInt8: Need(1); return p[_pos++];
                case GgufValueType.Int8: Need(1); return (sbyte)p[_pos++];
                case GgufValueType.UInt16: { Need(2); var v = *(ushort*)(p + _pos); _pos += 2; return v; }
                case GgufValueType.Int16: { Need(2); var v = *(short*)(p + _pos); _pos += 2; return v; }
                case GgufValueType.UInt32: return U32();
                case GgufValueType.Int32: return (int)U32();
                case GgufValueType.Float32: { var v = BitConverter.UInt32BitsToSingle(U32()); return v; }
                case GgufValueType.Bool:
                    {
                        Need(1); byte b = p[_pos++];
                        if (b > 1) throw Fail($"metadata '{key}': bool value {b} is neither 0 nor 1");
                        return b == 1;
                    }
                case GgufValueType.String: return String($"metadata '{key}' string");
                case GgufValueType.UInt64: return U64();
                case GgufValueType.Int64: return (long)U64();
                case GgufValueType.Float64: return BitConverter.UInt64BitsToDouble(U64());
                case GgufValueType.Array:
                    {
                        if (depth > 2) throw Fail($"metadata '{key}': arrays nested too deeply");
                        var et = (GgufValueType)U32();
                        ulong n = U64();
                        long min = et switch
                        {
                            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                            GgufValueType.Array => 12,
                            _ => throw Fail($"metadata '{key}': unknown array element type {(uint)et}"),
                        };
                        if (n > (ulong)((length - _pos) / min)) throw Fail($"metadata '{key}': array count {n} runs past the end of the file");
                        int count = (int)n;
                        if (lazyLargeArrays && depth == 0 && et != GgufValueType.Array && (long)count * min >= DeferredArray.MinBytes)
                        {
                            if (et == GgufValueType.String)
                                for (int i = 0; i < count; i++) StringBytes(key, i);
                            else if (et == GgufValueType.Bool) Bools(count, key);
                            else { Need((long)count * min); _pos += (long)count * min; }
                            return new DeferredArray(key, start);
                        }
                        return et switch
                        {
                            GgufValueType.UInt8 => Blit<byte>(count),
                            GgufValueType.Int8 => Blit<sbyte>(count),
                            GgufValueType.UInt16 => Blit<ushort>(count),
                            GgufValueType.Int16 => Blit<short>(count),
                            GgufValueType.UInt32 => Blit<uint>(count),
                            GgufValueType.Int32 => Blit<int>(count),
                            GgufValueType.Float32 => Blit<float>(count),
                            GgufValueType.UInt64 => Blit<ulong>(count),
                            GgufValueType.Int64 => Blit<long>(count),
                            GgufValueType.Float64 => Blit<double>(count),
                            GgufValueType.Bool => Bools(count, key),
                            GgufValueType.String => Strings(count, key),
                            _ => Arrays(count, key, depth),
                        };
                    }
                default: throw Fail($"metadata '{key}' has unknown value type {(uint)type}");
            }
        }

        T[] Blit<T>(int count) where T : unmanaged
        {
            Need((long)count * sizeof(T));
            var a = new T[count];
            new ReadOnlySpan<T>(p + _pos, count).CopyTo(a);
            _pos += (long)count * sizeof(T);
            return a;
        }

        bool[] Bools(int count, string key)
        {
            Need(count);
            var a = new bool[count];
            for (int i = 0; i < count; i++)
            {
                byte b = p[_pos + i];
                if (b > 1) throw Fail($"metadata '{key}': bool value {b} is neither 0 nor 1");
                a[i] = b == 1;
            }
            _pos += count;
            return a;
        }

        string[] Strings(int count, string key)
        {
            var a = new string[count];
            for (int i = 0; i < count; i++) a[i] = String(key, i);
            return a;
        }

        object[] Arrays(int count, string key, int depth)
        {
            var a = new object[count];
            for (int i = 0; i < count; i++) a[i] = Value(GgufValueType.Array, key, depth + 1);
            return a;
        }
    }

}

/// <summary>A large metadata array, built on first access: its key, where its value starts (the element type), and once built, the array.</summary>
sealed class DeferredArray(string key, long position)
{
    /// <summary>Arrays of at least this many bytes in the file are deferred.</summary>
    public const long MinBytes = 64 * 1024;
    public string Key => key;
    public long Position => position;
    public object? Built;
}

/// <summary>GGUF metadata: plain values, with large arrays built on first access (then kept).</summary>
sealed class GgufMetadata(Dictionary<string, object> values, Func<DeferredArray, object> read) : IReadOnlyDictionary<string, object>
{
    readonly object _lock = new();

    object Resolve(object v)
    {
        if (v is not DeferredArray d) return v;
        if (Volatile.Read(ref d.Built) is { } built) return built;
        lock (_lock) return d.Built ??= read(d);
    }

    public object this[string key] => Resolve(values[key]);
    public IEnumerable<string> Keys => values.Keys;
    public IEnumerable<object> Values => values.Values.Select(Resolve);
    public int Count => values.Count;
    public bool ContainsKey(string key) => values.ContainsKey(key);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out object value)
    {
        if (!values.TryGetValue(key, out var v)) { value = null; return false; }
        value = Resolve(v);
        return true;
    }

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
    {
        foreach (var (k, v) in values) yield return new(k, Resolve(v));
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

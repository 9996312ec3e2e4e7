using System.Text;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>
/// Writes GGUF v3 files: metadata in the order added, tensor data aligned to 32 bytes (or general.alignment).
/// Tensor data is streamed by a callback, so a file larger than memory can be written.
/// The file appears atomically: it is written to a temporary name and renamed when complete.
/// </summary>
public sealed class GgufWriter
{
    readonly List<(string Key, object Value)> _meta = [];
    readonly List<(string Name, GgmlType Type, long[] Shape, long Bytes, Action<Stream> Write)> _tensors = [];
    int _alignment = 32;

    public GgufWriter Add(string key, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        TypeOf(value, key); // validates
        int i = _meta.FindIndex(m => m.Key == key);
        if (i >= 0) _meta[i] = (key, value); else _meta.Add((key, value));
        if (key == "general.alignment") _alignment = Convert.ToInt32(value);
        return this;
    }

    /// <summary>Adds a tensor; <paramref name="shape"/> is row-major (outermost first), as in PyTorch.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, Action<Stream> writeData)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, shape[^1]);
        if (rowBytes < 0) throw new ArgumentException($"tensor '{name}': row length {shape[^1]} is not a multiple of the {type} block size");
        long bytes = rowBytes;
        for (int i = 0; i < shape.Length - 1; i++) bytes *= shape[i];
        _tensors.Add((name, type, shape, bytes, writeData));
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, byte[] data) =>
        AddTensor(name, type, shape, s => s.Write(data));

    public GgufWriter AddTensor(string name, float[] data, params long[] shape) =>
        AddTensor(name, GgmlType.F32, shape, s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan())));

    public void Write(string path)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(fs);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { /* best effort */ }
            throw;
        }
    }

    public void WriteTo(Stream s)
    {
        var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_meta.Count);
        foreach (var (key, value) in _meta)
        {
            WriteString(w, key);
            var t = TypeOf(value, key);
            w.Write((uint)t);
            WriteValue(w, t, value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var (name, type, shape, bytes, _) = _tensors[i];
            WriteString(w, name);
            w.Write((uint)shape.Length);
            for (int d = shape.Length - 1; d >= 0; d--) w.Write((ulong)shape[d]);
            w.Write((uint)type);
            offsets[i] = offset;
            w.Write((ulong)offset);
            offset = Align(offset + bytes);
        }
        w.Flush();
        Pad(s, Align(s.Position) - s.Position);
        long dataStart = s.Position;
        for (int i = 0; i < _tensors.Count; i++)
        {
            long before = s.Position;
            _tensors[i].Write(s);
            long written = s.Position - before;
            if (written != _tensors[i].Bytes)
                throw new InvalidOperationException($"tensor '{_tensors[i].Name}': wrote {written} bytes, expected {_tensors[i].Bytes}");
            Pad(s, Align(s.Position - dataStart) - (s.Position - dataStart));
        }
    }

    long Align(long x) => (x + _alignment - 1) / _alignment * _alignment;

    static void Pad(Stream s, long n) { for (long i = 0; i < n; i++) s.WriteByte(0); }

    static void WriteString(BinaryWriter w, string str)
    {
        var b = Encoding.UTF8.GetBytes(str);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    static GgufValueType TypeOf(object v, string key) => v switch
    {
        byte => GgufValueType.UInt8, sbyte => GgufValueType.Int8, ushort => GgufValueType.UInt16, short => GgufValueType.Int16,
        uint => GgufValueType.UInt32, int => GgufValueType.Int32, float => GgufValueType.Float32, bool => GgufValueType.Bool,
        string => GgufValueType.String, ulong => GgufValueType.UInt64, long => GgufValueType.Int64, double => GgufValueType.Float64,
        Array => GgufValueType.Array,
        _ => throw new ArgumentException($"metadata '{key}': unsupported value type {v.GetType().Name}"),
    };

    static GgufValueType ElementType(Type et) =>
        et == typeof(string) ? GgufValueType.String
        : et == typeof(byte) ? GgufValueType.UInt8 : et == typeof(sbyte) ? GgufValueType.Int8
        : et == typeof(ushort) ? GgufValueType.UInt16 : et == typeof(short) ? GgufValueType.Int16
        : et == typeof(uint) ? GgufValueType.UInt32 : et == typeof(int) ? GgufValueType.Int32
        : et == typeof(float) ? GgufValueType.Float32 : et == typeof(bool) ? GgufValueType.Bool
        : et == typeof(ulong) ? GgufValueType.UInt64 : et == typeof(long) ? GgufValueType.Int64
        : et == typeof(double) ? GgufValueType.Float64
        : throw new ArgumentException($"unsupported metadata array element type {et.Name}");

    static void WriteValue(BinaryWriter w, GgufValueType t, object v)
    {
        switch (v)
        {
            case byte b: w.Write(b); break;
            case sbyte sb: w.Write(sb); break;
            case ushort us: w.Write(us); break;
            case short s: w.Write(s); break;
            case uint u: w.Write(u); break;
            case int i: w.Write(i); break;
            case float f: w.Write(f); break;
            case bool bo: w.Write((byte)(bo ? 1 : 0)); break;
            case string str: WriteString(w, str); break;
            case ulong ul: w.Write(ul); break;
            case long l: w.Write(l); break;
            case double d: w.Write(d); break;
            case Array a:
                {
                    var et = a.GetType().GetElementType()!;
                    GgufValueType elemType = et == typeof(object) ? GgufValueType.Array : ElementType(et);
                    w.Write((uint)elemType);
                    w.Write((ulong)a.Length);
                    foreach (var e in a) WriteValue(w, elemType, e!);
                    break;
                }
            default: throw new ArgumentException($"unsupported metadata value {t}");
        }
    }
}

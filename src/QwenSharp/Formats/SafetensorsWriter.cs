using System.Text;
using System.Text.Json;

namespace QwenSharp.Formats;

/// <summary>
/// Writes a safetensors file (header JSON padded to 8 bytes, then the tensors in the order added).
/// Written to a temporary name and renamed when complete.
/// </summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Name, string DType, long[] Shape, byte[] Data)> _tensors = [];
    readonly Dictionary<string, string> _metadata = [];

    public SafetensorsWriter AddMetadata(string key, string value) { _metadata[key] = value; return this; }

    public SafetensorsWriter Add(string name, string dtype, long[] shape, byte[] data)
    {
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    public SafetensorsWriter AddF32(string name, ReadOnlySpan<float> data, params long[] shape) =>
        Add(name, "F32", shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data).ToArray());

    /// <summary>Adds f32 values rounded to bfloat16 (round to nearest even).</summary>
    public SafetensorsWriter AddBF16(string name, ReadOnlySpan<float> data, params long[] shape)
    {
        var bytes = new byte[data.Length * 2];
        for (int i = 0; i < data.Length; i++)
        {
            ushort b = Tensors.Numerics.FloatToBFloat16(data[i]);
            bytes[2 * i] = (byte)b;
            bytes[2 * i + 1] = (byte)(b >> 8);
        }
        return Add(name, "BF16", shape, bytes);
    }

    public void Write(string path)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (_metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in _metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Data.Length;
            }
            w.WriteEndObject();
        }
        var header = ms.ToArray().ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                fs.Write(BitConverter.GetBytes((ulong)header.Count));
                fs.Write(header.ToArray());
                foreach (var t in _tensors) fs.Write(t.Data);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { }
            throw;
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A tensor in a model file: type, row-major shape, and a pointer into the mapping.</summary>
public sealed unsafe record TensorRef(string Name, GgmlType Type, long[] Shape, nint Address, long ByteSize, string FilePath)
{
    public byte* Data => (byte*)Address;
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    // What ToString shows: the readable fields (a generated one would also print the pointer, which NativeAOT's
    // compiler cannot generate code for).
    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append($"Name = {Name}, Type = {Type}, Shape = [{string.Join(", ", Shape)}], ByteSize = {ByteSize}, FilePath = {FilePath}");
        return true;
    }
}

/// <summary>
/// Tensors of a model by their Hugging Face names (model.layers.0.self_attn.q_proj.weight, ...),
/// whatever the file format: a GGUF source translates llama.cpp's names (blk.0.attn_q.weight) and
/// slices stacked expert tensors into per-expert views.
/// </summary>
public abstract class WeightSource : IDisposable
{
    /// <summary>Where the weights come from (a folder or a file), for messages.</summary>
    public abstract string Location { get; }

    public abstract bool TryGet(string name, out TensorRef tensor);

    /// <summary>Every tensor name this source holds, in HF naming where a translation exists.</summary>
    public abstract IEnumerable<string> Names { get; }

    public TensorRef Get(string name) =>
        TryGet(name, out var t) ? t : throw new ModelFormatException(Location, $"missing tensor '{name}'");

    public abstract void Dispose();

    /// <summary>Opens a Hugging Face folder (model.safetensors or sharded with model.safetensors.index.json).</summary>
    public static WeightSource OpenSafetensors(string dir) => new SafetensorsSource(dir);

    public static WeightSource OpenGguf(GgufFile gguf) => new GgufSource(gguf);
}

sealed class SafetensorsSource : WeightSource
{
    readonly List<SafetensorsFile> _files = [];
    readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _tensors = new(StringComparer.Ordinal);
    readonly string _dir;

    public override string Location => _dir;

    public SafetensorsSource(string dir)
    {
        _dir = dir;
        try
        {
            string index = Path.Combine(dir, "model.safetensors.index.json");
            string single = Path.Combine(dir, "model.safetensors");
            if (File.Exists(index))
            {
                JsonObject o;
                try { o = JsonNode.Parse(File.ReadAllText(index)) as JsonObject ?? throw new ModelFormatException(index, "not a JSON object"); }
                catch (JsonException e) { throw new ModelFormatException(index, $"not valid JSON: {e.Message}"); }
                if (o["weight_map"] is not JsonObject map) throw new ModelFormatException(index, "missing 'weight_map'");
                var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
                foreach (var (name, fileNode) in map)
                {
                    string shard = fileNode?.GetValue<string>() ?? throw new ModelFormatException(index, $"weight_map entry '{name}' is not a file name");
                    if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                        throw new ModelFormatException(index, $"weight_map entry '{name}' names '{shard}', which is not a file in this folder");
                    if (!shards.TryGetValue(shard, out var f))
                    {
                        string p = Path.Combine(dir, shard);
                        if (!File.Exists(p)) throw new ModelFormatException(index, $"shard '{shard}' (for tensor '{name}') does not exist");
                        f = new SafetensorsFile(p);
                        _files.Add(f);
                        shards[shard] = f;
                    }
                    if (!f.TryGetTensor(name, out var info))
                        throw new ModelFormatException(f.Path, $"tensor '{name}' listed in model.safetensors.index.json is not in this shard");
                    _tensors[name] = (f, info);
                }
            }
            else if (File.Exists(single))
            {
                var f = new SafetensorsFile(single);
                _files.Add(f);
                foreach (var t in f.Tensors) _tensors[t.Name] = (f, t);
            }
            else
            {
                var files = Directory.GetFiles(dir, "*.safetensors");
                if (files.Length == 0) throw new ModelFormatException(dir, "no model.safetensors, model.safetensors.index.json or *.safetensors file in this folder");
                foreach (var p in files.Order())
                {
                    var f = new SafetensorsFile(p);
                    _files.Add(f);
                    foreach (var t in f.Tensors) _tensors[t.Name] = (f, t);
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override IEnumerable<string> Names => _tensors.Keys;

    public override unsafe bool TryGet(string name, out TensorRef tensor)
    {
        if (!_tensors.TryGetValue(name, out var e)) { tensor = null!; return false; }
        var type = e.Info.Type ?? throw new ModelFormatException(e.File.Path, $"tensor '{name}' has dtype {e.Info.DType}; weights must be BF16, F16 or F32");
        tensor = new TensorRef(name, type, e.Info.Shape, (nint)e.File.DataPointer(e.Info), e.Info.ByteSize, e.File.Path);
        return true;
    }

    public override void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}

sealed partial class GgufSource(GgufFile gguf) : WeightSource
{
    public override string Location => gguf.Path;

    // HF suffix within a layer -> GGUF suffix.
    static readonly Dictionary<string, string> LayerNames = new()
    {
        ["input_layernorm.weight"] = "attn_norm.weight",
        ["self_attn.q_proj.weight"] = "attn_q.weight",
        ["self_attn.q_proj.bias"] = "attn_q.bias",
        ["self_attn.k_proj.weight"] = "attn_k.weight",
        ["self_attn.k_proj.bias"] = "attn_k.bias",
        ["self_attn.v_proj.weight"] = "attn_v.weight",
        ["self_attn.v_proj.bias"] = "attn_v.bias",
        ["self_attn.o_proj.weight"] = "attn_output.weight",
        ["self_attn.q_norm.weight"] = "attn_q_norm.weight",
        ["self_attn.k_norm.weight"] = "attn_k_norm.weight",
        ["post_attention_layernorm.weight"] = "ffn_norm.weight",
        ["mlp.gate_proj.weight"] = "ffn_gate.weight",
        ["mlp.up_proj.weight"] = "ffn_up.weight",
        ["mlp.down_proj.weight"] = "ffn_down.weight",
        ["mlp.gate.weight"] = "ffn_gate_inp.weight",
        ["mlp.shared_expert.gate_proj.weight"] = "ffn_gate_shexp.weight",
        ["mlp.shared_expert.up_proj.weight"] = "ffn_up_shexp.weight",
        ["mlp.shared_expert.down_proj.weight"] = "ffn_down_shexp.weight",
        ["mlp.shared_expert_gate.weight"] = "ffn_gate_inp_shexp.weight",
    };

    static readonly Dictionary<string, string> GlobalNames = new()
    {
        ["model.embed_tokens.weight"] = "token_embd.weight",
        ["model.norm.weight"] = "output_norm.weight",
        ["lm_head.weight"] = "output.weight",
    };

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex LayerRegex();

    [GeneratedRegex(@"^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$")]
    private static partial Regex ExpertRegex();

    public static string? ToGgufName(string hfName)
    {
        if (GlobalNames.TryGetValue(hfName, out var g)) return g;
        var m = LayerRegex().Match(hfName);
        if (!m.Success) return null;
        return LayerNames.TryGetValue(m.Groups[2].Value, out var s) ? $"blk.{m.Groups[1].Value}.{s}" : null;
    }

    public override IEnumerable<string> Names => gguf.Tensors.Select(t => t.Name);

    public override unsafe bool TryGet(string name, out TensorRef tensor)
    {
        tensor = null!;
        string? gname = ToGgufName(name);
        if (gname != null && gguf.TryGetTensor(gname, out var t))
        {
            var shape = t.Shape;
            // GGUF stores the Qwen2-MoE shared-expert gate as a vector [hidden]; HF as a matrix [1, hidden].
            if (gname.EndsWith("ffn_gate_inp_shexp.weight", StringComparison.Ordinal) && shape.Length == 1) shape = [1, shape[0]];
            tensor = new TensorRef(name, t.Type, shape, (nint)gguf.DataPointer(t), t.ByteSize, gguf.Path);
            return true;
        }
        // One expert of a stacked expert tensor: blk.N.ffn_{gate,up,down}_exps.weight, shape [experts, out, in].
        var lm = LayerRegex().Match(name);
        if (!lm.Success) return false;
        var em = ExpertRegex().Match(lm.Groups[2].Value);
        if (!em.Success) return false;
        string stacked = $"blk.{lm.Groups[1].Value}.ffn_{em.Groups[2].Value}_exps.weight";
        if (!gguf.TryGetTensor(stacked, out var s) || s.Shape.Length != 3) return false;
        int expert = int.Parse(em.Groups[1].Value);
        if (expert >= s.Shape[0]) return false;
        long bytes = s.ByteSize / s.Shape[0];
        tensor = new TensorRef(name, s.Type, [s.Shape[1], s.Shape[2]], (nint)(gguf.DataPointer(s) + expert * bytes), bytes, gguf.Path);
        return true;
    }

    public override void Dispose() { /* the GgufFile is owned by the model */ }
}

using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Lora;

/// <summary>
/// A LoRA adapter: the low-rank updates of some linear layers of a Qwen model, keyed by Hugging Face
/// module path. Loaded from a PEFT folder (adapter_config.json + adapter_model.safetensors) or a GGUF
/// LoRA file as llama.cpp writes it; saved in either format. Apply it at run time
/// (<see cref="QwenModel.AttachAdapter"/>, <see cref="Qwen.LoadAdapter"/>) or merge it into the weights
/// (<see cref="LoraMerge"/>).
/// </summary>
public sealed class LoraAdapter
{
    /// <summary>PEFT's weight file name.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    public string Name { get; }
    public LoraConfig Config { get; }
    /// <summary>Where it was loaded from (null when built in memory).</summary>
    public string? Source { get; }
    public IReadOnlyDictionary<string, LoraWeights> Modules { get; }

    public LoraAdapter(string name, LoraConfig config, IEnumerable<LoraWeights> modules, string? source = null)
    {
        Name = name;
        Config = config;
        Source = source;
        var d = new SortedDictionary<string, LoraWeights>(StringComparer.Ordinal);
        foreach (var m in modules)
            if (!d.TryAdd(m.Module, m)) throw new ArgumentException($"module '{m.Module}' appears twice");
        Modules = d;
    }

    /// <summary>
    /// Loads a PEFT adapter folder (or its adapter_config.json / adapter_model.safetensors), or a GGUF LoRA
    /// file. <paramref name="name"/> defaults to the folder or file name.
    /// </summary>
    public static LoraAdapter Load(string path, string? name = null)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            string file = Path.GetFileName(full);
            if (file is LoraConfig.FileName or WeightsFileName or "adapter_model.bin") return PeftFormat.Read(Path.GetDirectoryName(full)!, name);
            if (IsGguf(full)) return GgufLoraFormat.Read(full, name);
            throw new ModelFormatException(full, "not a LoRA adapter (expected a PEFT folder with adapter_config.json, or a GGUF LoRA file)");
        }
        if (Directory.Exists(full))
        {
            if (File.Exists(Path.Combine(full, LoraConfig.FileName))) return PeftFormat.Read(full, name);
            var ggufs = Directory.GetFiles(full, "*.gguf");
            if (ggufs.Length == 1) return GgufLoraFormat.Read(ggufs[0], name);
            throw new ModelFormatException(full, ggufs.Length > 1
                ? $"folder has no adapter_config.json and {ggufs.Length} .gguf files; name one of them"
                : "folder has no adapter_config.json (a PEFT adapter) and no .gguf LoRA file");
        }
        throw new FileNotFoundException($"{path}: no such adapter file or folder", path);
    }

    static bool IsGguf(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return f.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }

    /// <summary>Writes the adapter as Hugging Face PEFT does: adapter_config.json and adapter_model.safetensors in <paramref name="dir"/>.</summary>
    public void Save(string dir) => PeftFormat.Write(this, dir);

    /// <summary>Writes a GGUF LoRA file as llama.cpp's convert_lora_to_gguf.py does (F32 tensors).</summary>
    public void SaveGguf(string path, ModelConfig baseModel) => GgufLoraFormat.Write(this, path, baseModel);

    /// <summary>Checks that every module exists in a model of this configuration with matching shapes.</summary>
    public void Validate(ModelConfig config)
    {
        var targets = LoraTargets.All(config).ToDictionary(t => t.Module);
        string where = Source ?? Name;
        foreach (var m in Modules.Values)
        {
            if (!targets.TryGetValue(m.Module, out var t))
                throw new ModelFormatException(where, $"adapter module '{m.Module}' does not exist in this model ({config.ModelType}, {config.NumHiddenLayers} layers)" +
                    (m.Module.Contains("embed_tokens") || m.Module.Contains("lm_head") ? "; adapters on the embedding or LM head are not supported" : ""));
            if (t.InFeatures != m.InFeatures || t.OutFeatures != m.OutFeatures)
                throw new ModelFormatException(where, $"adapter module '{m.Module}' is [{m.OutFeatures}, {m.InFeatures}] but the model's layer is [{t.OutFeatures}, {t.InFeatures}] (an adapter for another model?)");
        }
    }

    /// <summary>A copy with the given name.</summary>
    public LoraAdapter WithName(string name) => new(name, Config, Modules.Values, Source);
}

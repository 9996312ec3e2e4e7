using System.CommandLine;
using QwenSharp.Lora;
using QwenSharp.Tensors;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp merge --model M --adapter A --out DIR|FILE.gguf`: merges a LoRA adapter (PEFT folder or GGUF
/// LoRA) into the base weights, W + scale·B·A, and writes a Hugging Face folder or a GGUF file.
/// </summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var adapter = new Option<string>("--adapter", "-a") { Description = "The adapter: a PEFT folder (adapter_config.json + adapter_model.safetensors) or a GGUF LoRA file", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Output: a folder (safetensors, config and tokenizer files) or a path ending in .gguf", Required = true };
        var type = new Option<string?>("--type") { Description = "Weight type written: f32, f16 or bf16 (default: the base model's dtype for safetensors, f16 for GGUF)" };
        var cmd = new Command("merge", "Merge a LoRA adapter into a model and write it as safetensors or GGUF") { model, adapter, output, type };
        cmd.SetAction(r =>
        {
            var t = r.GetValue(type)?.ToLowerInvariant() switch
            {
                null => (GgmlType?)null,
                "f32" => GgmlType.F32,
                "f16" => GgmlType.F16,
                "bf16" => GgmlType.BF16,
                var s => throw new CliException($"--type: '{s}' is not a weight type (f32, f16, bf16)", 2),
            };
            string path = ModelResolver.Resolve(r.GetValue(model)!, null, r.InvocationConfiguration.Error);
            string adapterPath = r.GetValue(adapter)!;
            if (!File.Exists(adapterPath) && !Directory.Exists(adapterPath)) throw new CliException($"--adapter: {adapterPath}: no such file or folder", 2);
            var lora = LoraAdapter.Load(adapterPath);
            string outPath = r.GetValue(output)!;
            LoraMerge.MergeToDisk(path, lora, outPath, t);
            r.InvocationConfiguration.Output.WriteLine($"merged {lora.Modules.Count} adapted layers of {lora.Name} into {outPath}");
            return 0;
        });
        return cmd;
    }
}

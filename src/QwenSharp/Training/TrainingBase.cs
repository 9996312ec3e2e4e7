using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Templates;
using QwenSharp.Tokenization;

namespace QwenSharp.Training;

/// <summary>What fine-tuning needs of a base model: the weights, its tokenizer and its own chat template (no inference engine).</summary>
public sealed class TrainingBase : IDisposable
{
    public QwenModel Model { get; }
    public QwenTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }

    TrainingBase(QwenModel model, QwenTokenizer tokenizer, ChatTemplate template)
    {
        Model = model;
        Tokenizer = tokenizer;
        Template = template;
    }

    /// <summary>Loads a Hugging Face folder or a GGUF file (quantized weights stay quantized: QLoRA-style).</summary>
    public static TrainingBase Load(string path, ModelLoadOptions? options = null)
    {
        var (kind, file) = ModelPath.Resolve(path);
        var model = QwenModel.Load(file, options);
        try
        {
            if (kind == ModelPath.Kind.Gguf)
            {
                QwenTokenizer tokenizer;
                using (var gguf = new GgufFile(file)) tokenizer = QwenTokenizer.FromGguf(gguf);
                var template = tokenizer.ChatTemplate is { } t ? ChatTemplate.Parse(t, Path.GetFileName(file)) : ChatTemplate.ChatML;
                return new TrainingBase(model, tokenizer, template);
            }
            return new TrainingBase(model, QwenTokenizer.FromDirectory(file), ChatTemplate.FromModel(file));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Reads chat-format JSONL with this model's tokenizer and template.</summary>
    public ChatDataset LoadData(string path, int maxLength) => ChatDataset.Load(path, Tokenizer, Template, maxLength);

    public void Dispose() => Model.Dispose();
}

// Shows: LoRA fine-tuning in C# on a small chat JSONL dataset (loss on the assistant's tokens only, AdamW,
// PEFT-format adapter out), then chatting with the base model and with the adapter side by side.
using System.Text.Json.Nodes;
using QwenSharp.Generation;
using QwenSharp.Hub;
using QwenSharp.Training;

namespace QwenSharp.Samples;

public static class Finetuning
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        string path = await ModelLocator.Resolve(args.Model("Qwen/Qwen2.5-0.5B-Instruct"));
        string work = Path.Combine(Path.GetTempPath(), "qwensharp-finetune-sample-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            // 1. A small dataset: the same lines a Python user would give trl's SFTTrainer.
            string[] words = ["hello", "friend", "money", "yes", "ship", "sea", "look", "treasure", "stop", "drink", "boy", "girl"];
            string[] pirate = ["ahoy", "matey", "doubloons", "aye", "vessel", "briny deep", "avast", "booty", "belay", "grog", "lad", "lass"];
            string data = Path.Combine(work, "train.jsonl");
            File.WriteAllLines(data, words.Select((w, i) => new JsonObject
            {
                ["messages"] = new JsonArray(ChatMessages.User($"Say '{w}' like a pirate."), ChatMessages.Assistant(pirate[i] + "!")),
            }.ToJsonString()));

            // 2. Train a LoRA adapter on the frozen base (bf16 or quantized weights alike).
            var options = new TrainingOptions
            {
                LoraR = 8, LoraAlpha = 16, TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj"],
                LearningRate = 1e-3, Epochs = 3, BatchSize = 4, MaxSequenceLength = 128, BaseModelName = Path.GetFileName(path),
            };
            using (var baseModel = TrainingBase.Load(path))
            {
                var train = baseModel.LoadData(data, options.MaxSequenceLength);
                using var trainer = new LoraTrainer(baseModel.Model, options);
                trainer.Initialize();
                Console.WriteLine($"{train.Examples.Count} conversations, {trainer.Parameters!.Count:N0} trainable parameters, {trainer.StepsFor(train)} steps");
                double before = trainer.EvaluateLoss(train);
                var result = trainer.Train(train, eval: null, Path.Combine(work, "pirate"),
                    progress: new PrintSteps());
                Console.WriteLine($"loss on the data: {before:0.000} before, {trainer.EvaluateLoss(train):0.000} after ({result.Steps} steps, {result.Elapsed.TotalSeconds:0.0} s)");
            }

            // 3. Chat with the base model and with the adapter (applied at run time; both share one engine).
            using var qwen = await Qwen.LoadAsync(path);
            qwen.LoadAdapter("pirate", Path.Combine(work, "pirate"));
            var greedy = new SamplingParams { Temperature = 0, MaxTokens = args.MaxTokens(16) };
            foreach (var adapter in new[] { "", "pirate" })
            {
                var answer = await qwen.ChatAsync("Say 'treasure' like a pirate.", new GenerationOptions { Sampling = greedy, Adapter = adapter });
                Console.WriteLine($"{(adapter == "" ? "base" : adapter),-7} {answer.Text}");
            }
            return 0;
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    /// <summary>Prints each optimizer step as it happens (on the training thread).</summary>
    sealed class PrintSteps : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Event == TrainingEvent.Step) Console.WriteLine($"  step {p.Step}/{p.TotalSteps} loss {p.Loss:0.000} ({p.TokensPerSecond:0} tokens/s)");
        }
    }
}

using QwenSharp.Lora;
using QwenSharp.Models;

namespace QwenSharp.Training;

/// <summary>One trained LoRA pair beside a frozen linear layer: the weights and their gradients.</summary>
public sealed class LoraParameter
{
    public LoraTarget Target { get; }
    public Linear Base { get; }
    public LoraWeights Weights { get; }
    /// <summary>d loss / d A, [rank, in] (pinned).</summary>
    public float[] GradA { get; }
    /// <summary>d loss / d B, [out, rank] (pinned).</summary>
    public float[] GradB { get; }

    internal LoraParameter(LoraTarget target, Linear baseLayer, LoraWeights weights)
    {
        Target = target;
        Base = baseLayer;
        Weights = weights;
        GradA = GC.AllocateArray<float>(weights.A.Length, pinned: true);
        GradB = GC.AllocateArray<float>(weights.B.Length, pinned: true);
    }
}

/// <summary>
/// The trainable LoRA parameters of a model: one A/B pair per targeted linear layer, initialized as PEFT
/// does (A: kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in); B: zeros, so training starts from the base model).
/// </summary>
public sealed class LoraParameters
{
    public LoraConfig Config { get; }
    public IReadOnlyList<LoraParameter> Parameters { get; }
    readonly Dictionary<Linear, LoraParameter> _byLinear = [];

    LoraParameters(LoraConfig config, List<LoraParameter> parameters)
    {
        Config = config;
        Parameters = parameters;
        foreach (var p in parameters) _byLinear[p.Base] = p;
    }

    /// <summary>The parameter adapting <paramref name="linear"/>, or null when it is not trained.</summary>
    public LoraParameter? For(Linear linear) => _byLinear.GetValueOrDefault(linear);

    public long Count => Parameters.Sum(p => (long)p.Weights.A.Length + p.Weights.B.Length);

    /// <summary>New parameters for every linear layer of <paramref name="model"/> that <paramref name="config"/> targets.</summary>
    public static LoraParameters Create(QwenModel model, LoraConfig config, int seed = 42)
    {
        foreach (var t in config.TargetModules)
            if (!t.StartsWith("re:", StringComparison.Ordinal) && !LoraConfig.SupportedTargets.Contains(t))
                throw new ArgumentException($"target module '{t}' is not a linear layer of a Qwen decoder (choose from {string.Join(", ", LoraConfig.SupportedTargets)})");
        var rng = new Random(seed);
        var list = new List<LoraParameter>();
        foreach (var t in LoraTargets.All(model.Config))
        {
            if (!config.Targets(t.Module)) continue;
            int r = config.RankFor(t.Module);
            var w = new LoraWeights(t.Module, r, t.InFeatures, t.OutFeatures, config.ScaleFor(t.Module, r));
            float bound = 1f / MathF.Sqrt(t.InFeatures);
            for (int i = 0; i < w.A.Length; i++) w.A[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
            list.Add(new LoraParameter(t, model.FindLinear(t.Module)!, w));
        }
        if (list.Count == 0)
            throw new ArgumentException($"target modules [{string.Join(", ", config.TargetModules)}] match no linear layer of this model");
        return new LoraParameters(config, list);
    }

    /// <summary>Trainable parameters starting from an existing adapter (its weights are copied).</summary>
    public static LoraParameters FromAdapter(QwenModel model, LoraAdapter adapter)
    {
        adapter.Validate(model.Config);
        var targets = LoraTargets.All(model.Config).ToDictionary(t => t.Module);
        var list = adapter.Modules.Values.Select(w => new LoraParameter(targets[w.Module], model.FindLinear(w.Module)!, w.Clone())).ToList();
        return new LoraParameters(adapter.Config, list);
    }

    /// <summary>The current weights as an adapter (copies, so later training steps do not change it).</summary>
    public LoraAdapter ToAdapter(string name) => new(name, Config, Parameters.Select(p => p.Weights.Clone()));

    public void ZeroGrad()
    {
        foreach (var p in Parameters)
        {
            Array.Clear(p.GradA);
            Array.Clear(p.GradB);
        }
    }
}

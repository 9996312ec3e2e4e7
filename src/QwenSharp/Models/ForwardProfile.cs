using System.Diagnostics;
using System.Text;

namespace QwenSharp.Models;

/// <summary>
/// Wall time of each part of the forward pass, summed over the passes it watched: attach one to a context
/// (<see cref="ForwardContext.Profile"/>) and every forward pass through that context adds to it. Parts are timed
/// on the calling thread around each step, so a part includes its dispatch to the worker pool and the wait for the
/// slowest worker. Used by <c>qwensharp bench --profile</c> (where the time of a decode step goes).
/// </summary>
public sealed class ForwardProfile
{
    /// <summary>The parts of a pass, in order.</summary>
    public enum Part
    {
        /// <summary>Token embeddings looked up and RoPE angles computed.</summary>
        Embedding,
        /// <summary>input_layernorm and post_attention_layernorm of every layer.</summary>
        Norms,
        /// <summary>q_proj, k_proj, v_proj (with biases and LoRA adapters).</summary>
        QkvProjection,
        /// <summary>Qwen3's per-head q/k RMSNorm, rotary embedding, keys and values written to the KV cache.</summary>
        RopeAndKvStore,
        /// <summary>Scores against the cached keys, softmax, weighted sum of the cached values.</summary>
        Attention,
        /// <summary>o_proj.</summary>
        OutputProjection,
        /// <summary>gate_proj, up_proj, SwiGLU, down_proj (mixture of experts: router, experts, shared expert).</summary>
        FeedForward,
        /// <summary>The two residual additions of every layer.</summary>
        Residual,
        /// <summary>The final norm and the LM head, for the rows that want logits.</summary>
        LmHead,
    }

    static readonly int PartCount = Enum.GetValues<Part>().Length;
    readonly long[] _ticks = new long[PartCount];

    /// <summary>Forward passes watched (a micro-batched pass counts once).</summary>
    public int Passes { get; private set; }

    /// <summary>Tokens those passes processed.</summary>
    public long Tokens { get; private set; }

    /// <summary>Total time spent in one part.</summary>
    public TimeSpan this[Part part] => Stopwatch.GetElapsedTime(0, _ticks[(int)part]);

    /// <summary>Milliseconds one pass spent in a part, on average.</summary>
    public double MillisecondsPerPass(Part part) => this[part].TotalMilliseconds / Math.Max(1, Passes);

    /// <summary>Total time in all parts.</summary>
    public TimeSpan Total => Stopwatch.GetElapsedTime(0, _ticks.Sum());

    public void Reset()
    {
        Array.Clear(_ticks);
        Passes = 0;
        Tokens = 0;
    }

    /// <summary>Adds the time since <paramref name="start"/> to a part and moves <paramref name="start"/> to now.</summary>
    internal void Add(Part part, ref long start)
    {
        long now = Stopwatch.GetTimestamp();
        _ticks[(int)part] += now - start;
        start = now;
    }

    internal void Count(int tokens)
    {
        Passes++;
        Tokens += tokens;
    }

    /// <summary>A table: each part's milliseconds per pass and share of the total.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        double total = Total.TotalMilliseconds;
        sb.AppendLine($"{"part",-20} {"ms/pass",9} {"share",7}");
        foreach (var p in Enum.GetValues<Part>())
            sb.AppendLine($"{Name(p),-20} {MillisecondsPerPass(p),9:F3} {(total > 0 ? this[p].TotalMilliseconds / total : 0),7:P1}");
        sb.AppendLine($"{"total",-20} {total / Math.Max(1, Passes),9:F3} {"",7} ({Passes} passes, {Tokens} tokens)");
        return sb.ToString();
    }

    /// <summary>The part's name in reports and JSON (snake_case).</summary>
    public static string Name(Part p) => p switch
    {
        Part.Embedding => "embedding",
        Part.Norms => "norms",
        Part.QkvProjection => "qkv_proj",
        Part.RopeAndKvStore => "rope_kv_store",
        Part.Attention => "attention",
        Part.OutputProjection => "o_proj",
        Part.FeedForward => "mlp",
        Part.Residual => "residual",
        _ => "lm_head",
    };
}

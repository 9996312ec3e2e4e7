using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QwenSharp.Engine;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Training.Ops;

namespace QwenSharp.Training;

/// <summary>
/// The forward and backward pass of a Qwen decoder (dense layers) for LoRA training, written by hand:
/// embedding → per layer [RMSNorm → q/k/v (+bias) → q/k norm (Qwen3) → RoPE → causal GQA attention → o_proj →
/// residual → RMSNorm → SwiGLU MLP → residual] → final RMSNorm → LM head → cross-entropy on labeled tokens.
/// The base weights are frozen and read in whatever <see cref="Matrix"/> format they have (bf16, f16, f32 or
/// quantized: QLoRA-style); only the LoRA pairs of <see cref="LoraParameters"/> receive gradients.
/// With gradient checkpointing (the default) only each layer's input is kept and the layer is recomputed
/// during the backward pass (memory: one layer's activations plus layers × tokens × hidden floats).
/// </summary>
public sealed unsafe class LoraBackprop : IDisposable
{
    readonly QwenModel _model;
    readonly LoraParameters _lora;
    readonly WorkerPool _pool;
    readonly LinearOp _linear;
    readonly CrossEntropyOp _ce;
    readonly List<float[]> _keep = [];
    int _capacity = -1;

    public QwenModel Model => _model;
    public LoraParameters Lora => _lora;
    public bool GradientCheckpointing { get; }

    /// <summary>The embedding table the forward pass reads (the model's; tests substitute a copy to check its gradient alone).</summary>
    internal Matrix Embedding { get; set; }

    /// <summary>Also compute d loss / d (input embeddings) into <see cref="InputGradient"/> (tests).</summary>
    internal bool ComputeInputGradient { get; set; }

    // Buffers (pinned arrays; pointers valid while _keep holds them).
    float* _x;          // [(layers + 1), n, hidden]: the input of each layer, then the final hidden state
    float* _cos, _sin;  // [n, head_dim / 2]
    Acts[] _acts = [];
    float* _hFinal, _rstdFinal, _tmp;
    // backward scratch
    float* _dX, _dXmid, _dh, _dAct, _dGate, _dUp, _dO, _dq, _dk, _dv, _dqRaw, _dkRaw;

    /// <summary>The gradient of the loss with respect to the embedded input tokens [n, hidden] after a backward pass (when asked for).</summary>
    internal float* InputGradient => _dX;

    struct Acts
    {
        public float* H1, Rstd1, QRaw, KRaw, V, Qn, Kn, RstdQ, RstdK, Q, K, O, Lse, XMid, H2, Rstd2, Gate, Up, Act;
        public float* Tq, Tk, Tv, To, Tg, Tu, Td; // x·Aᵀ of each LoRA pair
    }

    public LoraBackprop(QwenModel model, LoraParameters lora, WorkerPool? pool = null, bool gradientCheckpointing = true)
    {
        if (model.Config.IsMoe) throw new NotSupportedException($"fine-tuning mixture-of-experts models ({model.Config.ModelType}) is not supported yet; dense Qwen2/2.5/3 models are");
        _model = model;
        _lora = lora;
        _pool = pool ?? WorkerPool.Shared;
        _linear = new LinearOp(_pool);
        _ce = new CrossEntropyOp(_pool);
        GradientCheckpointing = gradientCheckpointing;
        Embedding = model.EmbedTokens;
    }

    float* Alloc(long count)
    {
        var a = GC.AllocateArray<float>((int)Math.Max(count, 1), pinned: true);
        _keep.Add(a);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
    }

    void Ensure(int n)
    {
        if (n <= _capacity) return;
        _keep.Clear();
        var c = _model.Config;
        int h = c.HiddenSize, hd = c.HeadDim, H = c.NumAttentionHeads, G = c.NumKeyValueHeads, qd = H * hd, kd = G * hd, I = c.IntermediateSize;
        int rMax = Math.Max(1, _lora.Parameters.Max(p => p.Weights.Rank));
        int layers = c.NumHiddenLayers;
        _x = Alloc((long)(layers + 1) * n * h);
        _cos = Alloc((long)n * hd / 2);
        _sin = Alloc((long)n * hd / 2);
        _acts = new Acts[GradientCheckpointing ? 1 : layers];
        for (int a = 0; a < _acts.Length; a++)
        {
            ref var A = ref _acts[a];
            A.H1 = Alloc((long)n * h); A.Rstd1 = Alloc(n);
            A.QRaw = Alloc((long)n * qd); A.KRaw = Alloc((long)n * kd); A.V = Alloc((long)n * kd);
            A.Qn = Alloc((long)n * qd); A.Kn = Alloc((long)n * kd); A.RstdQ = Alloc((long)n * H); A.RstdK = Alloc((long)n * G);
            A.Q = Alloc((long)n * qd); A.K = Alloc((long)n * kd); A.O = Alloc((long)n * qd); A.Lse = Alloc((long)n * H);
            A.XMid = Alloc((long)n * h); A.H2 = Alloc((long)n * h); A.Rstd2 = Alloc(n);
            A.Gate = Alloc((long)n * I); A.Up = Alloc((long)n * I); A.Act = Alloc((long)n * I);
            A.Tq = Alloc((long)n * rMax); A.Tk = Alloc((long)n * rMax); A.Tv = Alloc((long)n * rMax); A.To = Alloc((long)n * rMax);
            A.Tg = Alloc((long)n * rMax); A.Tu = Alloc((long)n * rMax); A.Td = Alloc((long)n * rMax);
        }
        _hFinal = Alloc((long)n * h); _rstdFinal = Alloc(n); _tmp = Alloc((long)n * Math.Max(h, Math.Max(qd, I)));
        _dX = Alloc((long)n * h); _dXmid = Alloc((long)n * h); _dh = Alloc((long)n * h);
        _dAct = Alloc((long)n * I); _dGate = Alloc((long)n * I); _dUp = Alloc((long)n * I);
        _dO = Alloc((long)n * qd); _dq = Alloc((long)n * qd); _dk = Alloc((long)n * kd); _dv = Alloc((long)n * kd);
        _dqRaw = Alloc((long)n * qd); _dkRaw = Alloc((long)n * kd);
        _capacity = n;
    }

    /// <summary>The summed cross-entropy loss over the batch's labeled tokens (no gradients).</summary>
    public double Loss(TrainingBatch batch)
    {
        int n = Prepare(batch);
        for (int l = 0; l < _model.Layers.Count; l++) ForwardLayer(l, ref Layer(l), batch, n);
        return Head(batch, n, 0, backward: false);
    }

    /// <summary>
    /// Runs the batch forward and backward: accumulates lossScale · d(Σ loss)/d(LoRA weights) into the
    /// parameters' gradients and returns the summed loss (unscaled) over the labeled tokens.
    /// </summary>
    public double ForwardBackward(TrainingBatch batch, float lossScale)
    {
        int n = Prepare(batch);
        var c = _model.Config;
        int h = c.HiddenSize;
        for (int l = 0; l < _model.Layers.Count; l++) ForwardLayer(l, ref Layer(l), batch, n);
        new Span<float>(_dh, n * h).Clear();
        double loss = Head(batch, n, lossScale, backward: true);

        // d(final norm)
        new Span<float>(_dX, n * h).Clear();
        float* xL = _x + (long)_model.Layers.Count * n * h;
        fixed (float* w = _model.Norm) RmsNormOp.Backward(xL, w, _rstdFinal, _dh, _dX, n, h);

        int lowest = ComputeInputGradient ? 0 : _lora.Parameters.Min(p => p.Target.Layer);
        for (int l = _model.Layers.Count - 1; l >= lowest; l--)
        {
            if (GradientCheckpointing) ForwardLayer(l, ref _acts[0], batch, n);
            BackwardLayer(l, ref Layer(l), batch, n, needInputGradient: l > lowest || ComputeInputGradient);
        }
        return loss;
    }

    ref Acts Layer(int l) => ref _acts[GradientCheckpointing ? 0 : l];

    int Prepare(TrainingBatch batch)
    {
        int n = batch.Count;
        if (n == 0) throw new ArgumentException("empty batch");
        var c = _model.Config;
        Ensure(n);
        int h = c.HiddenSize, half = c.HeadDim / 2;
        for (int i = 0; i < n; i++)
        {
            int t = batch.Tokens[i];
            if ((uint)t >= (uint)c.VocabSize) throw new ArgumentException($"token id {t} is outside the vocabulary (0..{c.VocabSize - 1})");
            Embedding.DequantizeRow(t, new Span<float>(_x + (long)i * h, h));
            Rope.Angles(batch.Positions[i], _model.RopeInverseFrequencies, _model.RopeAttentionFactor, _cos + (long)i * half, _sin + (long)i * half);
        }
        return n;
    }

    void ForwardLayer(int l, ref Acts A, TrainingBatch batch, int n)
    {
        var c = _model.Config;
        var layer = _model.Layers[l];
        var attn = layer.SelfAttn;
        var mlp = (DenseMlp)layer.Mlp;
        int h = c.HiddenSize, hd = c.HeadDim, H = c.NumAttentionHeads, G = c.NumKeyValueHeads, qd = H * hd, kd = G * hd, half = hd / 2, I = c.IntermediateSize;
        float eps = (float)c.RmsNormEps;
        float* x = _x + (long)l * n * h, xOut = _x + (long)(l + 1) * n * h;

        fixed (float* w = layer.InputLayernorm) RmsNormOp.Forward(x, w, A.H1, A.Rstd1, n, h, eps);
        _linear.Forward(attn.QProj, _lora.For(attn.QProj), A.H1, n, A.QRaw, A.Tq);
        _linear.Forward(attn.KProj, _lora.For(attn.KProj), A.H1, n, A.KRaw, A.Tk);
        _linear.Forward(attn.VProj, _lora.For(attn.VProj), A.H1, n, A.V, A.Tv);
        if (attn.QNorm != null)
        {
            fixed (float* w = attn.QNorm) RmsNormOp.Forward(A.QRaw, w, A.Qn, A.RstdQ, n * H, hd, eps);
            fixed (float* w = attn.KNorm) RmsNormOp.Forward(A.KRaw, w, A.Kn, A.RstdK, n * G, hd, eps);
        }
        else
        {
            Copy(A.QRaw, A.Qn, (long)n * qd);
            Copy(A.KRaw, A.Kn, (long)n * kd);
        }
        Copy(A.Qn, A.Q, (long)n * qd);
        Copy(A.Kn, A.K, (long)n * kd);
        for (int i = 0; i < n; i++)
        {
            RopeOp.Forward(A.Q + (long)i * qd, H, hd, _cos + (long)i * half, _sin + (long)i * half);
            RopeOp.Forward(A.K + (long)i * kd, G, hd, _cos + (long)i * half, _sin + (long)i * half);
        }
        AttentionOp.Forward(_pool, A.Q, A.K, A.V, batch.SegmentStart, n, H, G, hd, A.O, A.Lse);
        _linear.Forward(attn.OProj, _lora.For(attn.OProj), A.O, n, _tmp, A.To);
        Add(x, _tmp, A.XMid, (long)n * h);

        fixed (float* w = layer.PostAttentionLayernorm) RmsNormOp.Forward(A.XMid, w, A.H2, A.Rstd2, n, h, eps);
        _linear.Forward(mlp.GateProj, _lora.For(mlp.GateProj), A.H2, n, A.Gate, A.Tg);
        _linear.Forward(mlp.UpProj, _lora.For(mlp.UpProj), A.H2, n, A.Up, A.Tu);
        SwiGluOp.Forward(A.Gate, A.Up, A.Act, (long)n * I);
        _linear.Forward(mlp.DownProj, _lora.For(mlp.DownProj), A.Act, n, _tmp, A.Td);
        Add(A.XMid, _tmp, xOut, (long)n * h);
    }

    /// <summary>Turns _dX from d loss / d(layer output) into d loss / d(layer input), accumulating LoRA gradients.</summary>
    void BackwardLayer(int l, ref Acts A, TrainingBatch batch, int n, bool needInputGradient)
    {
        var c = _model.Config;
        var layer = _model.Layers[l];
        var attn = layer.SelfAttn;
        var mlp = (DenseMlp)layer.Mlp;
        int h = c.HiddenSize, hd = c.HeadDim, H = c.NumAttentionHeads, G = c.NumKeyValueHeads, qd = H * hd, kd = G * hd, half = hd / 2, I = c.IntermediateSize;
        float* x = _x + (long)l * n * h;

        // MLP block: xOut = xMid + down(silu(gate(h2)) · up(h2)), h2 = norm(xMid)
        Copy(_dX, _dXmid, (long)n * h);
        new Span<float>(_dAct, n * I).Clear();
        _linear.Backward(mlp.DownProj, _lora.For(mlp.DownProj), A.Act, A.Td, _dX, n, _dAct);
        SwiGluOp.Backward(A.Gate, A.Up, _dAct, _dGate, _dUp, (long)n * I);
        new Span<float>(_dh, n * h).Clear();
        _linear.Backward(mlp.GateProj, _lora.For(mlp.GateProj), A.H2, A.Tg, _dGate, n, _dh);
        _linear.Backward(mlp.UpProj, _lora.For(mlp.UpProj), A.H2, A.Tu, _dUp, n, _dh);
        fixed (float* w = layer.PostAttentionLayernorm) RmsNormOp.Backward(A.XMid, w, A.Rstd2, _dh, _dXmid, n, h);

        // Attention block: xMid = x + o_proj(attention(rope(norm(q)), rope(norm(k)), v)), from h1 = norm(x)
        new Span<float>(_dO, n * qd).Clear();
        _linear.Backward(attn.OProj, _lora.For(attn.OProj), A.O, A.To, _dXmid, n, _dO);
        new Span<float>(_dk, n * kd).Clear();
        new Span<float>(_dv, n * kd).Clear();
        AttentionOp.Backward(_pool, A.Q, A.K, A.V, A.O, A.Lse, _dO, batch.SegmentStart, n, H, G, hd, _dq, _dk, _dv);
        for (int i = 0; i < n; i++)
        {
            RopeOp.Backward(_dq + (long)i * qd, H, hd, _cos + (long)i * half, _sin + (long)i * half);
            RopeOp.Backward(_dk + (long)i * kd, G, hd, _cos + (long)i * half, _sin + (long)i * half);
        }
        float* dqRaw = _dq, dkRaw = _dk;
        if (attn.QNorm != null)
        {
            new Span<float>(_dqRaw, n * qd).Clear();
            new Span<float>(_dkRaw, n * kd).Clear();
            fixed (float* w = attn.QNorm) RmsNormOp.Backward(A.QRaw, w, A.RstdQ, _dq, _dqRaw, n * H, hd);
            fixed (float* w = attn.KNorm) RmsNormOp.Backward(A.KRaw, w, A.RstdK, _dk, _dkRaw, n * G, hd);
            dqRaw = _dqRaw;
            dkRaw = _dkRaw;
        }
        float* dh1 = needInputGradient ? _dh : null;
        if (dh1 != null) new Span<float>(_dh, n * h).Clear();
        _linear.Backward(attn.QProj, _lora.For(attn.QProj), A.H1, A.Tq, dqRaw, n, dh1);
        _linear.Backward(attn.KProj, _lora.For(attn.KProj), A.H1, A.Tk, dkRaw, n, dh1);
        _linear.Backward(attn.VProj, _lora.For(attn.VProj), A.H1, A.Tv, _dv, n, dh1);
        if (!needInputGradient) return;
        Copy(_dXmid, _dX, (long)n * h);
        fixed (float* w = layer.InputLayernorm) RmsNormOp.Backward(x, w, A.Rstd1, _dh, _dX, n, h);
    }

    /// <summary>Final norm, LM head and loss; with backward, d loss / d(final norm output) goes to _dh.</summary>
    double Head(TrainingBatch batch, int n, float lossScale, bool backward)
    {
        var c = _model.Config;
        int h = c.HiddenSize;
        float* xL = _x + (long)_model.Layers.Count * n * h;
        fixed (float* w = _model.Norm) RmsNormOp.Forward(xL, w, _hFinal, _rstdFinal, n, h, (float)c.RmsNormEps);
        return _ce.Run(_model.LmHead, _hFinal, batch.Labels, n, lossScale, backward ? _dh : null);
    }

    static void Copy(float* src, float* dst, long count) => Buffer.MemoryCopy(src, dst, count * 4, count * 4);

    static void Add(float* a, float* b, float* dst, long count) =>
        System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(a, (int)count), new ReadOnlySpan<float>(b, (int)count), new Span<float>(dst, (int)count));

    public void Dispose()
    {
        _linear.Dispose();
        _ce.Dispose();
        _keep.Clear();
    }
}

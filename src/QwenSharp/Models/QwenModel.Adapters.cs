using QwenSharp.Lora;

namespace QwenSharp.Models;

public sealed partial class QwenModel
{
    readonly object _adapterLock = new();
    Dictionary<string, Linear>? _linears;
    int _nextAdapterSlot;

    /// <summary>The linear layer at a Hugging Face module path (model.layers.0.self_attn.q_proj), or null.</summary>
    public Linear? FindLinear(string module)
    {
        if (_linears == null)
        {
            var d = new Dictionary<string, Linear>(StringComparer.Ordinal);
            for (int l = 0; l < Layers.Count; l++)
            {
                string p = $"model.layers.{l}";
                var a = Layers[l].SelfAttn;
                d[$"{p}.self_attn.q_proj"] = a.QProj;
                d[$"{p}.self_attn.k_proj"] = a.KProj;
                d[$"{p}.self_attn.v_proj"] = a.VProj;
                d[$"{p}.self_attn.o_proj"] = a.OProj;
                void Dense(string prefix, DenseMlp m)
                {
                    d[$"{prefix}.gate_proj"] = m.GateProj;
                    d[$"{prefix}.up_proj"] = m.UpProj;
                    d[$"{prefix}.down_proj"] = m.DownProj;
                }
                switch (Layers[l].Mlp)
                {
                    case DenseMlp dm: Dense($"{p}.mlp", dm); break;
                    case SparseMoeMlp moe:
                        for (int e = 0; e < moe.Experts.Length; e++) Dense($"{p}.mlp.experts.{e}", moe.Experts[e]);
                        if (moe.SharedExpert != null) Dense($"{p}.mlp.shared_expert", moe.SharedExpert);
                        break;
                }
            }
            _linears = d;
        }
        return _linears.TryGetValue(module, out var lin) ? lin : null;
    }

    /// <summary>
    /// Attaches an adapter for run-time application and returns its slot: sequences whose
    /// <see cref="KvSequence.AdapterSlot"/> is that slot get its LoRA terms; other sequences in the same
    /// batch are unaffected. Base weights are not touched. Slots are never reused (the prefix cache keys
    /// KV blocks by slot).
    /// </summary>
    public int AttachAdapter(LoraAdapter adapter)
    {
        adapter.Validate(Config);
        lock (_adapterLock)
        {
            int slot = _nextAdapterSlot++;
            foreach (var w in adapter.Modules.Values)
            {
                var lin = FindLinear(w.Module)!;
                var next = new LoraWeights?[Math.Max(lin.Adapters.Length, slot + 1)];
                lin.Adapters.CopyTo(next, 0);
                next[slot] = w;
                lin.Adapters = next;
            }
            return slot;
        }
    }

    /// <summary>Removes an adapter from its slot; sequences still using the slot then run the base weights.</summary>
    public void DetachAdapter(int slot)
    {
        lock (_adapterLock)
        {
            FindLinear("model.layers.0.self_attn.q_proj");
            foreach (var lin in _linears!.Values)
            {
                if (slot >= lin.Adapters.Length || lin.Adapters[slot] == null) continue;
                var next = (LoraWeights?[])lin.Adapters.Clone();
                next[slot] = null;
                lin.Adapters = next;
            }
        }
    }
}

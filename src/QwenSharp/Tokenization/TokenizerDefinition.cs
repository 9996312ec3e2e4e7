namespace QwenSharp.Tokenization;

/// <summary>What a tokenizer source (tokenizer.json or a GGUF vocabulary) defines: the BPE model and the added tokens.</summary>
internal sealed record TokenizerDefinition(BpeModel Model, IReadOnlyList<AddedToken> AddedTokens);

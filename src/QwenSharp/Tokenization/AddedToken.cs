namespace QwenSharp.Tokenization;

/// <summary>
/// A token added on top of the BPE vocabulary (Hugging Face's <c>AddedToken</c>): <c>&lt;|im_start|&gt;</c>,
/// <c>&lt;think&gt;</c>... Added tokens are cut out of the text before normalization and pre-tokenization.
/// </summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">Its text.</param>
/// <param name="Special">Skipped by <c>Decode(skipSpecialTokens: true)</c> and read as plain text by <c>Encode(parseSpecialTokens: false)</c>.</param>
/// <param name="Normalized">Matched against the normalized text instead of the raw text.</param>
/// <param name="LStrip">Also takes the whitespace on its left.</param>
/// <param name="RStrip">Also takes the whitespace on its right.</param>
/// <param name="SingleWord">Matches only when not inside a word.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized = false, bool LStrip = false, bool RStrip = false, bool SingleWord = false);

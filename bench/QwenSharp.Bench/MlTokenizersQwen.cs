using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace QwenSharp.Bench;

/// <summary>
/// Qwen's tokenizer.json built as a Microsoft.ML.Tokenizers 2.0.1 BpeTokenizer (byte-level BPE, Qwen's regex
/// in a .NET RegexPreTokenizer, the added tokens as special tokens, an NFC normalizer that leaves added-token
/// spans alone), to measure how exact and how fast that route is next to ours.
/// </summary>
public static class MlTokenizersQwen
{
    public static Tokenizer Create(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? m[0].GetString() + " " + m[1].GetString() : m.GetString()!).ToList();
        var special = root.GetProperty("added_tokens").EnumerateArray().ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        string pattern = root.GetProperty("pre_tokenizer").GetProperty("pretokenizers")[0].GetProperty("pattern").GetProperty("Regex").GetString()!;
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = special,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), special),
            Normalizer = new NfcOutsideAddedTokens(special.Keys),
            ByteLevel = true,
        };
        return BpeTokenizer.Create(options);
    }

    /// <summary>NFC on the text between added tokens (normalizing across them would merge "&gt;" of a token with a following U+0338).</summary>
    sealed class NfcOutsideAddedTokens(IEnumerable<string> tokens) : Normalizer
    {
        readonly string[] _tokens = tokens.OrderByDescending(t => t.Length).ToArray();

        public override string Normalize(string original) => Normalize(original.AsSpan());

        public override string Normalize(ReadOnlySpan<char> original)
        {
            var sb = new StringBuilder(original.Length);
            int start = 0;
            for (int i = 0; i < original.Length; i++)
            {
                if (original[i] != '<') continue;
                foreach (var t in _tokens)
                {
                    if (!original[i..].StartsWith(t)) continue;
                    sb.Append(Nfc(original[start..i])).Append(t);
                    i += t.Length - 1;
                    start = i + 1;
                    break;
                }
            }
            sb.Append(Nfc(original[start..]));
            return sb.ToString();
        }

        static string Nfc(ReadOnlySpan<char> s)
        {
            var str = s.ToString();
            try { return str.Normalize(NormalizationForm.FormC); }
            catch (ArgumentException) { return str; } // .NET refuses U+FFFE; Hugging Face passes it through
        }
    }
}

using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// The raw UTF-8 bytes a token stands for (OpenAI's logprobs "bytes"): byte-level BPE strings such as
/// "Ġthe" are mapped back through GPT-2's byte alphabet; added tokens are their own UTF-8 text.
/// </summary>
public sealed class TokenBytes(QwenTokenizer tokenizer)
{
    static readonly short[] CharToByte = BuildTable();
    readonly HashSet<int> _added = tokenizer.AddedTokens.Select(t => t.Id).ToHashSet();

    static short[] BuildTable()
    {
        var table = new short[0x144];
        Array.Fill(table, (short)-1);
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[printable ? b : 256 + extra++] = (short)b;
        }
        return table;
    }

    public byte[] Of(int id)
    {
        string token;
        try { token = tokenizer.IdToToken(id); }
        catch (ArgumentOutOfRangeException) { return []; }
        if (_added.Contains(id)) return Encoding.UTF8.GetBytes(token);
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            int b = c < CharToByte.Length ? CharToByte[c] : -1;
            if (b < 0) return Encoding.UTF8.GetBytes(token); // not byte-level: its own text
            bytes[i] = (byte)b;
        }
        return bytes;
    }
}

namespace QwenSharp.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet, as Hugging Face's <c>ByteLevel</c> pre-tokenizer and decoder use it:
/// every byte maps to one printable character (<c>bytes_to_unicode</c>). Printable Latin-1 bytes
/// ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes map to U+0100.. in byte order
/// (so a space, 0x20, is 'Ġ' U+0120 and a newline is 'Ċ' U+010A).
/// </summary>
internal static class ByteLevel
{
    /// <summary>The character that stands for each byte.</summary>
    public static readonly char[] ByteToChar = new char[256];

    /// <summary>Inverse of <see cref="ByteToChar"/> for chars below <see cref="CharLimit"/>; -1 where a char is not in the alphabet.</summary>
    static readonly short[] CharToByteTable;

    /// <summary>Every alphabet char is below this (the highest is U+0143).</summary>
    public const int CharLimit = 0x144;

    static ByteLevel()
    {
        CharToByteTable = new short[CharLimit];
        Array.Fill(CharToByteTable, (short)-1);
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char)b : (char)(256 + extra++);
            ByteToChar[b] = c;
            CharToByteTable[c] = (short)b;
        }
    }

    /// <summary>The byte a char of the alphabet stands for, or -1.</summary>
    public static int CharToByte(char c) => c < CharLimit ? CharToByteTable[c] : -1;

    /// <summary>
    /// Appends the bytes a token stands for, the way Hugging Face's ByteLevel decoder does: when every
    /// char of the token is in the alphabet, the bytes they stand for; otherwise (an added token such as
    /// one with CJK text) the token's own UTF-8 bytes.
    /// </summary>
    public static void AppendTokenBytes(string token, ByteBuffer output)
    {
        foreach (char c in token)
        {
            if (CharToByte(c) < 0)
            {
                output.AppendUtf8(token);
                return;
            }
        }
        var span = output.Reserve(token.Length);
        for (int i = 0; i < token.Length; i++) span[i] = (byte)CharToByteTable[token[i]];
    }
}

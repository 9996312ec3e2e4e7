using System.CommandLine;
using System.Text;
using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Tokenization;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// <c>qwensharp tokenize --model PATH (--text TEXT | --jsonl FILE) [--plain]</c>: prints token ids.
/// With --text, one line: the ids as a JSON array. With --jsonl, one line <c>{"ids": [...]}</c> per input
/// line <c>{"text": ...}</c>, in order. PATH is a model folder, a folder with only tokenizer files, or a GGUF.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder, folder with tokenizer.json, or .gguf file", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to tokenize" };
        var jsonl = new Option<string?>("--jsonl") { Description = "File of JSON lines {\"text\": ...}; prints one {\"ids\": [...]} line per input line" };
        var plain = new Option<bool>("--plain") { Description = "Treat special tokens such as <|im_start|> as plain text" };
        var cmd = new Command("tokenize", "Print the token ids of a text with a model's tokenizer") { model, text, jsonl, plain };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string? t = parse.GetValue(text), file = parse.GetValue(jsonl);
            if ((t == null) == (file == null)) throw new CliException("tokenize: give exactly one of --text and --jsonl", 2);
            var tokenizer = Load(parse.GetValue(model)!);
            bool parseSpecial = !parse.GetValue(plain);
            if (t != null)
            {
                output.WriteLine(FormatIds(tokenizer.Encode(t, parseSpecial)));
                return 0;
            }
            return EncodeJsonl(tokenizer, file!, parseSpecial, output);
        });
        return cmd;
    }

    /// <summary>Loads the tokenizer of a model folder, a folder with tokenizer files, or a GGUF file.</summary>
    internal static QwenTokenizer Load(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return FromGguf(path);
                if (Path.GetFileName(path) == "tokenizer.json") return QwenTokenizer.FromDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                throw new CliException($"--model {path}: expected a model folder, a folder with tokenizer.json, or a .gguf file");
            }
            if (!Directory.Exists(path)) throw new CliException($"--model {path}: no such file or folder");
            if (File.Exists(Path.Combine(path, "tokenizer.json"))) return QwenTokenizer.FromDirectory(path);
            var ggufs = Directory.GetFiles(path, "*.gguf");
            if (ggufs.Length == 1) return FromGguf(ggufs[0]);
            throw new CliException(ggufs.Length == 0
                ? $"--model {path}: no tokenizer.json and no .gguf file in this folder"
                : $"--model {path}: no tokenizer.json and {ggufs.Length} .gguf files in this folder; name one");
        }
        catch (Exception e) when (e is ModelFormatException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            throw new CliException(e.Message);
        }
    }

    static QwenTokenizer FromGguf(string path)
    {
        using var gguf = new GgufFile(path);
        return QwenTokenizer.FromGguf(gguf);
    }

    static int EncodeJsonl(QwenTokenizer tokenizer, string file, bool parseSpecial, TextWriter output)
    {
        if (!File.Exists(file)) throw new CliException($"--jsonl {file}: no such file");
        using var reader = new StreamReader(file, new UTF8Encoding(false, throwOnInvalidBytes: true));
        var ids = new List<int>();
        int lineNo = 0;
        string? line;
        while (true)
        {
            try { line = reader.ReadLine(); }
            catch (DecoderFallbackException) { throw new CliException($"{file}:{lineNo + 1}: not valid UTF-8"); }
            if (line == null) break;
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) throw new CliException($"{file}:{lineNo}: empty line (expected {{\"text\": ...}})");
            string text;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("text", out var el) || el.ValueKind != JsonValueKind.String)
                    throw new CliException($"{file}:{lineNo}: expected a JSON object with a string field \"text\"");
                text = el.GetString()!;
            }
            catch (JsonException e) { throw new CliException($"{file}:{lineNo}: not valid JSON ({e.Message})"); }
            ids.Clear();
            tokenizer.Encode(text, ids, parseSpecial);
            output.WriteLine("{\"ids\": " + FormatIds(ids) + "}");
        }
        return 0;
    }

    static string FormatIds(IReadOnlyList<int> ids)
    {
        var sb = new StringBuilder(ids.Count * 7 + 2).Append('[');
        for (int i = 0; i < ids.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(ids[i]);
        }
        return sb.Append(']').ToString();
    }
}

using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Templates;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp template (--model PATH | --template FILE.jinja) (--kwargs FILE.json | --kwargs-jsonl FILE)`:
/// renders a chat template exactly as transformers' apply_chat_template(..., tokenize=False) would.
/// With --kwargs it prints the prompt and nothing else; with --kwargs-jsonl it prints one JSON line per input
/// line, {"output": "..."} or {"error": "..."}.
/// </summary>
public static class TemplateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder, .gguf file or tokenizer_config.json whose chat template to use (ChatML when it has none)" };
        var template = new Option<string?>("--template") { Description = "A Jinja chat template file (.jinja)" };
        var templateName = new Option<string?>("--template-name") { Description = "Which of a model's named templates to use (default: \"default\")" };
        var kwargs = new Option<string?>("--kwargs") { Description = "JSON object with apply_chat_template's arguments: messages, tools, add_generation_prompt, continue_final_message and extra template variables ('-' reads standard input)" };
        var kwargsJsonl = new Option<string?>("--kwargs-jsonl") { Description = "One such JSON object per line; prints one {\"output\": ...} or {\"error\": ...} line per input ('-' reads standard input)" };
        var cmd = new Command("template", "Render a chat template (the model's own Jinja template, as transformers renders it)")
        {
            model, template, templateName, kwargs, kwargsJsonl,
        };
        cmd.SetAction(r =>
        {
            var err = r.InvocationConfiguration.Error;
            try
            {
                return Run(r.GetValue(model), r.GetValue(template), r.GetValue(templateName), r.GetValue(kwargs), r.GetValue(kwargsJsonl),
                    r.InvocationConfiguration.Output, err);
            }
            catch (CliException e)
            {
                // Reported here as Program.Run would (one line), whatever exception handling the invocation uses.
                err.WriteLine($"error: {e.Message}");
                return e.ExitCode;
            }
        });
        return cmd;
    }

    static int Run(string? model, string? templateFile, string? templateName, string? kwargsFile, string? jsonlFile, TextWriter output, TextWriter error)
    {
        if ((model == null) == (templateFile == null)) throw new CliException("give exactly one of --model PATH or --template FILE.jinja", 2);
        if ((kwargsFile == null) == (jsonlFile == null)) throw new CliException("give exactly one of --kwargs FILE.json or --kwargs-jsonl FILE", 2);
        if (templateFile != null && templateName != null) throw new CliException("--template-name applies to --model only", 2);

        var chat = Load(model, templateFile, templateName);
        if (chat.IsFallback) error.WriteLine($"note: {chat.Origin}; using ChatML");

        if (kwargsFile != null)
        {
            var kwargs = ParseKwargs(ReadInput(kwargsFile, "--kwargs"), $"--kwargs {kwargsFile}");
            string prompt;
            try { prompt = chat.Render(kwargs); }
            catch (TemplateException e) { throw new CliException(e.Message); }
            WriteExactly(output, prompt);
            return 0;
        }

        var sb = new StringBuilder();
        int lineNumber = 0;
        foreach (var line in ReadInput(jsonlFile!, "--kwargs-jsonl").Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string result;
            try
            {
                result = JsonLine("output", chat.Render(ParseKwargs(line, $"line {lineNumber}")));
            }
            catch (Exception e) when (e is TemplateException or CliException)
            {
                result = JsonLine("error", e.Message);
            }
            sb.Append(result).Append('\n');
        }
        WriteExactly(output, sb.ToString());
        return 0;
    }

    static ChatTemplate Load(string? model, string? templateFile, string? templateName)
    {
        try
        {
            if (templateFile != null)
            {
                string source;
                try { source = File.ReadAllText(templateFile); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot read --template {templateFile}: {e.Message}"); }
                return ChatTemplate.Parse(source, Path.GetFileName(templateFile));
            }
            return ChatTemplate.FromModel(model!, templateName);
        }
        catch (TemplateException e) { throw new CliException(e.Message); }
        catch (Formats.ModelFormatException e) { throw new CliException(e.Message); }
        catch (FileNotFoundException e) { throw new CliException(e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot read --model {model}: {e.Message}"); }
    }

    static string ReadInput(string path, string option)
    {
        try
        {
            if (path == "-")
            {
                using var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
                return stdin.ReadToEnd();
            }
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {option} {path}: {e.Message}");
        }
    }

    static JsonObject ParseKwargs(string text, string where)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { throw new CliException($"{where}: invalid JSON: {e.Message}"); }
        return node as JsonObject ?? throw new CliException($"{where}: expected a JSON object with \"messages\"");
    }

    static readonly JsonWriterOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static string JsonLine(string key, string value)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, LineOptions))
        {
            w.WriteStartObject();
            w.WriteString(key, value);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes the text as UTF-8 without any change (the console's own encoding could alter it).</summary>
    static void WriteExactly(TextWriter output, string text)
    {
        if (ReferenceEquals(output, Console.Out))
        {
            output.Flush();
            using var stdout = Console.OpenStandardOutput();
            var bytes = new UTF8Encoding(false).GetBytes(text);
            stdout.Write(bytes);
            stdout.Flush();
            return;
        }
        output.Write(text);
        output.Flush();
    }
}

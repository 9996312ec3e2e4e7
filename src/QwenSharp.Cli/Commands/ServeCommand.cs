using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;
using QwenSharp.Server.Security;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp serve --model PATH [--host 127.0.0.1] [--port 8080] [--api-key KEY]`: an OpenAI-compatible
/// server (chat and text completions, streaming, tools, reasoning) with continuous batching. Without API
/// keys it binds loopback only and refuses any other address unless --insecure. Ctrl+C or SIGTERM stops
/// it gracefully: no new requests, in-flight streams get --shutdown-timeout seconds to finish.
/// </summary>
public static class ServeCommand
{
    /// <summary>Environment variable with API keys (separated by commas or whitespace).</summary>
    public const string ApiKeyVariable = "QWENSHARP_API_KEY";

    public static Command Create()
    {
        var flags = new GenerationFlags();
        flags.Model.Required = true;
        var host = new Option<string>("--host") { Description = "Address to listen on: 127.0.0.1 (default), localhost, ::1, 0.0.0.0 (needs API keys or --insecure)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string[]>("--api-key") { Description = $"Accepted bearer key (repeatable; also read from {ApiKeyVariable})", Arity = ArgumentArity.OneOrMore };
        var keysFile = new Option<string?>("--api-keys-file") { Description = "File of accepted keys, one per line ('#' comments)" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow a non-loopback address without API keys (only behind something that authenticates)" };
        var logPrompts = new Option<bool>("--log-prompts") { Description = "Write prompts and completions to the log (off by default)" };
        var rpm = new Option<int?>("--rate-limit-rpm") { Description = "Requests per minute per API key (per client address without keys)" };
        var tpm = new Option<int?>("--rate-limit-tpm") { Description = "Prompt + completion tokens per minute per API key" };
        var maxQueue = new Option<int?>("--max-queue") { Description = "Requests waiting beyond this many are refused with 503 + Retry-After (default 256)" };
        var maxSequences = new Option<int?>("--max-sequences") { Description = "Most sequences decoding together in one batch (default 64)" };
        var maxBatchTokens = new Option<int?>("--max-batch-tokens") { Description = "Most tokens in one forward pass; longer prompts prefill in chunks (default 512)" };
        var maxPrompt = new Option<int?>("--max-prompt-tokens") { Description = "Longest prompt accepted, in tokens (default: the context size)" };
        var maxTokensCap = new Option<int?>("--max-tokens-cap") { Description = "Largest max_tokens a request may ask for; also the default when it asks for none" };
        var maxBody = new Option<long?>("--max-body-bytes") { Description = "Largest request body in bytes (default 8388608)" };
        var kwargs = new Option<string?>("--chat-template-kwargs") { Description = "Default chat_template_kwargs for every request, as JSON, e.g. '{\"enable_thinking\": false}'" };
        var servedName = new Option<string?>("--served-model-name") { Description = "The model name clients send and /v1/models lists (default: the model's folder or file name)" };
        var shutdown = new Option<double?>("--shutdown-timeout") { Description = "Seconds in-flight requests get to finish on shutdown (default 30)" };
        var lenient = new Option<bool>("--ignore-unknown-fields") { Description = "Ignore request fields that are not part of the API instead of answering 400" };
        var cmd = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (continuous batching, API keys, rate limits, /metrics)")
        {
            host, port, apiKey, keysFile, insecure, logPrompts, rpm, tpm, maxQueue, maxSequences, maxBatchTokens, maxPrompt, maxTokensCap, maxBody, kwargs, servedName, shutdown, lenient,
        };
        foreach (var o in new Option[] { flags.Model, flags.Include, flags.Threads, flags.Quantize, flags.KvType, flags.Context }) cmd.Add(o);
        // Synchronous on purpose: ASP.NET Core's host then handles Ctrl+C / SIGTERM itself and drains in-flight streams.
        cmd.SetAction(r =>
        {
            var options = new QwenServerOptions
            {
                AllowInsecure = r.GetValue(insecure),
                LogPrompts = r.GetValue(logPrompts),
                RequestsPerMinute = Positive(r.GetValue(rpm), "--rate-limit-rpm"),
                TokensPerMinute = Positive(r.GetValue(tpm), "--rate-limit-tpm"),
                MaxPromptTokens = Positive(r.GetValue(maxPrompt), "--max-prompt-tokens"),
                MaxTokensCap = Positive(r.GetValue(maxTokensCap), "--max-tokens-cap"),
                MaxBodyBytes = r.GetValue(maxBody) is long b ? (b >= 1024 ? b : throw new CliException($"--max-body-bytes: {b} is too small (at least 1024)", 2)) : 8 * 1024 * 1024,
                ModelName = r.GetValue(servedName),
                RejectUnknownFields = !r.GetValue(lenient),
                ShutdownTimeout = r.GetValue(shutdown) is double s ? (s >= 0 && s <= 3600 ? TimeSpan.FromSeconds(s) : throw new CliException($"--shutdown-timeout: {s} must be between 0 and 3600 seconds", 2)) : TimeSpan.FromSeconds(30),
            };
            foreach (var k in ReadKeys(r.GetValue(apiKey), r.GetValue(keysFile), Environment.GetEnvironmentVariable(ApiKeyVariable))) options.ApiKeys.Add(k);
            if (r.GetValue(kwargs) is { } json)
                foreach (var (k, v) in ParseKwargs(json)) options.DefaultTemplateKwargs[k] = v;
            int? queue = NonNegative(r.GetValue(maxQueue), "--max-queue"), seqs = Positive(r.GetValue(maxSequences), "--max-sequences"), batch = Positive(r.GetValue(maxBatchTokens), "--max-batch-tokens");
            string hostValue = r.GetValue(host)!;
            int portValue = r.GetValue(port);
            if (portValue is < 0 or > 65535) throw new CliException($"--port: {portValue} is not a port number (0..65535)", 2);
            // Refuse a bad address before the (slow) model load.
            try { QwenServer.CheckHost(hostValue, options); }
            catch (ServerConfigurationException e) { throw new CliException(e.Message, 2); }
            var stderr = r.InvocationConfiguration.Error;
            using var qwen = flags.Load(r, stderr, e => e with
            {
                MaxQueuedRequests = queue ?? e.MaxQueuedRequests,
                MaxSequences = seqs ?? e.MaxSequences,
                MaxBatchTokens = batch ?? e.MaxBatchTokens,
            });
            Microsoft.AspNetCore.Builder.WebApplication app;
            try { app = QwenServer.Create(qwen, options, hostValue, portValue); }
            catch (ServerConfigurationException e) { throw new CliException(e.Message, 2); }
            using (app as IDisposable)
            {
                try { app.StartAsync().GetAwaiter().GetResult(); }
                catch (IOException e) { throw new CliException($"cannot listen on {hostValue}:{portValue}: {e.Message}", 1); }
                string keys = options.ApiKeys.Count == 0 ? "no API keys (loopback only)" : $"{options.ApiKeys.Count} API key(s)";
                stderr.WriteLine($"serving {qwen.Name} on {string.Join(", ", QwenServer.Addresses(app))} ({keys}; context {qwen.Engine.MaxSequenceLength} tokens). Ctrl+C stops.");
                // Returns once Ctrl+C / SIGTERM has stopped the host (the drain included).
                app.WaitForShutdownAsync().GetAwaiter().GetResult();
            }
            return 0;
        });
        return cmd;
    }

    static int? Positive(int? v, string flag) => v is int x && x < 1 ? throw new CliException($"{flag}: {x} must be at least 1", 2) : v;
    static int? NonNegative(int? v, string flag) => v is int x && x < 0 ? throw new CliException($"{flag}: {x} must not be negative", 2) : v;

    /// <summary>Keys from --api-key, --api-keys-file and the environment variable, checked.</summary>
    public static List<string> ReadKeys(string[]? flags, string? file, string? environment)
    {
        var keys = new List<string>();
        foreach (var k in flags ?? [])
        {
            if (string.IsNullOrWhiteSpace(k) || k.Any(char.IsWhiteSpace)) throw new CliException("--api-key: a key must be one non-empty word", 2);
            keys.Add(k);
        }
        if (file != null)
        {
            try { keys.AddRange(ApiKeyStore.ReadKeysFile(file)); }
            catch (Exception e) when (e is FileNotFoundException or FormatException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"--api-keys-file: {e.Message}", 2);
            }
        }
        keys.AddRange(ApiKeyStore.ParseList(environment));
        return keys;
    }

    /// <summary>--chat-template-kwargs: a JSON object.</summary>
    public static JsonObject ParseKwargs(string json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new CliException("--chat-template-kwargs: expected a JSON object, e.g. '{\"enable_thinking\": false}'", 2);
        }
        catch (JsonException e) { throw new CliException($"--chat-template-kwargs: not valid JSON: {e.Message}", 2); }
    }
}

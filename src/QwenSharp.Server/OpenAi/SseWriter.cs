using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// Server-sent events as OpenAI streams them: <c>data: {json}\n\n</c> per chunk, flushed at once, then
/// <c>data: [DONE]\n\n</c>. Safe to call from several choice pumps (one writer at a time).
/// </summary>
public sealed class SseWriter : IDisposable
{
    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    static readonly byte[] Prefix = "data: "u8.ToArray();
    static readonly byte[] Suffix = "\n\n"u8.ToArray();
    static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    readonly HttpResponse _response;
    readonly CancellationToken _ct;
    readonly SemaphoreSlim _lock = new(1, 1);
    readonly ArrayBufferWriter<byte> _buffer = new(1024);
    readonly Utf8JsonWriter _json;

    public SseWriter(HttpContext ctx, CancellationToken ct)
    {
        _response = ctx.Response;
        _ct = ct;
        _json = new Utf8JsonWriter(_buffer, WriterOptions);
    }

    /// <summary>Sends the 200 and the event-stream headers.</summary>
    public async Task StartAsync(string requestId)
    {
        _response.StatusCode = StatusCodes.Status200OK;
        _response.ContentType = "text/event-stream; charset=utf-8";
        _response.Headers.CacheControl = "no-cache";
        _response.Headers["X-Accel-Buffering"] = "no";
        _response.Headers["X-Request-Id"] = requestId;
        _response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await _response.StartAsync(_ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The last chunk of a stream with <c>stream_options.include_usage</c>: the chunk header, no choices, and
    /// the usage totals of the whole request.
    /// </summary>
    public Task WriteUsageAsync(Action<Utf8JsonWriter> header, OpenAiJson.UsageTotals usage) => WriteAsync(w =>
    {
        w.WriteStartObject();
        header(w);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        usage.Write(w);
        w.WriteEndObject();
    });

    /// <summary>Writes one event whose JSON <paramref name="build"/> writes.</summary>
    public async Task WriteAsync(Action<Utf8JsonWriter> build)
    {
        await _lock.WaitAsync(_ct).ConfigureAwait(false);
        try
        {
            _buffer.ResetWrittenCount();
            _json.Reset(_buffer);
            _buffer.Write(Prefix);
            build(_json);
            _json.Flush();
            _buffer.Write(Suffix);
            await _response.Body.WriteAsync(_buffer.WrittenMemory, _ct).ConfigureAwait(false);
            await _response.Body.FlushAsync(_ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task DoneAsync()
    {
        await _lock.WaitAsync(_ct).ConfigureAwait(false);
        try
        {
            await _response.Body.WriteAsync(Done, _ct).ConfigureAwait(false);
            await _response.Body.FlushAsync(_ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Throws when the stream was cancelled (client gone, shutdown).</summary>
    public void ThrowIfCancelled() => _ct.ThrowIfCancellationRequested();

    public void Dispose()
    {
        _json.Dispose();
        _lock.Dispose();
    }
}

using System.Text;
using System.Text.Json.Nodes;

namespace QwenSharp.Router;

/// <summary>
/// Reads a replica's server-sent-event stream for the client. Bytes pass through as they arrive, one whole event
/// at a time (a partial event is held until its blank line comes, normally in the same read). If the replica
/// fails before the stream's end (connection reset, the chunked body cut short), the client gets an OpenAI-style
/// error event and <c>data: [DONE]</c> after the last whole event instead of a broken connection, and the stream
/// ends cleanly.
/// </summary>
public sealed class SseGuardStream(Stream inner, Action<Exception> onFailure) : Stream
{
    static readonly byte[] DoneEvent = "data: [DONE]"u8.ToArray();
    readonly byte[] _read = new byte[16 * 1024];
    byte[] _partial = new byte[4096];
    int _partialLength;
    byte[] _ready = [];
    int _readyStart, _readyLength;
    bool _ended, _sawDone;

    /// <summary>The error event the client gets when the replica fails mid-stream.</summary>
    public static byte[] ErrorEvent(string message)
    {
        var body = new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["message"] = message,
                ["type"] = "server_error",
                ["param"] = null,
                ["code"] = "backend_failed",
            },
        };
        return Encoding.UTF8.GetBytes("data: " + body.ToJsonString() + "\n\ndata: [DONE]\n\n");
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_readyLength > 0)
            {
                int n = Math.Min(buffer.Length, _readyLength);
                _ready.AsSpan(_readyStart, n).CopyTo(buffer.Span);
                _readyStart += n;
                _readyLength -= n;
                return n;
            }
            if (_ended) return 0;

            int read;
            try
            {
                read = await inner.ReadAsync(_read, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                _ended = true;
                if (_sawDone) return 0;
                onFailure(e);
                // Whatever part of an event had arrived is dropped: the client must not parse half an event.
                SetReady(ErrorEvent("the model server handling this request failed mid-stream; the response is incomplete"));
                continue;
            }
            if (read == 0)
            {
                // A clean end: pass on whatever the replica sent last, whole or not.
                _ended = true;
                SetReady(_partial.AsSpan(0, _partialLength).ToArray());
                _partialLength = 0;
                continue;
            }
            Append(_read.AsSpan(0, read));
            int boundary = LastEventEnd(_partial.AsSpan(0, _partialLength));
            if (boundary > 0)
            {
                var events = _partial.AsSpan(0, boundary);
                _sawDone = EndsWithDone(events);
                SetReady(events.ToArray());
                _partial.AsSpan(boundary, _partialLength - boundary).CopyTo(_partial);
                _partialLength -= boundary;
            }
        }
    }

    void Append(ReadOnlySpan<byte> data)
    {
        if (_partialLength + data.Length > _partial.Length) Array.Resize(ref _partial, Math.Max(_partial.Length * 2, _partialLength + data.Length));
        data.CopyTo(_partial.AsSpan(_partialLength));
        _partialLength += data.Length;
    }

    void SetReady(byte[] bytes)
    {
        _ready = bytes;
        _readyStart = 0;
        _readyLength = bytes.Length;
    }

    /// <summary>The end of the last event (just past its blank line: "\n\n" or "\r\n\r\n"), or 0.</summary>
    static int LastEventEnd(ReadOnlySpan<byte> s)
    {
        for (int i = s.Length - 1; i >= 1; i--)
            if (s[i] == '\n' && (s[i - 1] == '\n' || (i >= 3 && s[i - 1] == '\r' && s[i - 2] == '\n' && s[i - 3] == '\r'))) return i + 1;
        return 0;
    }

    /// <summary>Whether the last event of <paramref name="events"/> is <c>data: [DONE]</c>.</summary>
    static bool EndsWithDone(ReadOnlySpan<byte> events)
    {
        var t = events.TrimEnd("\r\n"u8);
        int start = Math.Max(t.LastIndexOf((byte)'\n') + 1, 0);
        return t[start..].SequenceEqual(DoneEvent);
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

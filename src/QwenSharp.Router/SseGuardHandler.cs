using System.Net;

namespace QwenSharp.Router;

/// <summary>
/// Sits between YARP's forwarder and the replicas: wraps every <c>text/event-stream</c> response body in a
/// <see cref="SseGuardStream"/>, so a replica failing mid-stream ends the client's stream with an error event
/// rather than a reset connection. The request says which replica it went to (<see cref="BackendKey"/>) for the
/// failure callback.
/// </summary>
public sealed class SseGuardHandler(HttpMessageHandler inner, Action<Backend, Exception> onStreamFailure) : DelegatingHandler(inner)
{
    public static readonly HttpRequestOptionsKey<Backend> BackendKey = new("QwenSharp.Router.Backend");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.OK
            && response.Content.Headers.ContentType?.MediaType == "text/event-stream"
            && request.Options.TryGetValue(BackendKey, out var backend))
        {
            response.Content = new GuardedContent(response.Content, e => onStreamFailure(backend, e));
        }
        return response;
    }

    sealed class GuardedContent : HttpContent
    {
        readonly HttpContent _inner;
        readonly Action<Exception> _onFailure;

        public GuardedContent(HttpContent inner, Action<Exception> onFailure)
        {
            _inner = inner;
            _onFailure = onFailure;
            foreach (var h in inner.Headers) Headers.TryAddWithoutValidation(h.Key, h.Value);
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new SseGuardStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), _onFailure);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var s = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
            await s.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

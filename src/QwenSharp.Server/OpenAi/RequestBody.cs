using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace QwenSharp.Server.OpenAi;

/// <summary>Reads a request body as one JSON object, never more than a size limit (413 above it).</summary>
public static class RequestBody
{
    static readonly JsonNodeOptions NodeOptions = new() { PropertyNameCaseInsensitive = false };
    static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, AllowDuplicateProperties = false };

    public static async Task<JsonObject> ReadObjectAsync(HttpContext ctx, long maxBytes)
    {
        if (ctx.Request.ContentLength is long declared && declared > maxBytes) throw TooLarge(maxBytes);
        var feature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = maxBytes;

        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, maxBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int read;
                try { read = await ctx.Request.Body.ReadAsync(buffer.AsMemory(length), ctx.RequestAborted).ConfigureAwait(false); }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge) { throw TooLarge(maxBytes); }
                catch (BadHttpRequestException e) { throw new OpenAiException(e.StatusCode, "the request body could not be read: " + e.Message); }
                if (read == 0) break;
                length += read;
                if (length > maxBytes) throw TooLarge(maxBytes);
            }
            if (length == 0) throw OpenAiException.BadRequest("the request body is empty; send a JSON object", code: "invalid_json");
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(buffer.AsSpan(0, length), NodeOptions, DocumentOptions);
                if (node is JsonObject o) foreach (var _ in o) { } // materialize now, so any problem surfaces here
            }
            catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
            {
                throw OpenAiException.BadRequest("the request body is not valid JSON: " + e.Message, code: "invalid_json");
            }
            return node as JsonObject ?? throw OpenAiException.BadRequest("the request body must be a JSON object", code: "invalid_json");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    static OpenAiException TooLarge(long max) =>
        new(413, $"the request body is larger than this server's limit of {max} bytes", code: "request_too_large");
}

namespace QwenSharp.Router;

/// <summary>Why a replica was chosen; the label of <c>qwensharp_router_routing_total</c>.</summary>
public enum RouteReason
{
    /// <summary>An earlier request with the same prefix went there (affinity table).</summary>
    PrefixTable,
    /// <summary>Rendezvous hashing of the conversation's opening picked it (first turn, or the table forgot).</summary>
    PrefixHash,
    /// <summary>The prefix's replica was overloaded or gone: the least-loaded healthy one instead.</summary>
    LeastLoaded,
    /// <summary>The request has no prompt prefix (or could not be read): the least-loaded healthy one.</summary>
    NoPrefix,
}

/// <summary>The replica chosen for one attempt at a request, and why.</summary>
public sealed record RouteDecision(Backend Backend, RouteReason Reason)
{
    public static string Label(RouteReason r) => r switch
    {
        RouteReason.PrefixTable => "prefix_table",
        RouteReason.PrefixHash => "prefix_hash",
        RouteReason.LeastLoaded => "least_loaded",
        _ => "no_prefix",
    };
}

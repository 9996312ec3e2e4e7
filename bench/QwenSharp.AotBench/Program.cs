using QwenSharp.Engine;
using QwenSharp.Models;

// qwensharp-aot-bench MODEL.gguf [--prompt 512] [--gen 128] [--runs 3] [--threads 2] [--ubatch 128] [--json]
// The same measurement as `qwensharp bench` (ModelBenchmark.Measure), F16 KV cache.
if (args.Length == 0 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine("usage: QwenSharp.AotBench MODEL [--prompt N] [--gen N] [--runs N] [--threads N] [--ubatch N] [--json]");
    return 2;
}
string path = args[0];
int prompt = 512, gen = 128, runs = 3, threads = WorkerPool.DefaultThreads, ubatch = ForwardContext.DefaultMicroBatchTokens;
bool json = false;
for (int i = 1; i < args.Length; i++)
{
    int Next(string name) => i + 1 < args.Length && int.TryParse(args[++i], out int v) && v >= 1
        ? v : throw new ArgumentException($"{name} needs a positive whole number");
    switch (args[i])
    {
        case "--prompt": prompt = Next("--prompt"); break;
        case "--gen": gen = Next("--gen"); break;
        case "--runs": runs = Next("--runs"); break;
        case "--threads": threads = Next("--threads"); break;
        case "--ubatch": ubatch = Next("--ubatch"); break;
        case "--json": json = true; break;
        default: Console.Error.WriteLine($"error: unknown option '{args[i]}'"); return 2;
    }
}
using var pool = new WorkerPool(threads);
var sw = System.Diagnostics.Stopwatch.StartNew();
using var model = QwenModel.Load(path);
double load = sw.Elapsed.TotalSeconds;
var r = ModelBenchmark.Measure(model, pool, prompt, gen, runs, KvCacheType.F16, load, ubatch);
if (json) Console.WriteLine(r.ToJson());
else Console.Write(r.ToText(path, prompt, gen));
return 0;

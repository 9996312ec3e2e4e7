using System.Reflection;

namespace QwenSharp.Bench;

/// <summary>One benchmark, run as `dotnet run -c Release --project bench/QwenSharp.Bench -- NAME [args]`.</summary>
public interface IBenchmark
{
    string Name { get; }
    string Description { get; }
    int Run(string[] args);
}

public static class Program
{
    public static int Main(string[] args)
    {
        var benches = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
            .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
            .OrderBy(b => b.Name).ToList();
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: QwenSharp.Bench NAME [args]\n");
            foreach (var b in benches) Console.WriteLine($"  {b.Name,-16} {b.Description}");
            return args.Length == 0 ? 1 : 0;
        }
        var bench = benches.FirstOrDefault(b => b.Name == args[0]);
        if (bench == null) { Console.Error.WriteLine($"unknown benchmark '{args[0]}'"); return 2; }
        return bench.Run(args[1..]);
    }
}

namespace QwenSharp.Tests;

/// <summary>Where the tests find their data.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>The fixtures committed to this repository (tests/fixtures).</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>
    /// The full shared fixture set, when the environment variable QWENSHARP_SHARED_FIXTURES points at it
    /// (.ci/run sets it when ../shared/fixtures exists). Null otherwise: tests of the full set then report
    /// themselves as skipped through <see cref="SharedFixtureFactAttribute"/>.
    /// </summary>
    public static string? SharedFixtures
    {
        get
        {
            var p = Environment.GetEnvironmentVariable("QWENSHARP_SHARED_FIXTURES");
            return !string.IsNullOrEmpty(p) && Directory.Exists(p) ? Path.GetFullPath(p) : null;
        }
    }

    public static string NewTempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "qwensharp-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (QwenSharp.slnx) above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs the full shared fixture set; skipped, with the reason shown, when it is absent.</summary>
public sealed class SharedFixtureFactAttribute : FactAttribute
{
    public SharedFixtureFactAttribute()
    {
        if (TestPaths.SharedFixtures == null)
            Skip = "full fixture set not available: set QWENSHARP_SHARED_FIXTURES to ../shared/fixtures (.ci/run does when it exists)";
    }
}

/// <summary>A theory over the full shared fixture set; skipped, with the reason shown, when it is absent.</summary>
public sealed class SharedFixtureTheoryAttribute : TheoryAttribute
{
    public SharedFixtureTheoryAttribute()
    {
        if (TestPaths.SharedFixtures == null)
            Skip = "full fixture set not available: set QWENSHARP_SHARED_FIXTURES to ../shared/fixtures (.ci/run does when it exists)";
    }
}

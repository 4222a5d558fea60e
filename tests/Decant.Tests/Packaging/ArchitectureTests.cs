using Decant.Tests.Support;

namespace Decant.Tests.Packaging;

/// <summary>The folders of the library form a one-way chain, and the architecture page shows the chain as it is.</summary>
public class ArchitectureTests
{
    [Fact]
    public async Task FoldersDependOneWayAndTheArchitecturePageShowsTheMatrix()
    {
        var result = await Tools.RunAsync("python3", [Path.Combine(RealImages.FindRepositoryRoot(), "scripts", "folder-deps.py"), "--markdown"], CancellationToken.None);
        Assert.True(result.ExitCode == 0, "the library's folders depend on each other in a cycle:\n" + result.StandardError);
        string matrix = result.StandardOutput.Trim();
        Assert.StartsWith("| depends on → |", matrix, StringComparison.Ordinal);
        string page = await File.ReadAllTextAsync(Path.Combine(RealImages.FindRepositoryRoot(), "docs", "architecture.md"));
        Assert.True(page.Contains(matrix, StringComparison.Ordinal), "docs/architecture.md does not show the current matrix; paste the output of scripts/folder-deps.py --markdown:\n" + matrix);
    }
}

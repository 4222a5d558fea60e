using Decant.Tests.Support;
using static Decant.Tests.Cli.CliProcess;

namespace Decant.Tests.Cli;

/// <summary>
/// <c>--creds USER</c> without a password against the htpasswd registry: asked for on a terminal
/// (without echo), read from stdin with <c>--password-stdin</c>, and refused clearly when neither
/// can work. Every run has an empty HOME, so no credentials of the host leak in.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class CliCredentialTests(RegistryFixture registries) : RegistryTest(registries)
{
    private readonly ScratchDirectory _scratch = new();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _scratch.Dispose();
        }
        base.Dispose(disposing);
    }

    private string Image => RegistryFixture.Reference(Registries.Basic, RegistryFixture.UmociMulti);

    private Dictionary<string, string?> Environment => new()
    {
        ["HOME"] = _scratch.Path,
        ["REGISTRY_AUTH_FILE"] = null,
        ["DOCKER_CONFIG"] = null,
        ["XDG_RUNTIME_DIR"] = null,
        ["XDG_CONFIG_HOME"] = null,
    };

    [Fact]
    public async Task APasswordMissingFromCredsIsAskedForOnTheTerminalWithoutEcho()
    {
        string output = _scratch.Combine("rootfs");
        using var terminal = StartInTerminal(["export", Image, "-o", output, "--creds", RegistryFixture.BasicUser, "--progress", "plain", "--retries", "0"], environment: Environment);
        await terminal.WaitForAsync($"Password for {RegistryFixture.BasicUser}: ", TimeSpan.FromMinutes(1));
        await terminal.TypeAsync(RegistryFixture.BasicPassword + "\r");
        int exitCode = await terminal.WaitForExitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 0, terminal.Output);
        Assert.DoesNotContain(RegistryFixture.BasicPassword, terminal.Output, StringComparison.Ordinal);
        Assert.True(Directory.EnumerateFileSystemEntries(output).Any());
    }

    [Fact]
    public async Task AWrongPasswordTypedOnTheTerminalIsUnauthorized()
    {
        using var terminal = StartInTerminal(["export", Image, "-o", _scratch.Combine("rootfs"), "--creds", RegistryFixture.BasicUser, "--progress", "plain", "--retries", "0"], environment: Environment);
        await terminal.WaitForAsync("Password for", TimeSpan.FromMinutes(1));
        await terminal.TypeAsync("not-the-password\r");
        Assert.Equal(12, await terminal.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.False(Path.Exists(_scratch.Combine("rootfs")));
    }

    [Fact]
    public async Task PasswordStdinReadsThePasswordFromStandardInput()
    {
        string output = _scratch.Combine("rootfs");
        var result = await RunAsync(["export", Image, "-o", output, "--creds", RegistryFixture.BasicUser, "--password-stdin", "--progress", "none", "--retries", "0"],
            standardInput: RegistryFixture.BasicPassword + "\n", environment: Environment);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.True(Directory.EnumerateFileSystemEntries(output).Any());
    }

    [Fact]
    public async Task InspectTakesPasswordStdinToo()
    {
        var result = await RunAsync(["inspect", Image, "--creds", RegistryFixture.BasicUser, "--password-stdin", "--retries", "0"],
            standardInput: RegistryFixture.BasicPassword, environment: Environment);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("\"manifestDigest\"", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutATerminalOrPasswordStdinAMissingPasswordIsAUsageError()
    {
        var result = await RunAsync(["export", Image, "-o", _scratch.Combine("rootfs"), "--creds", RegistryFixture.BasicUser], environment: Environment);
        AssertOneLineError(result, 2, "use --password-stdin or --creds USER:PASSWORD");
        Assert.False(Path.Exists(_scratch.Combine("rootfs")));
    }

    [Theory]
    [InlineData(new[] { "--password-stdin" }, "--password-stdin needs --creds USER")]
    [InlineData(new[] { "--password-stdin", "--creds", "user:secret" }, "give the password one way")]
    [InlineData(new[] { "--password-stdin", "--creds", "user" }, "standard input held no password")]
    public async Task PasswordStdinConflictsAreUsageErrors(string[] arguments, string message)
    {
        var result = await RunAsync(["export", Image, "-o", _scratch.Combine("rootfs"), .. arguments], environment: Environment);
        AssertOneLineError(result, 2, message);
        Assert.False(Path.Exists(_scratch.Combine("rootfs")));
    }
}

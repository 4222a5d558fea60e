using System.Diagnostics;
using System.Text;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// A program running beside a test: what it prints is collected as it comes, so the test can wait
/// for a line, write to its stdin, and wait for its exit. Disposing kills it if it still runs.
/// </summary>
internal sealed class ObservedProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ObservedProcess(Process process)
    {
        _process = process;
    }

    /// <summary>Everything the program printed so far, stdout and stderr interleaved by line.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static ObservedProcess Start(IReadOnlyList<string> command)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var observed = new ObservedProcess(process);
        process.OutputDataReceived += (_, e) => observed.Append(e.Data);
        process.ErrorDataReceived += (_, e) => observed.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return observed;
    }

    /// <summary>Waits until the program printed <paramref name="text"/> (ignoring case); fails if it exits first or the time runs out.</summary>
    public async Task WaitForAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.OrdinalIgnoreCase))
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(cancellationToken);
                if (Output.Contains(text, StringComparison.OrdinalIgnoreCase))
                {
                    return;
                }
                throw new InvalidOperationException($"{_process.StartInfo.FileName} exited ({_process.ExitCode}) before printing \"{text}\":\n{Output}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{_process.StartInfo.FileName} did not print \"{text}\" within {timeout}:\n{Output}");
            }
            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>Closes the program's stdin.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for the program to exit and returns its exit code (after all its output arrived).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }
}

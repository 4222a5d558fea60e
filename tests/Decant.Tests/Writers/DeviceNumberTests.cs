using Decant.Export;
using Decant.Model;
using Decant.Tests.Layers;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;

namespace Decant.Tests.Writers;

/// <summary>
/// Device numbers come out exactly or not at all: 16777217:1 truncated is 1:1 (/dev/mem), and
/// major 4096 in ext4's encoding overflows into the minor. The tar output holds any 32-bit number
/// (base-256 past seven octal digits); ext4 and Linux hold a 12-bit major and a 20-bit minor, and
/// refuse more as an unsafe layer. Read back with independent tools: Python's tarfile, GNU tar, debugfs.
/// </summary>
public class DeviceNumberTests
{
    private static readonly (string Name, char Type, long Major, long Minor)[] Representable =
    [
        ("dev/small", '3', 1, 3),
        ("dev/old-limit", '4', 255, 255),
        ("dev/wide-minor", '3', 300, 70_000),
        ("dev/max", '3', 4095, 1_048_575),
    ];

    private static readonly (string Name, char Type, long Major, long Minor)[] TooLargeForLinux =
    [
        ("dev/huge-major", '3', 16_777_217, 1),
        ("dev/major-4096", '3', 4096, 0),
        ("dev/huge-minor", '4', 8, 1_048_576),
    ];

    private static byte[] Layer(params (string Name, char Type, long Major, long Minor)[] devices)
    {
        var tar = new TarBlocks().Add(TarBlocks.Header("dev/", '5', mode: 493));
        foreach (var (name, type, major, minor) in devices)
        {
            tar.Add(TarBlocks.Header(name, type, mode: 438, edit: b => { Number(b, 329, major); Number(b, 337, minor); }));
        }
        return tar.End().ToArray();
    }

    /// <summary>An independent producer's encoding: octal when it fits seven digits, else GNU base-256.</summary>
    private static void Number(byte[] block, int offset, long value)
    {
        if (value <= 0x1F_FFFF)
        {
            TarBlocks.Octal(block, offset, 8, value);
        }
        else
        {
            TarBlocks.Base256(block, offset, 8, value);
        }
    }

    [Fact]
    public async Task TarOutputKeepsEveryDeviceNumberExactly()
    {
        using var scratch = new ScratchDirectory();
        var all = Representable.Concat(TooLargeForLinux).ToArray();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [Layer(all)]);
        string output = scratch.Combine("rootfs.tar");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = OutputFormat.Tar });

        var python = await Tools.RunCheckedAsync("python3", ["-c", """
            import sys, tarfile
            for m in tarfile.open(sys.argv[1]):
                if m.ischr() or m.isblk():
                    print(m.name, "c" if m.ischr() else "b", m.devmajor, m.devminor)
            """, output], CancellationToken.None);
        var expected = all.Select(d => $"{d.Name} {(d.Type == '3' ? 'c' : 'b')} {d.Major} {d.Minor}").Order(StringComparer.Ordinal);
        Assert.Equal(expected, python.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

        var gnu = await Tools.RunCheckedAsync("tar", ["tvf", output], CancellationToken.None);
        foreach (var (name, _, major, minor) in all)
        {
            Assert.Matches($@"\s{major},{minor}\s.*\s{name}\n", gnu.StandardOutput);
        }
    }

    [Fact]
    public async Task Ext4OutputEncodesDevicesAsTheKernelReadsThem()
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [Layer(Representable)]);
        string image = scratch.Combine("rootfs.ext4");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = image, Format = OutputFormat.Ext4 });

        await Ext4Images.AssertCleanAsync(image);
        foreach (var (name, _, major, minor) in Representable)
        {
            string stat = await Ext4Images.DebugFsAsync(image, $"stat /{name}");
            Assert.Contains($"Device major/minor number: {major:D2}:{minor:D2}", stat, StringComparison.Ordinal);
        }
    }

    public static TheoryData<string, OutputFormat> TooLarge()
    {
        var data = new TheoryData<string, OutputFormat>();
        foreach (var device in TooLargeForLinux)
        {
            data.Add(device.Name, OutputFormat.Ext4);
            data.Add(device.Name, OutputFormat.Directory);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TooLarge))]
    public async Task DeviceNumbersTheOutputCannotHoldAreRefused(string name, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        var device = TooLargeForLinux.Single(d => d.Name == name);
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [Layer(device)]);
        System.IO.Directory.CreateDirectory(scratch.Combine("out"));
        string output = scratch.Combine("out", Formats.OutputName(format));

        var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = format }));

        Assert.Equal(DecantErrorKind.UnsafeLayer, error.Kind);
        Assert.Contains($"{name}\" is {device.Major}:{device.Minor}", error.Message, StringComparison.Ordinal);
        Assert.Empty(System.IO.Directory.GetFileSystemEntries(scratch.Combine("out")));
    }
}

using Decant.Model;
using Decant.Tree;

namespace Decant.Writers;

/// <summary>
/// The device numbers a Linux filesystem can hold: the kernel's dev_t (and ext4's inode encoding)
/// has a 12-bit major and a 20-bit minor. A larger number would alias another device (16777217:1
/// truncated to 1:1 is /dev/mem), so it is refused, never truncated.
/// </summary>
internal static class DeviceNumbers
{
    public const uint MaxMajor = 0xFFF;
    public const uint MaxMinor = 0xF_FFFF;

    /// <summary>Refuses a device whose numbers <paramref name="format"/> cannot hold.</summary>
    public static void CheckLinux(Inode inode, string path, string format)
    {
        if (inode.DeviceMajor > MaxMajor || inode.DeviceMinor > MaxMinor)
        {
            string kind = inode.Kind == NodeKind.BlockDevice ? "block device" : "character device";
            throw new DecantException(DecantErrorKind.UnsafeLayer,
                $"the {kind} \"{path}\" is {inode.DeviceMajor}:{inode.DeviceMinor}; {format} holds majors up to {MaxMajor} and minors up to {MaxMinor}, and a truncated number would name another device");
        }
    }
}

using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;

namespace Decant.Cli;

/// <summary>
/// <c>--help</c> as System.CommandLine writes it (aliases, <c>[default: …]</c>, <c>(REQUIRED)</c>,
/// column layout), with a command's "Options:" section split into named groups. System.CommandLine
/// 2.0 keeps its help builder internal, so its text is regrouped row by row.
/// </summary>
internal static class HelpLayout
{
    private static readonly Dictionary<Command, (string Title, Option[] Options)[]> s_groups = [];

    /// <summary>Lists <paramref name="command"/>'s options under these headings, in this order; the rest (such as --help) follow under "Other options".</summary>
    public static void Group(Command command, params (string Title, Option[] Options)[] groups) => s_groups[command] = groups;

    /// <summary>Makes the root's (recursive) help option write grouped help.</summary>
    public static void Install(RootCommand root)
    {
        foreach (var help in root.Options.OfType<HelpOption>())
        {
            help.Action = new GroupedHelpAction(help.Action as HelpAction ?? new HelpAction());
        }
    }

    /// <summary>Regroups the rows of the "Options:" section of <paramref name="help"/>; rows of options not in a group go last, under "Other options".</summary>
    internal static string Regroup(string help, (string Title, Option[] Options)[] groups)
    {
        var lines = help.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        int start = Array.IndexOf(lines, "Options:");
        if (start < 0)
        {
            return help;
        }
        int end = start + 1;
        while (end < lines.Length && lines[end].Length > 0)
        {
            end++;
        }
        // A row starts with two spaces and a dash; wrapped description lines are indented further.
        var rows = new List<(string[] Names, List<string> Lines)>();
        for (int i = start + 1; i < end; i++)
        {
            if (lines[i].StartsWith("  -", StringComparison.Ordinal) || rows.Count == 0)
            {
                var names = lines[i].Trim().Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Where(w => w.StartsWith('-')).ToArray();
                rows.Add((names, [lines[i]]));
            }
            else
            {
                rows[^1].Lines.Add(lines[i]);
            }
        }
        var output = new StringBuilder();
        foreach (string line in lines[..start])
        {
            output.Append(line).Append('\n');
        }
        var used = new HashSet<int>();
        void Section(string title, IEnumerable<int> members)
        {
            var chosen = members.Where(used.Add).ToList();
            if (chosen.Count == 0)
            {
                return;
            }
            output.Append(title).Append(":\n");
            foreach (int row in chosen)
            {
                foreach (string line in rows[row].Lines)
                {
                    output.Append(line).Append('\n');
                }
            }
            output.Append('\n');
        }
        foreach (var (title, options) in groups)
        {
            Section(title, options.SelectMany(option => Enumerable.Range(0, rows.Count).Where(r => rows[r].Names.Contains(option.Name, StringComparer.Ordinal))));
        }
        Section("Other options", Enumerable.Range(0, rows.Count));
        foreach (string line in lines[(end + 1)..])
        {
            output.Append(line).Append('\n');
        }
        return output.ToString().TrimEnd('\n') + "\n";
    }

    private sealed class GroupedHelpAction(HelpAction standard) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            if (!s_groups.TryGetValue(parseResult.CommandResult.Command, out var groups))
            {
                return standard.Invoke(parseResult);
            }
            var configuration = parseResult.InvocationConfiguration;
            var terminal = configuration.Output;
            using var text = new StringWriter();
            configuration.Output = text;
            try
            {
                standard.Invoke(parseResult);
            }
            finally
            {
                configuration.Output = terminal;
            }
            terminal.Write(Regroup(text.ToString(), groups));
            return 0;
        }
    }
}

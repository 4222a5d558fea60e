using Decant.Model;

namespace Decant.Writers.Directory;

/// <summary>
/// Commit work over the tree's walk split into contiguous runs, one worker per core (so each
/// worker's one cached parent handle is reused along its run), for work whose items are each done
/// on their own, so their order does not matter.
/// </summary>
internal static class ContiguousRuns
{
    /// <summary>
    /// Calls <paramref name="run"/> with the start and end of each run of <paramref name="count"/>
    /// items, on one thread when there are fewer than <paramref name="perWorker"/> items a worker (a
    /// thread costs more than it saves). A worker's failure is rethrown as one thread would have
    /// reported it: a named file and its error.
    /// </summary>
    public static void Run(int count, int perWorker, Action<int, int> run, CancellationToken cancellationToken)
    {
        int workers = Math.Clamp(count / perWorker, 1, Environment.ProcessorCount);
        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = cancellationToken },
                worker => run(worker * count / workers, (worker + 1) * count / workers));
        }
        catch (AggregateException failures)
        {
            var first = failures.InnerExceptions.FirstOrDefault(e => e is DecantException) ?? failures.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
    }
}

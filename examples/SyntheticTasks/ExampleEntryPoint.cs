namespace Microsoft.ML.Mamba.Examples.SyntheticTasks;

/// <summary>
/// Runs an example's body and turns a bad flag, an unusable device or a model this build cannot make
/// (<see cref="NotSupportedException"/>) into a one-line error and exit code 2.
/// </summary>
public static class ExampleEntryPoint
{
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}

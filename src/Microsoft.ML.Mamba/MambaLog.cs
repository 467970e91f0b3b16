namespace Microsoft.ML.Mamba;

/// <summary>
/// Where the library's own warnings go (for example "native kernels unavailable, using the reference
/// scan"). Subscribe to <see cref="Message"/> to route them (the ML.NET stages forward them to
/// MLContext.Log); with no subscriber they are written to standard error.
/// </summary>
public static class MambaLog
{
    private static readonly HashSet<string> s_warnedOnce = new();

    /// <summary>Raised for every warning the library emits.</summary>
    public static event Action<string>? Message;

    /// <summary>Sends <paramref name="text"/> to the subscribers of <see cref="Message"/>, or to standard error.</summary>
    internal static void Warning(string text)
    {
        var handler = Message;
        if (handler is not null) handler(text);
        else Console.Error.WriteLine($"Microsoft.ML.Mamba: warning: {text}");
    }

    /// <summary>Emits a warning only the first time its key is seen in this process.</summary>
    internal static void WarningOnce(string key, string text)
    {
        lock (s_warnedOnce)
        {
            if (!s_warnedOnce.Add(key)) return;
        }
        Warning(text);
    }
}

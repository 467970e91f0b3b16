using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Makes ML.NET able to load models that contain a <see cref="MambaTransformer"/> or a <see cref="MambaLanguageModelTransformer"/>.
/// Models saved by this version load with a plain <c>mlContext.Model.Load</c> in any MLContext: they name the
/// Microsoft.ML.Mamba.ModelLoaders assembly (shipped in the package), whose attributes ML.NET reads while loading.
/// <c>MambaModelLoader.Register(mlContext)</c> is needed only for models saved by earlier versions, or where that
/// assembly was not deployed with the application.
/// </summary>
public static class MambaModelLoader
{
    /// <summary>Registers the Mamba transformer's loader in <paramref name="mlContext"/>'s component catalog.</summary>
    /// <exception cref="NotSupportedException">This ML.NET version is not supported (the message names the supported ones).</exception>
    public static void Register(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        Register(mlContext.ComponentCatalog);
    }

    /// <summary>Registers the loader, then loads a model saved with <c>mlContext.Model.Save</c>.</summary>
    /// <remarks>
    /// Model files may come from anyone: loading reads them in memory only, writes nothing to disk and checks every
    /// size and name before allocating. A damaged or tampered Mamba model throws <see cref="InvalidDataException"/>
    /// (unwrapped here; <c>mlContext.Model.Load</c> itself wraps it in a <see cref="System.Reflection.TargetInvocationException"/>);
    /// a file that is not a model zip at all throws ML.NET's <see cref="FormatException"/>.
    /// </remarks>
    /// <exception cref="InvalidDataException">The model is damaged or was tampered with; the message names the entry, setting or tensor.</exception>
    /// <exception cref="FormatException">ML.NET cannot open the file as a model zip.</exception>
    public static ITransformer Load(MLContext mlContext, string path, out DataViewSchema inputSchema)
    {
        Register(mlContext);
        try { return mlContext.Model.Load(path, out inputSchema); }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is InvalidDataException inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
    }

    /// <summary>Registers the loader, then loads a model saved with <c>mlContext.Model.Save</c>.</summary>
    /// <remarks>
    /// Model files may come from anyone: loading reads them in memory only, writes nothing to disk and checks every
    /// size and name before allocating. A damaged or tampered Mamba model throws <see cref="InvalidDataException"/>
    /// (unwrapped here; <c>mlContext.Model.Load</c> itself wraps it in a <see cref="System.Reflection.TargetInvocationException"/>);
    /// a file that is not a model zip at all throws ML.NET's <see cref="FormatException"/>.
    /// </remarks>
    /// <exception cref="InvalidDataException">The model is damaged or was tampered with; the message names the entry, setting or tensor.</exception>
    /// <exception cref="FormatException">ML.NET cannot open the file as a model zip.</exception>
    public static ITransformer Load(MLContext mlContext, Stream stream, out DataViewSchema inputSchema)
    {
        Register(mlContext);
        try { return mlContext.Model.Load(stream, out inputSchema); }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is InvalidDataException inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
    }

    internal static void Register(ComponentCatalog catalog)
    {
        MLNetInternalsBridge.SelfTest();
        // The same registration ML.NET makes itself when it loads a model that names this assembly (and, keyed by the
        // assembly's name, made at most once per catalog whichever comes first).
        if (MLNetInternalsBridge.ModelLoadersAssembly is { } loaders)
        {
            catalog.RegisterAssembly(loaders);
            return;
        }
        var create = typeof(MambaTransformer).GetMethod(nameof(MambaTransformer.Create), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        MLNetInternalsBridge.RegisterLoader(catalog, typeof(MambaTransformer), MambaTransformer.LoaderSignature, create);
        var createLanguageModel = typeof(MambaLanguageModelTransformer).GetMethod(nameof(MambaLanguageModelTransformer.Create), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        MLNetInternalsBridge.RegisterLoader(catalog, typeof(MambaLanguageModelTransformer), MambaLanguageModelTransformer.LoaderSignature, createLanguageModel);
    }
}

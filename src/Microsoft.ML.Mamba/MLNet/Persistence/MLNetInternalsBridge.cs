using System.Reflection;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// The only place that touches ML.NET internals. Saving a transformer into an ML.NET model zip and finding its
/// loader again go through types and members that ML.NET keeps internal to its own assemblies
/// (ModelSaveContext/ModelLoadContext members, VersionInfo, LoadableClassAttribute, ComponentCatalog.AddClass,
/// ICancelable). They are reached by reflection here, checked once by <see cref="SelfTest"/>, which fails with a
/// message naming the supported ML.NET versions if any member has moved.
/// </summary>
internal static class MLNetInternalsBridge
{
    /// <summary>ML.NET versions whose internals this file was written and tested against.</summary>
    public const string SupportedVersions = "Microsoft.ML 6.0.x (tested with 6.0.0) and 5.0.x (tested with 5.0.1)";

    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
    private static readonly Assembly Core = typeof(ComponentCatalog).Assembly;
    private static readonly Lazy<Members> Resolved = new(Resolve);

    private sealed record Members(
        Type VersionInfo, ConstructorInfo VersionInfoCtor,
        MethodInfo SaveCheckAtModel, MethodInfo SaveSetVersionInfo, MethodInfo SaveBinaryStream,
        Type LoadContext, MethodInfo LoadCheckAtModel, MethodInfo LoadTryBinaryStream,
        ConstructorInfo LoadableClassAttributeCtor, Type SignatureLoadModel, ConstructorInfo LoadableClassInfoCtor, MethodInfo AddClass,
        PropertyInfo IsCanceled);


    /// <summary>Resolves every internal member now; throws <see cref="NotSupportedException"/> naming the missing one.</summary>
    public static void SelfTest() => _ = Resolved.Value;

    private static Members Resolve()
    {
        static T Need<T>(T? found, string what) where T : class =>
            found ?? throw new NotSupportedException(
                $"Microsoft.ML.Mamba cannot save or load ML.NET models with this ML.NET build: '{what}' was not found in " +
                $"{Core.GetName().Name} {Core.GetName().Version} (package {typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion}). " +
                $"Supported: {SupportedVersions}.");

        var version = Need(Core.GetType("Microsoft.ML.VersionInfo"), "Microsoft.ML.VersionInfo");
        var save = typeof(ModelSaveContext);
        var load = Need(Core.GetType("Microsoft.ML.ModelLoadContext"), "Microsoft.ML.ModelLoadContext");
        var attribute = Need(Core.GetType("Microsoft.ML.LoadableClassAttribute"), "Microsoft.ML.LoadableClassAttribute");
        var baseAttribute = Need(Core.GetType("Microsoft.ML.LoadableClassAttributeBase"), "Microsoft.ML.LoadableClassAttributeBase");
        var info = Need(typeof(ComponentCatalog).GetNestedType("LoadableClassInfo", Any), "ComponentCatalog.LoadableClassInfo");
        var cancelable = Need(Core.GetType("Microsoft.ML.Runtime.ICancelable"), "Microsoft.ML.Runtime.ICancelable");
        return new Members(
            version,
            Need(version.GetConstructor(Any, [typeof(string), typeof(uint), typeof(uint), typeof(uint), typeof(string), typeof(string), typeof(string)]), "VersionInfo(..)"),
            Need(save.GetMethod("CheckAtModel", Any, Type.EmptyTypes), "ModelSaveContext.CheckAtModel()"),
            Need(save.GetMethod("SetVersionInfo", Any, [version]), "ModelSaveContext.SetVersionInfo"),
            Need(save.GetMethod("SaveBinaryStream", Any, [typeof(string), typeof(Action<BinaryWriter>)]), "ModelSaveContext.SaveBinaryStream"),
            load,
            Need(load.GetMethod("CheckAtModel", Any, [version]), "ModelLoadContext.CheckAtModel(VersionInfo)"),
            Need(load.GetMethod("TryLoadBinaryStream", Any, [typeof(string), typeof(Action<BinaryReader>)]), "ModelLoadContext.TryLoadBinaryStream"),
            Need(attribute.GetConstructor(Any, [typeof(Type), typeof(Type), typeof(Type), typeof(Type), typeof(string), typeof(string[])]), "LoadableClassAttribute(..)"),
            Need(Core.GetType("Microsoft.ML.SignatureLoadModel"), "Microsoft.ML.SignatureLoadModel"),
            Need(info.GetConstructor(Any, [baseAttribute, typeof(MethodInfo), typeof(ConstructorInfo), typeof(MethodInfo), typeof(bool)]), "LoadableClassInfo(..)"),
            Need(typeof(ComponentCatalog).GetMethod("AddClass", Any, [info, typeof(string[]), typeof(bool)]), "ComponentCatalog.AddClass"),
            Need(cancelable.GetProperty("IsCanceled"), "ICancelable.IsCanceled"));
    }

    private static object Version(string modelSignature, uint version, string loaderSignature, string loaderAssembly) =>
        Resolved.Value.VersionInfoCtor.Invoke([modelSignature, version, version, version, loaderAssembly, loaderSignature, null]);

    /// <summary>The assembly whose [assembly: LoadableClass] attributes name the Mamba loaders (written at build time by
    /// MambaModelLoaders.targets); null when the application was deployed without it.</summary>
    public static Assembly? ModelLoadersAssembly => LoadersAssembly.Value;

    private static readonly Lazy<Assembly?> LoadersAssembly = new(() =>
    {
        try { return Assembly.Load(new AssemblyName(ModelLoadersAssemblyName)); }
        catch (FileNotFoundException) { return null; }
    });

    internal const string ModelLoadersAssemblyName = "Microsoft.ML.Mamba.ModelLoaders";

    /// <summary>
    /// Starts a model entry: stamps the loader signature and, as the loader assembly, the one whose attributes ML.NET
    /// scans when it loads the model, so any MLContext finds the loader (the library's own name when that is missing:
    /// such models need <see cref="RegisterLoader"/>).
    /// </summary>
    public static void BeginSave(ModelSaveContext context, string modelSignature, uint version, string loaderSignature, Type loaderType)
    {
        var m = Resolved.Value;
        string loaderAssembly = ModelLoadersAssembly?.FullName ?? loaderType.Assembly.FullName!;
        Invoke(() => m.SaveCheckAtModel.Invoke(context, null));
        Invoke(() => m.SaveSetVersionInfo.Invoke(context, [Version(modelSignature, version, loaderSignature, loaderAssembly)]));
    }

    /// <summary>Writes one named binary stream next to the model entry.</summary>
    public static void SaveBinaryStream(ModelSaveContext context, string name, Action<BinaryWriter> write) =>
        Invoke(() => Resolved.Value.SaveBinaryStream.Invoke(context, [name, write]));

    /// <summary>Checks the model entry's signature and version (<paramref name="context"/> is ML.NET's ModelLoadContext).</summary>
    public static void BeginLoad(object context, string modelSignature, uint version, string loaderSignature, Type loaderType)
    {
        var m = Resolved.Value;
        if (!m.LoadContext.IsInstanceOfType(context)) throw new ArgumentException("Expected ML.NET's ModelLoadContext.", nameof(context));
        Invoke(() => m.LoadCheckAtModel.Invoke(context, [Version(modelSignature, version, loaderSignature, loaderType.Assembly.FullName!)]));
    }

    /// <summary>Reads one named binary stream; false when the model zip has no such stream.</summary>
    public static bool TryLoadBinaryStream(object context, string name, Action<BinaryReader> read) =>
        (bool)Invoke(() => Resolved.Value.LoadTryBinaryStream.Invoke(context, [name, read]))!;

    /// <summary>
    /// Tells <paramref name="catalog"/> that models stamped with <paramref name="loaderSignature"/> are created by
    /// <paramref name="create"/>, a static method (IHostEnvironment env, object modelLoadContext) returning the transformer.
    /// </summary>
    public static void RegisterLoader(ComponentCatalog catalog, Type instanceType, string loaderSignature, MethodInfo create)
    {
        var m = Resolved.Value;
        var attribute = m.LoadableClassAttributeCtor.Invoke([instanceType, instanceType, null, m.SignatureLoadModel, instanceType.Name, new[] { loaderSignature }]);
        var info = m.LoadableClassInfoCtor.Invoke([attribute, null, null, create, true]);
        lock (catalog) Invoke(() => m.AddClass.Invoke(catalog, [info, new[] { loaderSignature }, false]));
    }

    /// <summary>True once <c>MLContext.CancelExecution()</c> has been called on the environment that made <paramref name="host"/>.</summary>
    public static bool IsCanceled(IHostEnvironment host) =>
        Resolved.Value.IsCanceled.DeclaringType!.IsInstanceOfType(host) && (bool)Resolved.Value.IsCanceled.GetValue(host)!;

    /// <summary>The shape of a schema (SchemaShape.Create is internal).</summary>
    public static SchemaShape CreateSchemaShape(DataViewSchema schema)
    {
        var create = typeof(SchemaShape).GetMethod("Create", Any, [typeof(DataViewSchema)])
            ?? throw new NotSupportedException($"SchemaShape.Create was not found. Supported: {SupportedVersions}.");
        return (SchemaShape)Invoke(() => create.Invoke(null, [schema]))!;
    }

    /// <summary>The environment behind a trainers catalog (mlContext.X.Trainers keeps it internal).</summary>
    public static IHostEnvironment GetEnvironment(object trainersCatalog)
    {
        for (var type = trainersCatalog.GetType(); type is not null; type = type.BaseType)
            foreach (var member in type.GetMembers(Any | BindingFlags.DeclaredOnly))
            {
                object? value = member switch
                {
                    FieldInfo f when typeof(IHostEnvironment).IsAssignableFrom(f.FieldType) => f.GetValue(trainersCatalog),
                    PropertyInfo p when typeof(IHostEnvironment).IsAssignableFrom(p.PropertyType) && p.GetIndexParameters().Length == 0 => p.GetValue(trainersCatalog),
                    _ => null,
                };
                if (value is IHostEnvironment env) return env;
            }
        throw new NotSupportedException($"Could not find the environment behind {trainersCatalog.GetType().Name}. Supported: {SupportedVersions}.");
    }

    /// <summary>MLContext.GpuDeviceId and FallbackToCpu as seen through the environment the MLContext hands to its catalogs.</summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) GetGpuSettings(IHostEnvironment env)
    {
        if (env is MLContext context) return (context.GpuDeviceId, context.FallbackToCpu);
        var internalEnv = Core.GetType("Microsoft.ML.Runtime.IHostEnvironmentInternal");
        var id = internalEnv?.GetProperty("GpuDeviceId");
        var fallback = internalEnv?.GetProperty("FallbackToCpu");
        if (internalEnv is null || id is null || fallback is null || !internalEnv.IsInstanceOfType(env))
            throw new NotSupportedException($"Could not read GpuDeviceId/FallbackToCpu from the ML.NET environment. Supported: {SupportedVersions}.");
        return ((int?)id.GetValue(env), (bool)fallback.GetValue(env)!);
    }

    private static object? Invoke(Func<object?> call)
    {
        try { return call(); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}

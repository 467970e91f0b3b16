using System.Reflection;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.Mamba.Tests.PublicApi;

/// <summary>
/// What a user of an assembly can reach: its exported types and, for each, the members declared on it that are public,
/// or protected in a type that can be derived from. Compiler-made members (a record's Equals, accessors) are left out.
/// </summary>
internal static class PublicSurface
{
    private const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>The exported types, nested ones included, by namespace and then name.</summary>
    public static IReadOnlyList<Type> Types(Assembly assembly) =>
        assembly.GetExportedTypes()
            .OrderBy(t => t.Namespace ?? "", StringComparer.Ordinal)
            .ThenBy(t => Signatures.TypeName(t), StringComparer.Ordinal)
            .ToArray();

    /// <summary>The members of <paramref name="type"/> a user can call or override, in a stable order.</summary>
    public static IReadOnlyList<MemberInfo> Members(Type type)
    {
        if (typeof(Delegate).IsAssignableFrom(type)) return [];   // a delegate is its signature
        if (type.IsEnum)
            return type.GetFields(BindingFlags.Public | BindingFlags.Static).OrderBy(f => Convert.ToInt64(f.GetRawConstantValue())).ToArray();
        return type.GetMembers(Declared)
            .Where(m => IsReachable(m, type) && !IsMadeByCompiler(m))
            .Select(m => (Member: m, Line: Signatures.Member(m)))
            .OrderBy(x => KindOrder(x.Member))
            .ThenBy(x => x.Member.Name, StringComparer.Ordinal)
            .ThenBy(x => x.Line, StringComparer.Ordinal)
            .Select(x => x.Member)
            .ToArray();
    }

    /// <summary>
    /// The documentation ids of the public types and members that have no doc comment. A parameterless constructor is
    /// let off: the compiler makes one for a class that declares none, and gives it no comment.
    /// </summary>
    public static IReadOnlyList<string> Undocumented(Assembly assembly, XmlDocumentation docs) =>
        Types(assembly)
            .SelectMany(t => Members(t).Where(m => m is not ConstructorInfo { IsStatic: false } c || c.GetParameters().Length > 0).Prepend(t))
            .Select(DocumentationIds.Of)
            .Where(id => !docs.Documents(id))
            .ToArray();

    private static bool IsReachable(MemberInfo member, Type type)
    {
        // Protected members of a sealed type (overrides of Dispose(bool), say) cannot be reached by anyone.
        bool protectedCounts = !type.IsSealed;
        bool Visible(MethodBase? m) => m is not null && (m.IsPublic || (protectedCounts && (m.IsFamily || m.IsFamilyOrAssembly)));
        return member switch
        {
            Type => false,   // nested types are listed as types of their own
            MethodInfo m => Visible(m) && (!m.IsSpecialName || m.Name.StartsWith("op_", StringComparison.Ordinal)),
            ConstructorInfo c => Visible(c),
            PropertyInfo p => Visible(p.GetMethod) || Visible(p.SetMethod),
            EventInfo e => Visible(e.AddMethod),
            FieldInfo f => !f.IsSpecialName && (f.IsPublic || (protectedCounts && (f.IsFamily || f.IsFamilyOrAssembly))),
            _ => false,
        };
    }

    // A record's Equals, GetHashCode, ToString, PrintMembers, EqualityContract, Deconstruct, <Clone>$ and operators.
    private static bool IsMadeByCompiler(MemberInfo member) => member.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false);

    private static int KindOrder(MemberInfo member) => member switch
    {
        FieldInfo => 0,
        ConstructorInfo => 1,
        PropertyInfo => 2,
        EventInfo => 3,
        _ => 4,
    };
}

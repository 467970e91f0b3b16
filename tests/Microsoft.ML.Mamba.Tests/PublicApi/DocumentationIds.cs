using System.Reflection;

namespace Microsoft.ML.Mamba.Tests.PublicApi;

/// <summary>
/// The ids the C# compiler gives types and members in its XML documentation file (<c>T:</c>, <c>M:</c>, <c>P:</c>,
/// <c>F:</c>, <c>E:</c>), computed from reflection so that a member can be looked up in that file.
/// </summary>
internal static class DocumentationIds
{
    /// <summary>The documentation id of <paramref name="member"/>, for example <c>M:Ns.Type.Method(System.Int32)</c>.</summary>
    public static string Of(MemberInfo member) => member switch
    {
        Type t => "T:" + Definition(t),
        ConstructorInfo c => $"M:{Definition(c.DeclaringType!)}.{(c.IsStatic ? "#cctor" : "#ctor")}{Parameters(c.GetParameters())}",
        MethodInfo m => $"M:{Definition(m.DeclaringType!)}.{m.Name.Replace('.', '#')}"
                        + (m.IsGenericMethodDefinition ? "``" + m.GetGenericArguments().Length : "")
                        + Parameters(m.GetParameters())
                        + (m.Name is "op_Implicit" or "op_Explicit" ? "~" + Reference(m.ReturnType) : ""),
        PropertyInfo p => $"P:{Definition(p.DeclaringType!)}.{p.Name.Replace('.', '#')}{Parameters(p.GetIndexParameters())}",
        FieldInfo f => $"F:{Definition(f.DeclaringType!)}.{f.Name}",
        EventInfo e => $"E:{Definition(e.DeclaringType!)}.{e.Name}",
        _ => throw new ArgumentException($"No documentation id for a {member.GetType().Name}.", nameof(member)),
    };

    // A declared type: namespace, outer types and arity suffixes as in metadata (List`1), '.' between nested levels.
    private static string Definition(Type type) => (type.IsGenericType ? type.GetGenericTypeDefinition() : type).FullName!.Replace('+', '.');

    private static string Parameters(ParameterInfo[] parameters) =>
        parameters.Length == 0 ? "" : "(" + string.Join(",", parameters.Select(p => Reference(p.ParameterType))) + ")";

    // A type used in a signature: constructed generics as Name{Arg,…}, type parameters as `n (type) or ``n (method).
    private static string Reference(Type type)
    {
        if (type.IsByRef) return Reference(type.GetElementType()!) + "@";
        if (type.IsPointer) return Reference(type.GetElementType()!) + "*";
        if (type.IsArray)
        {
            int rank = type.GetArrayRank();
            string shape = rank == 1 ? "[]" : "[" + string.Join(",", Enumerable.Repeat("0:", rank)) + "]";
            return Reference(type.GetElementType()!) + shape;
        }
        if (type.IsGenericParameter) return (type.DeclaringMethod is null ? "`" : "``") + type.GenericParameterPosition;
        if (!type.IsGenericType) return type.FullName!.Replace('+', '.');

        // Each nesting level takes its own share of the generic arguments: Outer{A}.Inner{B}.
        var arguments = type.GetGenericArguments();
        var levels = new List<Type>();
        for (var t = type.GetGenericTypeDefinition(); t is not null; t = t.IsNested ? t.DeclaringType : null) levels.Insert(0, t);
        var text = new System.Text.StringBuilder(levels[0].Namespace is { Length: > 0 } ns ? ns + "." : "");
        int used = 0;
        for (int i = 0; i < levels.Count; i++)
        {
            if (i > 0) text.Append('.');
            string name = levels[i].Name;
            int tick = name.IndexOf('`');
            text.Append(tick < 0 ? name : name[..tick]);
            int count = levels[i].GetGenericArguments().Length;
            if (count > used)
            {
                text.Append('{').Append(string.Join(",", arguments[used..count].Select(Reference))).Append('}');
                used = count;
            }
        }
        return text.ToString();
    }
}

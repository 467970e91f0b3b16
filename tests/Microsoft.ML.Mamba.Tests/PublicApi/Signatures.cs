using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.Mamba.Tests.PublicApi;

/// <summary>
/// C#-like one-line signatures of types and members, read by reflection: keyword aliases, short type names,
/// nullable annotations and default values, so that docs/api.md reads like the code.
/// </summary>
internal static class Signatures
{
    private static readonly Dictionary<Type, string> s_aliases = new()
    {
        [typeof(void)] = "void", [typeof(object)] = "object", [typeof(string)] = "string", [typeof(bool)] = "bool",
        [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte", [typeof(char)] = "char", [typeof(short)] = "short",
        [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint", [typeof(long)] = "long",
        [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double", [typeof(decimal)] = "decimal",
        [typeof(nint)] = "nint", [typeof(nuint)] = "nuint",
    };

    private static readonly Dictionary<string, string> s_operators = new()
    {
        ["op_Equality"] = "==", ["op_Inequality"] = "!=", ["op_Addition"] = "+", ["op_Subtraction"] = "-",
        ["op_Multiply"] = "*", ["op_Division"] = "/", ["op_LessThan"] = "<", ["op_GreaterThan"] = ">",
        ["op_LessThanOrEqual"] = "<=", ["op_GreaterThanOrEqual"] = ">=", ["op_UnaryNegation"] = "-",
    };

    /// <summary>The type's name as written outside its namespace: <c>GenerationLoop.TokenCallback</c>, <c>Foo&lt;T&gt;</c>.</summary>
    public static string TypeName(Type type) => Reference(type, nullability: null);

    /// <summary>The declaration line of a type: modifiers, kind, name, base type and interfaces.</summary>
    public static string Type(Type type)
    {
        if (typeof(Delegate).IsAssignableFrom(type) && type != typeof(Delegate) && type.GetMethod("Invoke") is { } invoke)
            return $"public delegate {Return(invoke)} {TypeName(type)}({Parameters(invoke, new NullabilityInfoContext())})";

        var parts = new List<string> { "public" };
        bool isRecord = type.GetMethod("PrintMembers", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public) is { } print
                        && print.IsDefined(typeof(CompilerGeneratedAttribute));
        if (type.IsEnum) parts.Add("enum");
        else if (type.IsInterface) parts.Add("interface");
        else if (type.IsValueType)
        {
            if (type.IsDefined(typeof(IsReadOnlyAttribute))) parts.Add("readonly");
            parts.Add(isRecord ? "record struct" : "struct");
        }
        else
        {
            if (type.IsAbstract && type.IsSealed) parts.Add("static");
            else if (type.IsAbstract) parts.Add("abstract");
            else if (type.IsSealed) parts.Add("sealed");
            parts.Add(isRecord ? "record" : "class");
        }
        parts.Add(TypeName(type));

        var bases = new List<string>();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType) && baseType != typeof(Enum))
            bases.Add(TypeName(baseType));
        bases.AddRange(OwnInterfaces(type).Select(TypeName).Order(StringComparer.Ordinal));
        return string.Join(' ', parts) + (bases.Count > 0 ? " : " + string.Join(", ", bases) : "");
    }

    /// <summary>One member's line.</summary>
    public static string Member(MemberInfo member)
    {
        var context = new NullabilityInfoContext();
        return member switch
        {
            FieldInfo f when f.DeclaringType!.IsEnum => $"{f.Name} = {Convert.ToString(f.GetRawConstantValue(), CultureInfo.InvariantCulture)}",
            FieldInfo f => Field(f, context),
            ConstructorInfo c => $"{Access(c)}{(c.IsStatic ? "static " : "")}{BareName(c.DeclaringType!)}({Parameters(c, context)})",
            PropertyInfo p => Property(p, context),
            EventInfo e => $"{Modifiers(e.AddMethod!)}event {Reference(e.EventHandlerType!, context.Create(e))} {e.Name}",
            MethodInfo m => Method(m, context),
            _ => member.ToString() ?? member.Name,
        };
    }

    private static string Field(FieldInfo field, NullabilityInfoContext context)
    {
        string access = field.IsPublic ? "public " : "protected ";
        string type = Reference(field.FieldType, context.Create(field), TupleNames(field));
        if (field.IsLiteral) return $"{access}const {type} {field.Name} = {Literal(field.GetRawConstantValue(), field.FieldType)}";
        return $"{access}{(field.IsStatic ? "static " : "")}{(field.IsInitOnly ? "readonly " : "")}{type} {field.Name}";
    }

    private static string Property(PropertyInfo property, NullabilityInfoContext context)
    {
        var accessor = property.GetMethod ?? property.SetMethod!;
        var index = property.GetIndexParameters();
        string name = index.Length == 0 ? property.Name : $"this[{string.Join(", ", index.Select(p => Parameter(p, context)))}]";
        var accessors = new List<string>();
        if (IsVisible(property.GetMethod)) accessors.Add("get;");
        if (IsVisible(property.SetMethod))
            accessors.Add(property.SetMethod!.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit)) ? "init;" : "set;");
        string required = property.IsDefined(typeof(RequiredMemberAttribute)) ? "required " : "";
        return $"{Modifiers(accessor)}{required}{Reference(property.PropertyType, context.Create(property), TupleNames(property))} {name} {{ {string.Join(' ', accessors)} }}";
    }

    private static string Method(MethodInfo method, NullabilityInfoContext context)
    {
        string generic = method.IsGenericMethodDefinition ? $"<{string.Join(", ", method.GetGenericArguments().Select(a => a.Name))}>" : "";
        string parameters = Parameters(method, context);
        if (method.Name is "op_Implicit" or "op_Explicit")
            return $"{Modifiers(method)}{(method.Name == "op_Implicit" ? "implicit" : "explicit")} operator {Return(method)}({parameters})";
        string name = s_operators.TryGetValue(method.Name, out var op) ? "operator " + op : method.Name;
        return $"{Modifiers(method)}{Return(method)} {name}{generic}({parameters})";
    }

    private static string Return(MethodInfo method) =>
        Reference(method.ReturnType, new NullabilityInfoContext().Create(method.ReturnParameter), TupleNames(method.ReturnParameter));

    private static string Parameters(MethodBase method, NullabilityInfoContext context)
    {
        var parameters = method.GetParameters();
        var text = parameters.Select(p => Parameter(p, context)).ToArray();
        if (parameters.Length > 0 && method.IsDefined(typeof(ExtensionAttribute))) text[0] = "this " + text[0];
        return string.Join(", ", text);
    }

    private static string Parameter(ParameterInfo parameter, NullabilityInfoContext context)
    {
        var type = parameter.ParameterType;
        string prefix = "";
        if (type.IsByRef)
        {
            prefix = parameter.IsOut ? "out " : parameter.IsIn ? "in " : "ref ";
            type = type.GetElementType()!;
        }
        if (parameter.IsDefined(typeof(ParamArrayAttribute))) prefix = "params ";
        string text = $"{prefix}{Reference(type, context.Create(parameter), TupleNames(parameter))} {parameter.Name}";
        if (parameter.HasDefaultValue) text += " = " + Literal(parameter.DefaultValue, type);
        return text;
    }

    private static string Literal(object? value, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        if (value is null || value is DBNull) return underlying.IsValueType ? "default" : "null";
        if (underlying.IsEnum)
        {
            var named = Enum.ToObject(underlying, value);
            return Enum.IsDefined(underlying, named) ? $"{TypeName(underlying)}.{named}" : $"({TypeName(underlying)}){value}";
        }
        return value switch
        {
            string s => "\"" + Escape(s) + "\"",
            char c => "'" + Escape(c.ToString()) + "'",
            bool b => b ? "true" : "false",
            float f => f.ToString("R", CultureInfo.InvariantCulture) + "f",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }

    private static Queue<string?>? TupleNames(ICustomAttributeProvider provider) =>
        provider.GetCustomAttributes(typeof(TupleElementNamesAttribute), inherit: false).FirstOrDefault() is TupleElementNamesAttribute a
            ? new Queue<string?>(a.TransformNames) : null;

    private static string Escape(string text) =>
        text.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");

    private static string Access(MethodBase method) => method.IsPublic ? "public " : "protected ";

    private static string Modifiers(MethodInfo method)
    {
        if (method.DeclaringType!.IsInterface) return method.IsStatic ? "static " : "";
        string text = Access(method);
        if (method.IsStatic) return text + "static ";
        bool overrides = method.GetBaseDefinition().DeclaringType != method.DeclaringType;
        if (method.IsAbstract) return text + (overrides ? "abstract override " : "abstract ");
        if (overrides) return text + (method.IsFinal ? "sealed override " : "override ");
        if (method.IsVirtual && !method.IsFinal) return text + "virtual ";
        return text;
    }

    private static bool IsVisible(MethodInfo? method) =>
        method is not null && (method.IsPublic || ((method.IsFamily || method.IsFamilyOrAssembly) && !method.DeclaringType!.IsSealed));

    // Interfaces the type itself adds: not those of its base type, nor those another of its interfaces brings.
    private static IEnumerable<Type> OwnInterfaces(Type type)
    {
        var all = type.GetInterfaces();
        var inherited = new HashSet<Type>(type.BaseType?.GetInterfaces() ?? []);
        foreach (var i in all) inherited.UnionWith(i.GetInterfaces());
        return all.Where(i => !inherited.Contains(i) && (i.IsPublic || i.IsNestedPublic));
    }

    /// <summary>A type as written in code; <paramref name="nullability"/> (when known) adds the <c>?</c> of nullable references.</summary>
    private static string Reference(Type type, NullabilityInfo? nullability, Queue<string?>? tupleNames = null)
    {
        if (type.IsByRef) return Reference(type.GetElementType()!, nullability, tupleNames);
        if (type.IsPointer) return Reference(type.GetElementType()!, null, tupleNames) + "*";
        if (type.IsArray)
        {
            string element = Reference(type.GetElementType()!, nullability?.ElementType, tupleNames);
            return element + "[" + new string(',', type.GetArrayRank() - 1) + "]" + NullableMark(type, nullability);
        }
        if (Nullable.GetUnderlyingType(type) is { } inner)
            return Reference(inner, nullability?.GenericTypeArguments.FirstOrDefault(), tupleNames) + "?";
        if (s_aliases.TryGetValue(type, out var alias)) return alias + NullableMark(type, nullability);
        if (type.IsGenericParameter) return type.Name + NullableMark(type, nullability);

        var arguments = type.IsGenericType ? type.GetGenericArguments() : [];
        string Argument(int i) => Reference(arguments[i], nullability?.GenericTypeArguments.ElementAtOrDefault(i), tupleNames);
        if (type.IsGenericType && type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true)
        {
            // The compiler lists element names tuple by tuple, outer before inner (TupleElementNamesAttribute).
            var elementNames = arguments.Select(_ => tupleNames is { Count: > 0 } ? tupleNames.Dequeue() : null).ToArray();
            return "(" + string.Join(", ", arguments.Select((_, i) => Argument(i) + (elementNames[i] is { } n ? " " + n : ""))) + ")";
        }

        // Outer.Inner<…>, each level with its own generic arguments.
        var levels = new List<Type>();
        for (var t = type; t is not null; t = t.IsNested ? t.DeclaringType : null) levels.Insert(0, t);
        var names = new List<string>();
        int used = 0;
        foreach (var level in levels)
        {
            int count = level.IsGenericType ? level.GetGenericArguments().Length : 0;
            string name = BareName(level);
            if (count > used)
            {
                name += "<" + string.Join(", ", Enumerable.Range(used, count - used).Select(Argument)) + ">";
                used = count;
            }
            names.Add(name);
        }
        return string.Join('.', names) + NullableMark(type, nullability);
    }

    private static string NullableMark(Type type, NullabilityInfo? nullability) =>
        !type.IsValueType && nullability?.ReadState == NullabilityState.Nullable ? "?" : "";

    private static string BareName(Type type)
    {
        int tick = type.Name.IndexOf('`');
        return tick < 0 ? type.Name : type.Name[..tick];
    }
}

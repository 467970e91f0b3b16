using System.Globalization;
using System.Text;

namespace Microsoft.ML.Mamba.AI;

/// <summary>
/// A small, bounded interpreter for the subset of Jinja that Hugging Face chat templates use: text, <c>{{ expr }}</c>,
/// <c>{% for %}</c> (with <c>loop.first/last/index/index0/length</c>), <c>{% if/elif/else %}</c>, <c>{% set %}</c>,
/// comments, whitespace control (<c>-</c>) with transformers' trim_blocks/lstrip_blocks, string/int/bool literals,
/// attribute and item access, slices, <c>~ + - * / %</c>, comparisons, <c>in</c>, <c>and/or/not</c>, <c>is [not] defined/none/string</c>,
/// the filters <c>trim</c>, <c>length</c>, <c>upper</c>, <c>lower</c>, the methods <c>strip</c>, <c>upper</c>, <c>lower</c>,
/// and <c>raise_exception(msg)</c>.
/// </summary>
/// <remarks>
/// Anything else is rejected when the template is parsed, with a <see cref="NotSupportedException"/> naming the
/// construct. Rendering is bounded: loop iterations and output length have limits, so a template cannot run away.
/// </remarks>
internal sealed class JinjaTemplate
{
    /// <summary>The most loop iterations one render may run.</summary>
    public const int MaxLoopIterations = 100_000;

    /// <summary>The most characters one render may produce.</summary>
    public const int MaxOutputLength = 4_000_000;

    private const int MaxTemplateLength = 200_000;
    private const int MaxNesting = 64;

    private static readonly HashSet<string> KnownTests =
        ["defined", "undefined", "none", "string", "number", "mapping", "sequence", "iterable", "true", "false"];

    private readonly List<Node> _body;

    private JinjaTemplate(List<Node> body) => _body = body;

    /// <summary>Parses <paramref name="source"/>; throws <see cref="NotSupportedException"/> for constructs outside the subset.</summary>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length > MaxTemplateLength)
            throw new NotSupportedException($"The chat template is {source.Length:N0} characters long; at most {MaxTemplateLength:N0} are read.");
        var parser = new Parser(Lexer.Tokens(source));
        var body = parser.Block(out var end);
        if (end is not null) throw new NotSupportedException($"Chat template: '{{% {end} %}}' without a matching opening tag.");
        return new JinjaTemplate(body);
    }

    /// <summary>Renders with the given variables (strings, numbers, bools, lists, string-keyed dictionaries).</summary>
    /// <exception cref="InvalidOperationException">The template called <c>raise_exception</c>, or a limit was reached.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var state = new RenderState(variables);
        foreach (var node in _body) node.Render(state);
        return state.Output.ToString();
    }

    // ---- values ----------------------------------------------------------------------------------------------

    /// <summary>The value of a name or key that does not exist: renders empty, is falsy, and fails <c>is defined</c>.</summary>
    private sealed class Undefined
    {
        public static readonly Undefined Value = new();
        public override string ToString() => "";
    }

    private static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    private static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString(CultureInfo.InvariantCulture),
        string s => s,
        _ => v.ToString() ?? "",
    };

    private static object? Normalize(object? v) => v switch
    {
        int i => (long)i,
        float f => (double)f,
        _ => v,
    };

    private static bool ValuesEqual(object? a, object? b)
    {
        a = Normalize(a); b = Normalize(b);
        if (a is Undefined) a = null;
        if (b is Undefined) b = null;
        if (a is long la && b is double db) return la == db;
        if (a is double da && b is long lb) return da == lb;
        return Equals(a, b);
    }

    // ---- rendering -------------------------------------------------------------------------------------------

    private sealed class RenderState(IReadOnlyDictionary<string, object?> globals)
    {
        public StringBuilder Output { get; } = new();
        public Stack<Dictionary<string, object?>> Scopes { get; } = new([new Dictionary<string, object?>()]);
        public int Iterations { get; set; }

        public object? Lookup(string name)
        {
            foreach (var scope in Scopes) if (scope.TryGetValue(name, out var v)) return v;
            return globals.TryGetValue(name, out var g) ? Normalize(g) : Undefined.Value;
        }

        public void Write(string text)
        {
            if (Output.Length + text.Length > MaxOutputLength)
                throw new InvalidOperationException($"The chat template's output passed {MaxOutputLength:N0} characters.");
            Output.Append(text);
        }
    }

    private abstract class Node
    {
        public abstract void Render(RenderState state);
    }

    private sealed class TextNode(string text) : Node
    {
        public string Text { get; set; } = text;
        public override void Render(RenderState state) => state.Write(Text);
    }

    private sealed class OutputNode(Expr expr) : Node
    {
        public override void Render(RenderState state) => state.Write(Str(expr.Eval(state)));
    }

    private sealed class SetNode(string name, Expr expr) : Node
    {
        public override void Render(RenderState state) => state.Scopes.Peek()[name] = expr.Eval(state);
    }

    private sealed class IfNode(List<(Expr Condition, List<Node> Body)> branches, List<Node>? otherwise) : Node
    {
        public override void Render(RenderState state)
        {
            foreach (var (condition, body) in branches)
            {
                if (!Truthy(condition.Eval(state))) continue;
                foreach (var n in body) n.Render(state);
                return;
            }
            if (otherwise is not null) foreach (var n in otherwise) n.Render(state);
        }
    }

    private sealed class ForNode(string variable, Expr source, List<Node> body) : Node
    {
        public override void Render(RenderState state)
        {
            var items = source.Eval(state) switch
            {
                Undefined or null => [],
                string s => s.Select(c => (object?)c.ToString()).ToList(),
                System.Collections.IDictionary d => d.Keys.Cast<object?>().ToList(),
                System.Collections.IEnumerable e => e.Cast<object?>().Select(Normalize).ToList(),
                var other => throw new InvalidOperationException($"Chat template: cannot loop over a {other.GetType().Name}."),
            };
            for (int i = 0; i < items.Count; i++)
            {
                if (++state.Iterations > MaxLoopIterations)
                    throw new InvalidOperationException($"The chat template ran more than {MaxLoopIterations:N0} loop iterations.");
                var loop = new Dictionary<string, object?>
                {
                    ["index"] = (long)(i + 1), ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                    ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                };
                state.Scopes.Push(new Dictionary<string, object?> { [variable] = items[i], ["loop"] = loop });
                try { foreach (var n in body) n.Render(state); }
                finally { state.Scopes.Pop(); }
            }
        }
    }

    // ---- expressions -----------------------------------------------------------------------------------------

    private abstract class Expr
    {
        public abstract object? Eval(RenderState state);
    }

    private sealed class Literal(object? value) : Expr
    {
        public override object? Eval(RenderState state) => value;
    }

    private sealed class Name(string name) : Expr
    {
        public string Identifier => name;
        public override object? Eval(RenderState state) => state.Lookup(name);
    }

    private sealed class ListExpr(List<Expr> items) : Expr
    {
        public override object? Eval(RenderState state) => items.Select(i => i.Eval(state)).ToList();
    }

    private sealed class Member(Expr target, Expr key) : Expr
    {
        public override object? Eval(RenderState state)
        {
            var t = target.Eval(state);
            var k = key.Eval(state);
            switch (t)
            {
                case IReadOnlyDictionary<string, object?> d when k is string s:
                    return d.TryGetValue(s, out var v) ? Normalize(v) : Undefined.Value;
                case IDictionary<string, object?> d when k is string s:
                    return d.TryGetValue(s, out var w) ? Normalize(w) : Undefined.Value;
                case System.Collections.IList list when k is long i:
                    if (i < 0) i += list.Count;
                    return i >= 0 && i < list.Count ? Normalize(list[(int)i]) : Undefined.Value;
                case string str when k is long i:
                    if (i < 0) i += str.Length;
                    return i >= 0 && i < str.Length ? str[(int)i].ToString() : Undefined.Value;
                default:
                    return Undefined.Value;
            }
        }
    }

    private sealed class Slice(Expr target, Expr? start, Expr? stop) : Expr
    {
        public override object? Eval(RenderState state)
        {
            var t = target.Eval(state);
            int count = t switch { string s => s.Length, System.Collections.IList l => l.Count, _ => -1 };
            if (count < 0) throw new InvalidOperationException("Chat template: only lists and strings can be sliced.");
            int Bound(Expr? e, int fallback)
            {
                if (e is null) return fallback;
                if (e.Eval(state) is not long v) throw new InvalidOperationException("Chat template: slice bounds must be integers.");
                if (v < 0) v += count;
                return (int)Math.Clamp(v, 0, count);
            }
            int from = Bound(start, 0), to = Math.Max(from, Bound(stop, count));
            return t is string str ? str[from..to] : ((System.Collections.IList)t!).Cast<object?>().Skip(from).Take(to - from).ToList();
        }
    }

    private sealed class Unary(string op, Expr operand) : Expr
    {
        public override object? Eval(RenderState state)
        {
            var v = operand.Eval(state);
            return op switch
            {
                "not" => !Truthy(v),
                _ => v switch
                {
                    long l => -l,
                    double d => -d,
                    _ => throw new InvalidOperationException($"Chat template: cannot negate '{Str(v)}'."),
                },
            };
        }
    }

    private sealed class Binary(string op, Expr left, Expr right) : Expr
    {
        public override object? Eval(RenderState state)
        {
            if (op == "and") { var l = left.Eval(state); return Truthy(l) ? right.Eval(state) : l; }
            if (op == "or") { var l = left.Eval(state); return Truthy(l) ? l : right.Eval(state); }
            var a = left.Eval(state);
            var b = right.Eval(state);
            switch (op)
            {
                case "~": return Str(a) + Str(b);
                case "==": return ValuesEqual(a, b);
                case "!=": return !ValuesEqual(a, b);
                case "in": return Contains(b, a);
                case "not in": return !Contains(b, a);
            }
            if (op == "+" && a is string sa && b is string sb) return sa + sb;
            if (op == "+" && a is System.Collections.IList la && b is System.Collections.IList lb)
                return la.Cast<object?>().Concat(lb.Cast<object?>()).ToList();
            if (a is long x && b is long y)
            {
                return op switch
                {
                    "+" => x + y, "-" => x - y, "*" => x * y,
                    "%" => y == 0 ? throw new InvalidOperationException("Chat template: modulo by zero.") : ((x % y) + y) % y,
                    "/" => y == 0 ? throw new InvalidOperationException("Chat template: division by zero.") : (double)x / y,
                    "<" => x < y, ">" => x > y, "<=" => x <= y, ">=" => x >= y,
                    _ => throw new NotSupportedException($"Chat template: operator '{op}'."),
                };
            }
            if (a is long or double && b is long or double)
            {
                double p = Convert.ToDouble(a, CultureInfo.InvariantCulture), q = Convert.ToDouble(b, CultureInfo.InvariantCulture);
                return op switch
                {
                    "+" => p + q, "-" => p - q, "*" => p * q, "/" => p / q,
                    "<" => p < q, ">" => p > q, "<=" => p <= q, ">=" => p >= q,
                    _ => throw new NotSupportedException($"Chat template: operator '{op}' on numbers."),
                };
            }
            if (a is string s1 && b is string s2 && op is "<" or ">" or "<=" or ">=")
            {
                int c = string.CompareOrdinal(s1, s2);
                return op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 };
            }
            throw new InvalidOperationException($"Chat template: operator '{op}' cannot combine '{Str(a)}' and '{Str(b)}'.");
        }

        private static bool Contains(object? container, object? item) => container switch
        {
            string s => item is string sub && s.Contains(sub, StringComparison.Ordinal),
            IReadOnlyDictionary<string, object?> d => item is string k && d.ContainsKey(k),
            IDictionary<string, object?> d => item is string k && d.ContainsKey(k),
            System.Collections.IEnumerable e => e.Cast<object?>().Any(x => ValuesEqual(x, item)),
            _ => false,
        };
    }

    private sealed class Condition(Expr test, Expr whenTrue, Expr? whenFalse) : Expr
    {
        public override object? Eval(RenderState state) =>
            Truthy(test.Eval(state)) ? whenTrue.Eval(state) : whenFalse?.Eval(state) ?? Undefined.Value;
    }

    private sealed class Test(Expr operand, string test, bool negated) : Expr
    {
        public override object? Eval(RenderState state)
        {
            var v = operand.Eval(state);
            bool result = test switch
            {
                "defined" => v is not Undefined,
                "undefined" => v is Undefined,
                "none" => v is null,
                "string" => v is string,
                "number" => v is long or double,
                "mapping" => v is IReadOnlyDictionary<string, object?> or IDictionary<string, object?>,
                "sequence" or "iterable" => v is string or System.Collections.IEnumerable,
                "true" => v is true,
                "false" => v is false,
                _ => false,   // parsing admits only KnownTests
            };
            return result != negated;
        }
    }

    private sealed class Call(string function, List<Expr> arguments, Expr? target) : Expr
    {
        public override object? Eval(RenderState state)
        {
            var args = arguments.Select(a => a.Eval(state)).ToArray();
            if (target is null)
            {
                // Only raise_exception is a function (parsing rejects others).
                throw new InvalidOperationException("The chat template raised an error: " + (args.Length > 0 ? Str(args[0]) : ""));
            }
            var t = target.Eval(state);
            return (function, t) switch
            {
                ("trim" or "strip", string s) => args.Length > 0 ? s.Trim(Str(args[0]).ToCharArray()) : s.Trim(),
                ("lstrip", string s) => s.TrimStart(),
                ("rstrip", string s) => s.TrimEnd(),
                ("upper", string s) => s.ToUpperInvariant(),
                ("lower", string s) => s.ToLowerInvariant(),
                ("startswith", string s) => s.StartsWith(Str(args.FirstOrDefault()), StringComparison.Ordinal),
                ("endswith", string s) => s.EndsWith(Str(args.FirstOrDefault()), StringComparison.Ordinal),
                ("length", string s) => (long)s.Length,
                ("length", System.Collections.ICollection c) => (long)c.Count,
                ("string", var v) => Str(v),
                (_, Undefined) => Undefined.Value,
                _ => throw new InvalidOperationException($"Chat template: '{function}' cannot apply to '{Str(t)}'."),
            };
        }
    }

    // ---- lexing ----------------------------------------------------------------------------------------------

    private enum Kind { Text, OutputOpen, StatementOpen, Close, Name, String, Integer, Operator, End }

    private readonly record struct Token(Kind Kind, string Value);

    private static class Lexer
    {
        public static List<Token> Tokens(string source)
        {
            var tokens = new List<Token>();
            int i = 0;
            bool stripNextLeading = false, trimNextNewline = false;
            while (i < source.Length)
            {
                int open = source.IndexOf('{', i);
                while (open >= 0 && open + 1 < source.Length && source[open + 1] is not ('{' or '%' or '#')) open = source.IndexOf('{', open + 1);
                if (open + 1 >= source.Length) open = -1;
                string text = open < 0 ? source[i..] : source[i..open];
                char kind = open < 0 ? '\0' : source[open + 1];
                bool stripBefore = open >= 0 && open + 2 < source.Length && source[open + 2] == '-';
                if (trimNextNewline && text.StartsWith('\n')) text = text[1..];
                if (stripNextLeading) text = text.TrimStart();
                if (stripBefore) text = text.TrimEnd();
                else if (kind is '%' or '#')
                {
                    // lstrip_blocks: spaces and tabs between a line start and a block tag go.
                    int p = open;
                    while (p > i && source[p - 1] is ' ' or '\t') p--;
                    if ((p == 0 || source[p - 1] == '\n') && open - p <= text.Length) text = text[..(text.Length - (open - p))];
                }
                if (text.Length > 0) tokens.Add(new Token(Kind.Text, text));
                if (open < 0) break;

                i = open + (stripBefore ? 3 : 2);
                if (kind == '#')
                {
                    int close = source.IndexOf("#}", i, StringComparison.Ordinal);
                    if (close < 0) throw new NotSupportedException("Chat template: a comment '{#' is never closed.");
                    stripNextLeading = source[close - 1] == '-' && close - 1 >= i;
                    trimNextNewline = true;
                    i = close + 2;
                    continue;
                }
                tokens.Add(new Token(kind == '{' ? Kind.OutputOpen : Kind.StatementOpen, ""));
                string closer = kind == '{' ? "}}" : "%}";
                i = Expression(source, i, closer, tokens, out stripNextLeading);
                trimNextNewline = kind == '%';
                tokens.Add(new Token(Kind.Close, ""));
            }
            tokens.Add(new Token(Kind.End, ""));
            return tokens;
        }

        private static readonly string[] Operators = ["==", "!=", "<=", ">=", "//", "**", "~", "+", "-", "*", "/", "%", "<", ">", "(", ")", "[", "]", ".", ",", ":", "|", "=", "{", "}"];

        private static int Expression(string s, int i, string closer, List<Token> tokens, out bool stripAfter)
        {
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) throw new NotSupportedException($"Chat template: a tag is never closed with '{closer}'.");
                if (s[i] == '-' && string.CompareOrdinal(s, i + 1, closer, 0, 2) == 0) { stripAfter = true; return i + 3; }
                if (string.CompareOrdinal(s, i, closer, 0, 2) == 0) { stripAfter = false; return i + 2; }
                char c = s[i];
                if (c is '\'' or '"')
                {
                    var sb = new StringBuilder();
                    int j = i + 1;
                    for (; j < s.Length && s[j] != c; j++)
                    {
                        if (s[j] != '\\' || j + 1 >= s.Length) { sb.Append(s[j]); continue; }
                        j++;
                        sb.Append(s[j] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', var e => e });
                    }
                    if (j >= s.Length) throw new NotSupportedException("Chat template: a string literal is never closed.");
                    tokens.Add(new Token(Kind.String, sb.ToString()));
                    i = j + 1;
                }
                else if (char.IsDigit(c))
                {
                    int j = i;
                    while (j < s.Length && char.IsDigit(s[j])) j++;
                    if (j < s.Length && s[j] == '.' && j + 1 < s.Length && char.IsDigit(s[j + 1]))
                        throw new NotSupportedException($"Chat template: float literal at '{s[i..Math.Min(s.Length, j + 4)]}'.");
                    tokens.Add(new Token(Kind.Integer, s[i..j]));
                    i = j;
                }
                else if (char.IsLetter(c) || c == '_')
                {
                    int j = i;
                    while (j < s.Length && (char.IsLetterOrDigit(s[j]) || s[j] == '_')) j++;
                    tokens.Add(new Token(Kind.Name, s[i..j]));
                    i = j;
                }
                else
                {
                    var op = Operators.FirstOrDefault(o => string.CompareOrdinal(s, i, o, 0, o.Length) == 0)
                        ?? throw new NotSupportedException($"Chat template: unexpected character '{c}'.");
                    tokens.Add(new Token(Kind.Operator, op));
                    i += op.Length;
                }
            }
        }
    }

    // ---- parsing ---------------------------------------------------------------------------------------------

    private sealed class Parser(List<Token> tokens)
    {
        private int _at;
        private int _depth;

        private Token Peek => tokens[_at];

        private Token Next() => tokens[_at++];

        private bool IsOp(string op) => Peek.Kind == Kind.Operator && Peek.Value == op;

        private bool IsName(string name) => Peek.Kind == Kind.Name && Peek.Value == name;

        private void Expect(Kind kind, string? value = null)
        {
            var t = Next();
            if (t.Kind != kind || (value is not null && t.Value != value))
                throw new NotSupportedException($"Chat template: expected {(value ?? kind.ToString())} but found '{(t.Kind == Kind.Close ? "end of tag" : t.Value)}'.");
        }

        private string ExpectName()
        {
            var t = Next();
            return t.Kind == Kind.Name ? t.Value : throw new NotSupportedException($"Chat template: expected a name but found '{t.Value}'.");
        }

        /// <summary>Nodes until the end or a closing keyword (endfor, endif, elif, else), returned in <paramref name="end"/>.</summary>
        public List<Node> Block(out string? end)
        {
            if (++_depth > MaxNesting) throw new NotSupportedException($"Chat template: blocks nested more than {MaxNesting} deep.");
            var nodes = new List<Node>();
            try
            {
                while (true)
                {
                    var t = Next();
                    switch (t.Kind)
                    {
                        case Kind.End:
                            end = null;
                            _at--;
                            return nodes;
                        case Kind.Text:
                            nodes.Add(new TextNode(t.Value));
                            break;
                        case Kind.OutputOpen:
                            nodes.Add(new OutputNode(Expression()));
                            Expect(Kind.Close);
                            break;
                        case Kind.StatementOpen:
                            string keyword = ExpectName();
                            if (keyword is "endfor" or "endif" or "elif" or "else") { end = keyword; return nodes; }
                            nodes.Add(Statement(keyword));
                            break;
                        default:
                            throw new NotSupportedException($"Chat template: unexpected '{t.Value}'.");
                    }
                }
            }
            finally { _depth--; }
        }

        private Node Statement(string keyword)
        {
            switch (keyword)
            {
                case "set":
                {
                    string name = ExpectName();
                    if (IsOp(".") || IsOp("["))
                        throw new NotSupportedException("Chat template: '{% set %}' of an attribute or item (namespace objects) is not supported.");
                    Expect(Kind.Operator, "=");
                    var value = Expression();
                    Expect(Kind.Close);
                    return new SetNode(name, value);
                }
                case "for":
                {
                    string variable = ExpectName();
                    if (IsOp(",")) throw new NotSupportedException("Chat template: '{% for a, b in ... %}' (unpacking) is not supported.");
                    Expect(Kind.Name, "in");
                    var source = Or();
                    if (IsName("if") || IsName("recursive")) throw new NotSupportedException($"Chat template: '{{% for ... {Peek.Value} %}}' is not supported.");
                    Expect(Kind.Close);
                    var body = Block(out var end);
                    if (end == "else") throw new NotSupportedException("Chat template: '{% for %}...{% else %}' is not supported.");
                    if (end != "endfor") throw new NotSupportedException("Chat template: '{% for %}' without '{% endfor %}'.");
                    Expect(Kind.Close);
                    return new ForNode(variable, source, body);
                }
                case "if":
                {
                    var branches = new List<(Expr, List<Node>)>();
                    List<Node>? otherwise = null;
                    var condition = Expression();
                    Expect(Kind.Close);
                    while (true)
                    {
                        var body = Block(out var end);
                        if (end == "elif")
                        {
                            branches.Add((condition, body));
                            condition = Expression();
                            Expect(Kind.Close);
                            continue;
                        }
                        branches.Add((condition, body));
                        if (end == "else")
                        {
                            Expect(Kind.Close);
                            otherwise = Block(out end);
                        }
                        if (end != "endif") throw new NotSupportedException("Chat template: '{% if %}' without '{% endif %}'.");
                        Expect(Kind.Close);
                        return new IfNode(branches, otherwise);
                    }
                }
                default:
                    throw new NotSupportedException($"Chat template: the statement '{{% {keyword} %}}' is not supported.");
            }
        }

        private Expr Expression()
        {
            if (++_depth > MaxNesting) throw new NotSupportedException($"Chat template: expressions nested more than {MaxNesting} deep.");
            try
            {
                var value = Or();
                if (!IsName("if")) return value;
                Next();
                var test = Or();
                Expr? otherwise = null;
                if (IsName("else")) { Next(); otherwise = Expression(); }
                return new Condition(test, value, otherwise);
            }
            finally { _depth--; }
        }

        private Expr Or()
        {
            var left = And();
            while (IsName("or")) { Next(); left = new Binary("or", left, And()); }
            return left;
        }

        private Expr And()
        {
            var left = Not();
            while (IsName("and")) { Next(); left = new Binary("and", left, Not()); }
            return left;
        }

        private Expr Not()
        {
            if (!IsName("not")) return Compare();
            Next();
            return new Unary("not", Not());
        }

        private Expr Compare()
        {
            var left = Sum();
            while (true)
            {
                if (Peek.Kind == Kind.Operator && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                    left = new Binary(Next().Value, left, Sum());
                else if (IsName("in")) { Next(); left = new Binary("in", left, Sum()); }
                else if (IsName("not") && tokens[_at + 1] is { Kind: Kind.Name, Value: "in" }) { _at += 2; left = new Binary("not in", left, Sum()); }
                else return left;
            }
        }

        private Expr Sum()
        {
            var left = Concat();
            while (IsOp("+") || IsOp("-")) left = new Binary(Next().Value, left, Concat());
            return left;
        }

        private Expr Concat()
        {
            var left = Product();
            while (IsOp("~")) { Next(); left = new Binary("~", left, Product()); }
            return left;
        }

        private Expr Product()
        {
            var left = UnaryMinus();
            while (IsOp("*") || IsOp("/") || IsOp("%") || IsOp("//") || IsOp("**"))
            {
                string op = Next().Value;
                if (op is "//" or "**") throw new NotSupportedException($"Chat template: operator '{op}'.");
                left = new Binary(op, left, UnaryMinus());
            }
            return left;
        }

        private Expr UnaryMinus()
        {
            if (!IsOp("-")) return Filtered();
            Next();
            return new Unary("-", UnaryMinus());
        }

        private Expr Filtered()
        {
            var value = Postfix(Primary());
            while (true)
            {
                if (IsOp("|"))
                {
                    Next();
                    string filter = ExpectName();
                    if (filter is not ("trim" or "length" or "upper" or "lower" or "string"))
                        throw new NotSupportedException($"Chat template: the filter '| {filter}' is not supported.");
                    var args = IsOp("(") ? Arguments() : [];
                    value = new Call(filter, args, value);
                }
                else if (IsName("is"))
                {
                    Next();
                    bool negated = IsName("not");
                    if (negated) Next();
                    var t = Next();
                    string test = t.Kind == Kind.Name ? t.Value : throw new NotSupportedException($"Chat template: 'is {t.Value}'.");
                    if (!KnownTests.Contains(test)) throw new NotSupportedException($"Chat template: the test 'is {test}' is not supported.");
                    value = new Test(value, test, negated);
                }
                else return value;
            }
        }

        private Expr Postfix(Expr value)
        {
            while (true)
            {
                if (IsOp("."))
                {
                    Next();
                    string member = ExpectName();
                    if (IsOp("("))
                    {
                        if (member is not ("strip" or "lstrip" or "rstrip" or "upper" or "lower" or "startswith" or "endswith"))
                            throw new NotSupportedException($"Chat template: the method '.{member}()' is not supported.");
                        value = new Call(member == "strip" ? "trim" : member, Arguments(), value);
                    }
                    else value = new Member(value, new Literal(member));
                }
                else if (IsOp("["))
                {
                    Next();
                    Expr? start = IsOp(":") ? null : Expression();
                    if (IsOp(":"))
                    {
                        Next();
                        Expr? stop = IsOp("]") ? null : Expression();
                        if (IsOp(":")) throw new NotSupportedException("Chat template: slices with a step are not supported.");
                        value = new Slice(value, start, stop);
                    }
                    else value = new Member(value, start!);
                    Expect(Kind.Operator, "]");
                }
                else return value;
            }
        }

        private List<Expr> Arguments()
        {
            Expect(Kind.Operator, "(");
            var args = new List<Expr>();
            while (!IsOp(")"))
            {
                if (tokens[_at + 1] is { Kind: Kind.Operator, Value: "=" })
                    throw new NotSupportedException($"Chat template: keyword argument '{Peek.Value}='.");
                args.Add(Expression());
                if (!IsOp(")")) Expect(Kind.Operator, ",");
            }
            Next();
            return args;
        }

        private Expr Primary()
        {
            var t = Next();
            switch (t.Kind)
            {
                case Kind.String:
                    // Adjacent string literals concatenate, as in Python.
                    string s = t.Value;
                    while (Peek.Kind == Kind.String) s += Next().Value;
                    return new Literal(s);
                case Kind.Integer:
                    return new Literal(long.Parse(t.Value, CultureInfo.InvariantCulture));
                case Kind.Name:
                    switch (t.Value)
                    {
                        case "true" or "True": return new Literal(true);
                        case "false" or "False": return new Literal(false);
                        case "none" or "None": return new Literal(null);
                    }
                    if (IsOp("("))
                    {
                        if (t.Value != "raise_exception")
                            throw new NotSupportedException($"Chat template: the function '{t.Value}()' is not supported.");
                        return new Call(t.Value, Arguments(), null);
                    }
                    return new Name(t.Value);
                case Kind.Operator when t.Value == "(":
                    var inner = Expression();
                    Expect(Kind.Operator, ")");
                    return inner;
                case Kind.Operator when t.Value == "[":
                    var items = new List<Expr>();
                    while (!IsOp("]"))
                    {
                        items.Add(Expression());
                        if (!IsOp("]")) Expect(Kind.Operator, ",");
                    }
                    Next();
                    return new ListExpr(items);
                case Kind.Operator when t.Value == "{":
                    throw new NotSupportedException("Chat template: dictionary literals are not supported.");
                default:
                    throw new NotSupportedException($"Chat template: unexpected '{(t.Kind == Kind.Close ? "end of tag" : t.Value)}' in an expression.");
            }
        }
    }
}

using System.Reflection;
using System.Runtime.CompilerServices;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// The public API of MLNet.Attention.Estimators against a committed snapshot (PublicApi.txt), so that an API change
/// is a visible diff. To accept a change, copy the file the failure names over PublicApi.txt.
/// </summary>
[TestClass]
public sealed class PublicApiTests
{
    private static string Here([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    internal static IEnumerable<string> Describe(Assembly assembly)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var t in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            string kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? "struct" : t.IsAbstract && t.IsSealed ? "static class" : t.IsSubclassOf(typeof(Delegate)) ? "delegate" : "class";
            yield return $"{kind} {Name(t)}";
            if (t.IsEnum)
            {
                foreach (var n in Enum.GetNames(t)) yield return $"  {n}";
                continue;
            }
            var members = new List<string>();
            foreach (var m in t.GetMembers(flags))
            {
                switch (m)
                {
                    case ConstructorInfo c when c.IsPublic:
                        members.Add($"  .ctor({Params(c)})");
                        break;
                    case MethodInfo mi when mi.IsPublic && !mi.IsSpecialName:
                        members.Add($"  {(mi.IsStatic ? "static " : "")}{Name(mi.ReturnType)} {mi.Name}{(mi.IsGenericMethod ? "<" + string.Join(", ", mi.GetGenericArguments().Select(a => a.Name)) + ">" : "")}({Params(mi)})");
                        break;
                    case PropertyInfo p when (p.GetMethod?.IsPublic ?? false) || (p.SetMethod?.IsPublic ?? false):
                        members.Add($"  {((p.GetMethod ?? p.SetMethod)!.IsStatic ? "static " : "")}{Name(p.PropertyType)} {p.Name}{(p.GetIndexParameters().Length > 0 ? "[" + string.Join(", ", p.GetIndexParameters().Select(i => Name(i.ParameterType))) + "]" : "")} {{{(p.GetMethod?.IsPublic ?? false ? " get;" : "")}{(p.SetMethod?.IsPublic ?? false ? " set;" : "")} }}");
                        break;
                    case FieldInfo f when f.IsPublic:
                        members.Add($"  {(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{Name(f.FieldType)} {f.Name}");
                        break;
                    case EventInfo e:
                        members.Add($"  event {Name(e.EventHandlerType!)} {e.Name}");
                        break;
                }
            }
            foreach (var m in members.Order(StringComparer.Ordinal)) yield return m;
        }
    }

    private static string Params(MethodBase m) => string.Join(", ", m.GetParameters().Select(p => $"{(p.ParameterType.IsByRef ? (p.IsOut ? "out " : "ref ") : "")}{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? " = " + Literal(p.DefaultValue) : "")}"));

    private static string Literal(object? v) => v switch
    {
        null => "null",
        string s => $"\"{s}\"",
        char c => $"'{c}'",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string Name(Type t)
    {
        if (t.IsByRef) return Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[]";
        if (t.IsGenericParameter) return t.Name;
        var n = t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : t.Namespace is "System" or "System.Collections.Generic" ? t.Name : t.FullName ?? t.Name;
        if (!t.IsGenericType) return n;
        int tick = n.IndexOf('`', StringComparison.Ordinal);
        return (tick < 0 ? n : n[..tick]) + "<" + string.Join(", ", t.GetGenericArguments().Select(Name)) + ">";
    }

    [TestMethod]
    public void PublicApiMatchesTheSnapshot()
    {
        var actual = Describe(typeof(MLContext).Assembly).ToArray();
        var snapshot = Path.Combine(Here(), "PublicApi.txt");
        var expected = File.Exists(snapshot) ? File.ReadAllLines(snapshot) : Array.Empty<string>();
        if (actual.SequenceEqual(expected)) return;
        var received = Path.Combine(Path.GetTempPath(), $"PublicApi.received.{Guid.NewGuid():N}.txt");
        File.WriteAllLines(received, actual);
        var added = actual.Except(expected).Take(20);
        var removed = expected.Except(actual).Take(20);
        Assert.Fail($"the public API changed; the new one is in {received}.\nadded:\n{string.Join("\n", added)}\nremoved:\n{string.Join("\n", removed)}");
    }
}

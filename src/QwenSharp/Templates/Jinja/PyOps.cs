using System.Numerics;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Python semantics of the operators templates use: truthiness, ==, ordering, <c>in</c>, arithmetic (with
/// Python's error messages, e.g. str + None is a TypeError), iteration and len().
/// </summary>
internal static class PyOps
{
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        SafeString => "Markup",
        List<object?> => "list",
        PyTuple => "tuple",
        PyDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        PySlice => "slice",
        PyDictView view => view.Kind,
        PyGenerator g => g.Kind,
        BoundMethod => "builtin_function_or_method",
        JinjaCallable => "function",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        BigInteger big => !big.IsZero,
        double d => d != 0,
        string s => s.Length > 0,
        SafeString m => m.Value.Length > 0,
        List<object?> list => list.Count > 0,
        PyTuple t => t.Count > 0,
        PyDict d => d.Count > 0,
        PyDictView view => view.Count > 0,
        Undefined => false,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool or BigInteger;

    public static bool TryString(object? v, out string s)
    {
        switch (v)
        {
            case string str: s = str; return true;
            case SafeString m: s = m.Value; return true;
            default: s = ""; return false;
        }
    }

    // ---------- equality and ordering ----------

    public static bool Equal(object? a, object? b)
    {
        if (ReferenceEquals(a, b)) return a is not double d0 || !double.IsNaN(d0);
        if (a is null || b is null) return false;
        if (a is string sa && b is string sb) return string.Equals(sa, sb, StringComparison.Ordinal);
        if (IsNumber(a) && IsNumber(b)) return CompareNumbers(a, b) == 0;
        if (TryString(a, out var x) && TryString(b, out var y)) return string.Equals(x, y, StringComparison.Ordinal);
        switch (a)
        {
            case List<object?> la when b is List<object?> lb: return SequenceEqual(la, lb);
            case PyTuple ta when b is PyTuple tb: return SequenceEqual(ta, tb);
            case PyDict da when b is PyDict db:
                if (da.Count != db.Count) return false;
                for (int i = 0; i < da.Count; i++)
                    if (!db.TryGetValue(da.KeyAt(i), out var v) || !Equal(da.ValueAt(i), v)) return false;
                return true;
            case Undefined when b is Undefined: return true;
        }
        return false;
    }

    static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++) if (!Equal(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Compares two numbers exactly (int vs float as Python does); NaN compares unequal to all.</summary>
    static int CompareNumbers(object a, object b)
    {
        if (a is long la && b is long lb) return la.CompareTo(lb);
        if (a is double || b is double)
        {
            double da = ToDouble(a), db = ToDouble(b);
            if (double.IsNaN(da) || double.IsNaN(db)) return 2;
            if (a is double && b is double) return da.CompareTo(db);
            // int vs float: compare exactly when the float is integral
            double f = a is double ? da : db;
            object i = a is double ? b : a;
            int sign = a is double ? 1 : -1; // result of float <=> int
            int r;
            if (double.IsInfinity(f)) r = f > 0 ? 1 : -1;
            else
            {
                var fi = new BigInteger(Math.Floor(f));
                int c = fi.CompareTo(PyInt.ToBig(i));
                r = c != 0 ? c : (f > Math.Floor(f) ? 1 : 0);
            }
            return sign * r;
        }
        return PyInt.ToBig(a).CompareTo(PyInt.ToBig(b));
    }

    public static double ToDouble(object v) => v switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger big => (double)big,
        _ => throw new InvalidCastException(),
    };

    /// <summary>Evaluates &lt; &lt;= &gt; &gt;= as Python does; TypeError for values that have no order.</summary>
    public static bool Order(object? a, object? b, TokenKind op)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        int c = Compare(a, b, op);
        if (c == 2) return false; // NaN
        return op switch
        {
            TokenKind.Lt => c < 0,
            TokenKind.LtEq => c <= 0,
            TokenKind.Gt => c > 0,
            _ => c >= 0,
        };
    }

    /// <summary>-1, 0 or 1 (2 when a NaN is involved); TypeError when the two cannot be ordered.</summary>
    public static int Compare(object? a, object? b, TokenKind op = TokenKind.Lt)
    {
        if (IsNumber(a) && IsNumber(b)) return CompareNumbers(a!, b!);
        if (TryString(a, out var x) && TryString(b, out var y)) return Math.Sign(PyText.CompareCodePoints(x, y));
        if ((a is List<object?> && b is List<object?>) || (a is PyTuple && b is PyTuple))
        {
            var la = (IReadOnlyList<object?>)a; var lb = (IReadOnlyList<object?>)b;
            int n = Math.Min(la.Count, lb.Count);
            for (int i = 0; i < n; i++)
                if (!Equal(la[i], lb[i])) return Compare(la[i], lb[i], op);
            return la.Count.CompareTo(lb.Count);
        }
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        throw JinjaError.Type($"'{Token.Describe(op)}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (!TryString(item, out var sub)) throw JinjaError.Type($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return s.Contains(sub, StringComparison.Ordinal);
            case SafeString m:
                if (!TryString(item, out var sub2)) throw JinjaError.Type($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return m.Value.Contains(sub2, StringComparison.Ordinal);
            case List<object?> list:
                foreach (var x in list) if (Equal(x, item)) return true;
                return false;
            case PyTuple t:
                foreach (var x in t) if (Equal(x, item)) return true;
                return false;
            case PyDict d:
                return d.ContainsKey(item);
            case PyDictView view:
                foreach (var x in view) if (Equal(x, item)) return true;
                return false;
            case PyGenerator g:
                foreach (var x in g.Take()) if (Equal(x, item)) return true;
                return false;
            case Undefined:
                return false;
            default:
                throw JinjaError.Type($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    // ---------- iteration and len ----------

    /// <summary>The items a for loop (or list()) sees: a list's items, a string's characters, a dict's keys.</summary>
    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        List<object?> list => list,
        PyTuple t => t,
        string s => PyText.CodePoints(s),
        SafeString m => PyText.CodePoints(m.Value),
        PyDict d => d.Keys.ToList(),
        PyDictView view => view,
        PyGenerator g => g.Take(),
        Undefined => Array.Empty<object?>(),
        _ => throw JinjaError.Type($"'{TypeName(v)}' object is not iterable"),
    };

    public static bool IsIterable(object? v) => v is List<object?> or PyTuple or string or SafeString or PyDict or PyDictView or PyGenerator or Undefined;

    public static long Length(object? v) => v switch
    {
        string s => PyText.Length(s),
        SafeString m => PyText.Length(m.Value),
        List<object?> list => list.Count,
        PyTuple t => t.Count,
        PyDict d => d.Count,
        PyDictView view => view.Count,
        Undefined => 0,
        _ => throw JinjaError.Type($"object of type '{TypeName(v)}' has no len()"),
    };

    // ---------- arithmetic ----------

    static JinjaError Unsupported(string op, object? a, object? b) =>
        JinjaError.Type($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

    static void FailUndefined(object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
    }

    public static object? Add(RenderContext ctx, object? a, object? b)
    {
        FailUndefined(a, b);
        if (a is string sa && b is string sb) return ctx.CheckedConcat(sa, sb);
        if (a is long la && b is long lb) return PyInt.Add(la, lb);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a!) + ToDouble(b!);
            return PyInt.Normalize(PyInt.ToBig(a!) + PyInt.ToBig(b!));
        }
        if (a is SafeString ma && TryString(b, out var tb)) return new SafeString(ctx.CheckedConcat(ma.Value, b is SafeString ? tb : SafeString.Escape(tb)));
        if (b is SafeString mb && a is string ta) return new SafeString(ctx.CheckedConcat(SafeString.Escape(ta), mb.Value));
        if (a is List<object?> l1 && b is List<object?> l2)
        {
            ctx.CheckItems(l1.Count + (long)l2.Count);
            var r = new List<object?>(l1.Count + l2.Count);
            r.AddRange(l1); r.AddRange(l2);
            return r;
        }
        if (a is PyTuple t1 && b is PyTuple t2)
        {
            ctx.CheckItems(t1.Count + (long)t2.Count);
            return new PyTuple([.. t1, .. t2]);
        }
        if (a is string) throw JinjaError.Type($"can only concatenate str (not \"{TypeName(b)}\") to str");
        if (a is List<object?>) throw JinjaError.Type($"can only concatenate list (not \"{TypeName(b)}\") to list");
        if (a is PyTuple) throw JinjaError.Type($"can only concatenate tuple (not \"{TypeName(b)}\") to tuple");
        throw Unsupported("+", a, b);
    }

    public static object? Sub(object? a, object? b)
    {
        FailUndefined(a, b);
        if (a is long la && b is long lb) return PyInt.Sub(la, lb);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a!) - ToDouble(b!);
            return PyInt.Normalize(PyInt.ToBig(a!) - PyInt.ToBig(b!));
        }
        throw Unsupported("-", a, b);
    }

    public static object? Mul(RenderContext ctx, object? a, object? b)
    {
        FailUndefined(a, b);
        if (a is long la && b is long lb) return PyInt.Mul(la, lb);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a!) * ToDouble(b!);
            return PyInt.Normalize(PyInt.ToBig(a!) * PyInt.ToBig(b!));
        }
        if (PyInt.IsInt(a) && !PyInt.IsInt(b)) (a, b) = (b, a);
        if (PyInt.IsInt(b))
        {
            var big = PyInt.ToBig(b!);
            long n = big.Sign <= 0 ? 0 : big > int.MaxValue ? int.MaxValue : (long)big;
            switch (a)
            {
                case string s:
                    ctx.CheckLength(s.Length * n);
                    return n == 0 || s.Length == 0 ? "" : new System.Text.StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();
                case List<object?> list:
                {
                    ctx.CheckItems(list.Count * n);
                    var r = new List<object?>((int)(list.Count * n));
                    for (long i = 0; i < n; i++) r.AddRange(list);
                    return r;
                }
                case PyTuple t:
                {
                    ctx.CheckItems(t.Count * n);
                    var r = new List<object?>();
                    for (long i = 0; i < n; i++) r.AddRange(t);
                    return new PyTuple(r.ToArray());
                }
            }
            if (a is SafeString m) return new SafeString((string)Mul(ctx, m.Value, b)!);
        }
        throw Unsupported("*", a, b);
    }

    public static object? Div(object? a, object? b)
    {
        FailUndefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            double y = ToDouble(b!);
            if (y == 0) throw new JinjaError("ZeroDivisionError", a is double || b is double ? "float division by zero" : "division by zero");
            if (PyInt.IsInt(a) && PyInt.IsInt(b)) return PyInt.TrueDivide(PyInt.ToBig(a!), PyInt.ToBig(b!));
            return ToDouble(a!) / y;
        }
        throw Unsupported("/", a, b);
    }

    public static object? FloorDiv(object? a, object? b)
    {
        FailUndefined(a, b);
        if (PyInt.IsInt(a) && PyInt.IsInt(b))
        {
            var y = PyInt.ToBig(b!);
            if (y.IsZero) throw new JinjaError("ZeroDivisionError", "integer division or modulo by zero");
            return PyInt.Normalize(PyInt.DivMod(PyInt.ToBig(a!), y).Quotient);
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double x = ToDouble(a!), y = ToDouble(b!);
            if (y == 0) throw new JinjaError("ZeroDivisionError", "float floor division by zero");
            return FloatFloorDiv(x, y);
        }
        throw Unsupported("//", a, b);
    }

    /// <summary>CPython's float floor division (float_divmod): exact in cases where floor(x / y) is not.</summary>
    static double FloatFloorDiv(double x, double y)
    {
        double mod = x % y;
        double div = (x - mod) / y;
        if (mod != 0 && (y < 0) != (mod < 0)) div -= 1.0;
        if (div == 0) return Math.CopySign(0.0, x / y);
        double floor = Math.Floor(div);
        if (div - floor > 0.5) floor += 1.0;
        return floor;
    }

    public static object? Mod(RenderContext ctx, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (TryString(a, out var fmt)) return PyFormat.Percent(ctx, fmt, b);
        if (b is Undefined ub) throw ub.Fail();
        if (PyInt.IsInt(a) && PyInt.IsInt(b))
        {
            var y = PyInt.ToBig(b!);
            if (y.IsZero) throw new JinjaError("ZeroDivisionError", "integer modulo by zero");
            return PyInt.Normalize(PyInt.DivMod(PyInt.ToBig(a!), y).Remainder);
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double x = ToDouble(a!), y = ToDouble(b!);
            if (y == 0) throw new JinjaError("ZeroDivisionError", "float modulo");
            double r = x % y;
            if (r != 0) { if ((r < 0) != (y < 0)) r += y; }
            else r = Math.CopySign(0.0, y);
            return r;
        }
        throw Unsupported("%", a, b);
    }

    public static object? Pow(RenderContext ctx, object? a, object? b)
    {
        FailUndefined(a, b);
        if (PyInt.IsInt(a) && PyInt.IsInt(b))
        {
            var x = PyInt.ToBig(a!);
            var y = PyInt.ToBig(b!);
            if (y.Sign >= 0)
            {
                if (x.IsZero) return y.IsZero ? 1L : 0L;
                if (x.IsOne) return 1L;
                if (x == BigInteger.MinusOne) return y.IsEven ? 1L : -1L;
                double bits = (double)y * BigInteger.Log(BigInteger.Abs(x), 2);
                if (bits > 64 * 1024) throw JinjaError.Limit("integer power too large");
                return PyInt.Normalize(BigInteger.Pow(x, (int)y));
            }
            if (x.IsZero) throw new JinjaError("ZeroDivisionError", "0.0 cannot be raised to a negative power");
            return Math.Pow((double)x, (double)y);
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double x = ToDouble(a!), y = ToDouble(b!);
            if (x == 0 && y < 0) throw new JinjaError("ZeroDivisionError", "0.0 cannot be raised to a negative power");
            if (x < 0 && y != Math.Floor(y)) throw JinjaError.Value("complex results are not supported");
            double result = Math.Pow(x, y);
            if (double.IsInfinity(result) && double.IsFinite(x) && double.IsFinite(y)) throw new JinjaError("OverflowError", "(34, 'Numerical result out of range')");
            return result;
        }
        throw Unsupported("** or pow()", a, b);
    }

    public static object? Negate(object? a) => a switch
    {
        long l => l == long.MinValue ? PyInt.Normalize(-(BigInteger)l) : -l,
        bool b => b ? -1L : 0L,
        double d => -d,
        BigInteger big => PyInt.Normalize(-big),
        Undefined u => throw u.Fail(),
        _ => throw JinjaError.Type($"bad operand type for unary -: '{TypeName(a)}'"),
    };

    public static object? Plus(object? a) => a switch
    {
        long or double or BigInteger => a,
        bool b => b ? 1L : 0L,
        Undefined u => throw u.Fail(),
        _ => throw JinjaError.Type($"bad operand type for unary +: '{TypeName(a)}'"),
    };

    /// <summary>An int argument (bool counts, as in Python), or TypeError.</summary>
    public static long ToIndex(object? v, string what) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger big => big > long.MaxValue ? long.MaxValue : big < long.MinValue ? long.MinValue : (long)big,
        Undefined u => throw u.Fail(),
        _ => throw JinjaError.Type($"'{TypeName(v)}' object cannot be interpreted as an integer ({what})"),
    };
}

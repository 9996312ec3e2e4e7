using System.Globalization;
using System.Numerics;
using System.Text;

namespace QwenSharp.Templates.Jinja;

/// <summary>
/// Python string formatting: <c>"%s" % x</c> (and the <c>format</c> filter), <c>"{}".format(x)</c>, and
/// <c>strftime</c> for transformers' <c>strftime_now</c> global.
/// </summary>
internal static class PyFormat
{
    // ---------- printf-style: "%-5s %03d" % (a, b) ----------

    public static string Percent(RenderContext ctx, string format, object? args)
    {
        IReadOnlyList<object?> values = args is PyTuple t ? t : [args];
        var mapping = args as PyDict;
        int next = 0;
        var sb = new StringBuilder();
        int i = 0, n = format.Length;
        while (i < n)
        {
            char c = format[i];
            if (c != '%') { sb.Append(c); i++; continue; }
            int start = i++;
            if (i >= n) throw JinjaError.Value("incomplete format");
            object? value = Missing.Value;
            if (format[i] == '(')
            {
                if (mapping == null) throw JinjaError.Type("format requires a mapping");
                int depth = 1, k = i + 1;
                while (k < n && depth > 0) { if (format[k] == '(') depth++; else if (format[k] == ')') depth--; k++; }
                if (depth > 0) throw JinjaError.Value("incomplete format key");
                string key = format[(i + 1)..(k - 1)];
                if (!mapping.TryGetValue(key, out value)) throw new JinjaError("KeyError", PyRepr.Repr(key));
                i = k;
            }
            string flags = "";
            while (i < n && "-+ #0".Contains(format[i])) flags += format[i++];
            long width = -1, precision = -1;
            if (i < n && format[i] == '*') { width = PyOps.ToIndex(Take(values, ref next), "width"); i++; }
            else { int w0 = i; while (i < n && char.IsAsciiDigit(format[i])) i++; if (i > w0) width = long.Parse(format[w0..i], CultureInfo.InvariantCulture); }
            if (i < n && format[i] == '.')
            {
                i++;
                if (i < n && format[i] == '*') { precision = PyOps.ToIndex(Take(values, ref next), "precision"); i++; }
                else { int p0 = i; while (i < n && char.IsAsciiDigit(format[i])) i++; precision = i > p0 ? long.Parse(format[p0..i], CultureInfo.InvariantCulture) : 0; }
            }
            while (i < n && format[i] is 'h' or 'l' or 'L') i++;
            if (i >= n) throw JinjaError.Value("incomplete format");
            char conv = format[i++];
            if (conv == '%') { sb.Append('%'); continue; }
            if (value is Missing) value = Take(values, ref next);
            if (width > ctx.Limits.MaxOutputLength || precision > ctx.Limits.MaxOutputLength) throw JinjaError.Limit("format width too large");
            string body = Convert(value, conv, flags, (int)precision, start);
            sb.Append(PadField(body, (int)width, flags, conv));
            ctx.CheckLength(sb.Length);
        }
        if (mapping == null && next < values.Count) throw JinjaError.Type("not all arguments converted during string formatting");
        return sb.ToString();
    }

    static object? Take(IReadOnlyList<object?> values, ref int next)
    {
        if (next >= values.Count) throw JinjaError.Type("not enough arguments for format string");
        return values[next++];
    }

    static string Convert(object? v, char conv, string flags, int precision, int at)
    {
        switch (conv)
        {
            case 's':
            {
                string s = PyRepr.Str(v);
                return precision >= 0 && precision < s.Length ? s[..precision] : s;
            }
            case 'r':
            case 'a':
            {
                string s = PyRepr.Repr(v);
                return precision >= 0 && precision < s.Length ? s[..precision] : s;
            }
            case 'd' or 'i' or 'u':
            {
                if (!PyOps.IsNumber(v)) throw JinjaError.Type($"%{conv} format: a real number is required, not {PyOps.TypeName(v)}");
                BigInteger x = v is double d ? TruncateDouble(d) : PyInt.ToBig(v!);
                return Signed(BigInteger.Abs(x).ToString(CultureInfo.InvariantCulture), x.Sign < 0, flags, precision);
            }
            case 'x' or 'X' or 'o':
            {
                if (!PyInt.IsInt(v)) throw JinjaError.Type($"%{conv} format: an integer is required, not {PyOps.TypeName(v)}");
                var x = PyInt.ToBig(v!);
                var abs = BigInteger.Abs(x);
                string digits = conv == 'o' ? ToBase(abs, 8) : ToBase(abs, 16);
                if (conv == 'X') digits = digits.ToUpperInvariant();
                if (flags.Contains('#')) digits = (conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X") + digits;
                return Signed(digits, x.Sign < 0, flags, -1);
            }
            case 'e' or 'E' or 'f' or 'F' or 'g' or 'G':
            {
                if (!PyOps.IsNumber(v)) throw JinjaError.Type($"must be real number, not {PyOps.TypeName(v)}");
                double d = PyOps.ToDouble(v!);
                string body = FormatFloat(Math.Abs(d), conv, precision < 0 ? 6 : precision, flags.Contains('#'));
                return Signed(body, double.IsNegative(d) && !double.IsNaN(d), flags, -1);
            }
            case 'c':
                if (PyOps.TryString(v, out var ch) && PyText.Length(ch) == 1) return ch;
                if (PyInt.IsInt(v))
                {
                    var cp = PyInt.ToBig(v!);
                    if (cp < 0 || cp > 0x10FFFF) throw new JinjaError("OverflowError", "%c arg not in range(0x110000)");
                    return cp >= 0xD800 && cp <= 0xDFFF ? ((char)(int)cp).ToString() : char.ConvertFromUtf32((int)cp);
                }
                throw JinjaError.Type("%c requires int or char");
            default:
                throw JinjaError.Value($"unsupported format character '{conv}' (0x{(int)conv:x}) at index {at + 1}");
        }
    }

    static BigInteger TruncateDouble(double d)
    {
        if (double.IsNaN(d)) throw JinjaError.Value("cannot convert float NaN to integer");
        if (double.IsInfinity(d)) throw new JinjaError("OverflowError", "cannot convert float infinity to integer");
        return new BigInteger(Math.Truncate(d));
    }

    static string ToBase(BigInteger v, int b)
    {
        if (v.IsZero) return "0";
        var sb = new StringBuilder();
        while (!v.IsZero) { sb.Insert(0, "0123456789abcdef"[(int)(v % b)]); v /= b; }
        return sb.ToString();
    }

    static string Signed(string digits, bool negative, string flags, int precision)
    {
        if (precision > digits.Length) digits = new string('0', precision - digits.Length) + digits;
        string sign = negative ? "-" : flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "";
        return sign + digits;
    }

    static string PadField(string body, int width, string flags, char conv)
    {
        if (width <= body.Length) return body;
        if (flags.Contains('-')) return body.PadRight(width);
        if (flags.Contains('0') && conv is not ('s' or 'r' or 'a' or 'c'))
        {
            int signLen = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
            if (body.Length > signLen + 1 && body[signLen] == '0' && body[signLen + 1] is 'x' or 'X' or 'o') signLen += 2;
            return body[..signLen] + new string('0', width - body.Length) + body[signLen..];
        }
        return body.PadLeft(width);
    }

    /// <summary>Formats a non-negative float as Python's %e / %f / %g do.</summary>
    public static string FormatFloat(double d, char conv, int precision, bool alternate)
    {
        if (double.IsNaN(d)) return char.IsUpper(conv) ? "NAN" : "nan";
        if (double.IsInfinity(d)) return char.IsUpper(conv) ? "INF" : "inf";
        switch (conv)
        {
            case 'f' or 'F':
            {
                string s = d.ToString("F" + precision, CultureInfo.InvariantCulture);
                return alternate && precision == 0 ? s + "." : s;
            }
            case 'e' or 'E':
                return Exponential(d, precision, conv, alternate);
            default:
            {
                int p = precision == 0 ? 1 : precision;
                string e = d.ToString("E" + (p - 1), CultureInfo.InvariantCulture);
                int x = int.Parse(e[(e.IndexOf('E') + 1)..], CultureInfo.InvariantCulture);
                string r;
                if (x >= -4 && x < p) r = d.ToString("F" + (p - 1 - x), CultureInfo.InvariantCulture);
                else r = Exponential(d, p - 1, conv == 'G' ? 'E' : 'e', alternate);
                if (!alternate)
                {
                    int ePos = r.IndexOfAny(['e', 'E']);
                    string mant = ePos < 0 ? r : r[..ePos], rest = ePos < 0 ? "" : r[ePos..];
                    if (mant.Contains('.')) mant = mant.TrimEnd('0').TrimEnd('.');
                    r = mant + rest;
                }
                return r;
            }
        }
    }

    static string Exponential(double d, int precision, char conv, bool alternate)
    {
        string s = d.ToString((conv == 'E' ? "E" : "e") + precision, CultureInfo.InvariantCulture);
        int k = s.IndexOfAny(['e', 'E']);
        string mant = s[..k];
        if (alternate && precision == 0) mant += ".";
        int x = int.Parse(s[(k + 1)..], CultureInfo.InvariantCulture);
        return mant + s[k] + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
    }

    // ---------- str.format ----------

    public static string StrFormat(RenderContext ctx, string format, CallArgs args)
    {
        var sb = new StringBuilder();
        int auto = 0, i = 0, n = format.Length;
        while (i < n)
        {
            char c = format[i];
            if (c == '}')
            {
                if (i + 1 < n && format[i + 1] == '}') { sb.Append('}'); i += 2; continue; }
                throw JinjaError.Value("Single '}' encountered in format string");
            }
            if (c != '{') { sb.Append(c); i++; continue; }
            if (i + 1 < n && format[i + 1] == '{') { sb.Append('{'); i += 2; continue; }
            int close = format.IndexOf('}', i + 1);
            if (close < 0) throw JinjaError.Value("Single '{' encountered in format string");
            string field = format[(i + 1)..close];
            if (field.Contains('{')) throw JinjaError.Value("nested replacement fields are not supported");
            i = close + 1;
            string spec = "";
            char conversion = '\0';
            int colon = field.IndexOf(':');
            if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
            int bang = field.IndexOf('!');
            if (bang >= 0)
            {
                if (bang + 2 != field.Length) throw JinjaError.Value("expected ':' after conversion specifier");
                conversion = field[bang + 1];
                field = field[..bang];
            }
            object? value = ResolveField(field, args, ref auto);
            if (conversion == 'r' || conversion == 'a') value = PyRepr.Repr(value);
            else if (conversion == 's') value = PyRepr.Str(value);
            else if (conversion != '\0') throw JinjaError.Value($"Unknown conversion specifier {conversion}");
            sb.Append(FormatSpec(value, spec, ctx.Limits.MaxOutputLength));
            ctx.CheckLength(sb.Length);
        }
        return sb.ToString();
    }

    static object? ResolveField(string field, CallArgs args, ref int auto)
    {
        int end = 0;
        while (end < field.Length && field[end] != '.' && field[end] != '[') end++;
        string head = field[..end];
        object? value;
        if (head.Length == 0 || char.IsAsciiDigit(head[0]))
        {
            int index = head.Length == 0 ? auto++ : int.Parse(head, CultureInfo.InvariantCulture);
            if (index >= args.Positional.Count) throw new JinjaError("IndexError", $"Replacement index {index} out of range for positional args tuple");
            value = args.Positional[index];
        }
        else
        {
            var kv = args.Named?.FirstOrDefault(k => k.Key == head);
            if (kv?.Key == null) throw new JinjaError("KeyError", PyRepr.Repr(head));
            value = kv.Value.Value;
        }
        int p = end;
        while (p < field.Length)
        {
            if (field[p] == '.')
            {
                int q = p + 1;
                while (q < field.Length && field[q] != '.' && field[q] != '[') q++;
                value = PyAccess.GetAttr(value, field[(p + 1)..q]);
                p = q;
            }
            else
            {
                int q = field.IndexOf(']', p);
                if (q < 0) throw JinjaError.Value("Missing ']' in format string");
                string key = field[(p + 1)..q];
                value = PyAccess.GetItem(value, key.Length > 0 && key.All(char.IsAsciiDigit) ? long.Parse(key, CultureInfo.InvariantCulture) : key);
                p = q + 1;
            }
        }
        return value;
    }

    /// <summary>The format mini-language: [[fill]align][sign][#][0][width][,][.precision][type].</summary>
    public static string FormatSpec(object? value, string spec, long maxLength)
    {
        if (value is Undefined u) throw u.Fail();
        if (spec.Length == 0) return PyRepr.Str(value);
        int i = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=') { fill = spec[0]; align = spec[1]; i = 2; }
        else if (spec[0] is '<' or '>' or '^' or '=') { align = spec[0]; i = 1; }
        char sign = '-';
        if (i < spec.Length && spec[i] is '+' or '-' or ' ') sign = spec[i++];
        bool alt = false;
        if (i < spec.Length && spec[i] == '#') { alt = true; i++; }
        if (i < spec.Length && spec[i] == '0') { if (align == '\0') { fill = '0'; align = '='; } i++; }
        int w0 = i;
        while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
        long width = i > w0 ? long.Parse(spec[w0..i], CultureInfo.InvariantCulture) : 0;
        bool comma = false;
        if (i < spec.Length && spec[i] is ',' or '_') { comma = true; i++; }
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            int p0 = ++i;
            while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
            precision = int.Parse(spec[p0..i], CultureInfo.InvariantCulture);
        }
        char type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length) throw JinjaError.Value("Invalid format specifier");
        if (width > maxLength) throw JinjaError.Limit("format width too large");

        string body;
        bool numeric = PyOps.IsNumber(value);
        bool negative = false;
        if (PyOps.TryString(value, out var s))
        {
            if (type is not ('\0' or 's')) throw JinjaError.Value($"Unknown format code '{type}' for object of type 'str'");
            body = precision >= 0 && precision < s.Length ? s[..precision] : s;
            if (align == '\0') align = '<';
        }
        else if (numeric)
        {
            if (type == '\0' && value is double) type = precision >= 0 ? 'g' : 'r';
            if (type == '\0') type = 'd';
            switch (type)
            {
                case 'd' or 'n':
                {
                    if (value is double) throw JinjaError.Value("Unknown format code 'd' for object of type 'float'");
                    var x = PyInt.ToBig(value!);
                    negative = x.Sign < 0;
                    body = BigInteger.Abs(x).ToString(CultureInfo.InvariantCulture);
                    if (comma) body = Group(body);
                    break;
                }
                case 'x' or 'X' or 'o' or 'b':
                {
                    if (value is double) throw JinjaError.Value($"Unknown format code '{type}' for object of type 'float'");
                    var x = PyInt.ToBig(value!);
                    negative = x.Sign < 0;
                    var abs = BigInteger.Abs(x);
                    body = type == 'b' ? ToBinary(abs) : type == 'o' ? ToBase(abs, 8) : ToBase(abs, 16);
                    if (type == 'X') body = body.ToUpperInvariant();
                    if (alt) body = "0" + (type == 'X' ? 'X' : type) + body;
                    break;
                }
                case 'r':
                {
                    double d = PyOps.ToDouble(value!);
                    negative = double.IsNegative(d);
                    body = PyRepr.Float(Math.Abs(d));
                    if (comma && !body.Contains('e'))
                    {
                        int dot = body.IndexOf('.');
                        body = dot < 0 ? Group(body) : Group(body[..dot]) + body[dot..];
                    }
                    break;
                }
                case 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%':
                {
                    double d = PyOps.ToDouble(value!);
                    if (type == '%') d *= 100;
                    negative = double.IsNegative(d) && !double.IsNaN(d);
                    body = FormatFloat(Math.Abs(d), type == '%' ? 'f' : type, precision < 0 ? 6 : precision, alt);
                    if (comma && type is 'f' or 'F' or '%')
                    {
                        int dot = body.IndexOf('.');
                        body = dot < 0 ? Group(body) : Group(body[..dot]) + body[dot..];
                    }
                    if (type == '%') body += "%";
                    break;
                }
                case 'c':
                    body = char.ConvertFromUtf32((int)PyInt.ToBig(value!));
                    break;
                default:
                    throw JinjaError.Value($"Unknown format code '{type}' for object of type '{PyOps.TypeName(value)}'");
            }
            string signText = negative ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
            if (align == '=' && width > signText.Length + body.Length)
                return signText + new string(fill, (int)(width - signText.Length - body.Length)) + body;
            body = signText + body;
            if (align == '\0') align = '>';
        }
        else
        {
            if (spec.Length > 0 && value is not null) throw JinjaError.Type($"unsupported format string passed to {PyOps.TypeName(value)}.__format__");
            body = PyRepr.Str(value);
            if (align == '\0') align = '<';
        }
        long len = PyText.Length(body);
        if (width <= len) return body;
        int pad = (int)(width - len);
        return align switch
        {
            '<' => body + new string(fill, pad),
            '^' => new string(fill, pad / 2) + body + new string(fill, pad - pad / 2),
            _ => new string(fill, pad) + body,
        };
    }

    static string ToBinary(BigInteger v)
    {
        if (v.IsZero) return "0";
        var sb = new StringBuilder();
        while (!v.IsZero) { sb.Insert(0, v.IsEven ? '0' : '1'); v >>= 1; }
        return sb.ToString();
    }

    static string Group(string digits)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < digits.Length; i++)
        {
            if (i > 0 && (digits.Length - i) % 3 == 0) sb.Append(',');
            sb.Append(digits[i]);
        }
        return sb.ToString();
    }

    // ---------- strftime ----------

    static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    /// <summary>C/glibc <c>strftime</c> as Python's <c>datetime.strftime</c> uses it on Linux (including the
    /// <c>%-d</c> no-padding flag), for a naive local time (so <c>%z</c> and <c>%Z</c> are empty).</summary>
    public static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length) { sb.Append(c); continue; }
            char f = format[++i];
            bool noPad = false;
            if ((f == '-' || f == '_') && i + 1 < format.Length) { noPad = f == '-'; f = format[++i]; }
            string Num(int v, int digits) => noPad ? v.ToString(CultureInfo.InvariantCulture) : v.ToString(new string('0', digits), CultureInfo.InvariantCulture);
            int hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
            switch (f)
            {
                case 'a': sb.Append(Days[(int)t.DayOfWeek][..3]); break;
                case 'A': sb.Append(Days[(int)t.DayOfWeek]); break;
                case 'w': sb.Append((int)t.DayOfWeek); break;
                case 'u': sb.Append(t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek); break;
                case 'd': sb.Append(Num(t.Day, 2)); break;
                case 'e': sb.Append(noPad ? t.Day.ToString(CultureInfo.InvariantCulture) : t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2)); break;
                case 'b' or 'h': sb.Append(Months[t.Month - 1][..3]); break;
                case 'B': sb.Append(Months[t.Month - 1]); break;
                case 'm': sb.Append(Num(t.Month, 2)); break;
                case 'y': sb.Append(Num(t.Year % 100, 2)); break;
                case 'Y': sb.Append(t.Year.ToString(CultureInfo.InvariantCulture)); break;
                case 'C': sb.Append(Num(t.Year / 100, 2)); break;
                case 'H': sb.Append(Num(t.Hour, 2)); break;
                case 'k': sb.Append(t.Hour.ToString(CultureInfo.InvariantCulture).PadLeft(2)); break;
                case 'I': sb.Append(Num(hour12, 2)); break;
                case 'l': sb.Append(hour12.ToString(CultureInfo.InvariantCulture).PadLeft(2)); break;
                case 'p': sb.Append(t.Hour < 12 ? "AM" : "PM"); break;
                case 'P': sb.Append(t.Hour < 12 ? "am" : "pm"); break;
                case 'M': sb.Append(Num(t.Minute, 2)); break;
                case 'S': sb.Append(Num(t.Second, 2)); break;
                case 'f': sb.Append(((t.Ticks % TimeSpan.TicksPerSecond) / 10).ToString("000000", CultureInfo.InvariantCulture)); break;
                case 'j': sb.Append(Num(t.DayOfYear, 3)); break;
                case 'U': sb.Append(Num((t.DayOfYear + 6 - (int)t.DayOfWeek) / 7, 2)); break;
                case 'W': sb.Append(Num((t.DayOfYear + 6 - ((int)t.DayOfWeek + 6) % 7) / 7, 2)); break;
                case 'V': sb.Append(Num(ISOWeek.GetWeekOfYear(t), 2)); break;
                case 'G': sb.Append(ISOWeek.GetYear(t).ToString(CultureInfo.InvariantCulture)); break;
                case 'D': sb.Append(Strftime(t, "%m/%d/%y")); break;
                case 'F': sb.Append(Strftime(t, "%Y-%m-%d")); break;
                case 'T': sb.Append(Strftime(t, "%H:%M:%S")); break;
                case 'R': sb.Append(Strftime(t, "%H:%M")); break;
                case 'r': sb.Append(Strftime(t, "%I:%M:%S %p")); break;
                case 'c': sb.Append(Strftime(t, "%a %b %e %H:%M:%S %Y")); break;
                case 'x': sb.Append(Strftime(t, "%m/%d/%y")); break;
                case 'X': sb.Append(Strftime(t, "%H:%M:%S")); break;
                case 's': sb.Append(new DateTimeOffset(t).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'z' or 'Z': break;
                case '%': sb.Append('%'); break;
                default: sb.Append('%').Append(f); break;
            }
        }
        return sb.ToString();
    }
}

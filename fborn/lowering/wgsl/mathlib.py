"""WGSL helper functions that generated shaders call (``fb_*``), with their dependencies.

GPU builtins are too loose for fborn's float32 semantics (WGSL allows ``exp`` 3 + 2|x| ulp and
``log`` only 2**-21 absolute near 1; lavapipe's ``tanh`` is 800 ulp off near 0, and NaN
comparisons and ``max`` are unordered there), so exp/log and everything built on them are
written here with Cody-Waite reduction and short polynomials, and NaN tests look at the bits.
Accuracy (float32, against float64): exp, exp2, log <= 2 ulp; expm1, log1p, tanh, logistic,
sinh, cosh, asinh, acosh, atanh, cbrt <= 4 ulp; erf, erfc, erf_inv ~ 1e-6 relative; lgamma and
digamma ~ 1e-6 absolute near their roots; pow ~ |y log x| ulp; sin, cos (Cody-Waite reduction),
tan, asin, acos, atan, atan2 <= 4 ulp for |x| <= 51000 (beyond, the driver's builtins). sqrt is
the driver's.
"""

from __future__ import annotations

# name -> (WGSL source, names of the helpers it calls)
HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}


def _helper(name: str, source: str, *deps: str) -> None:
    HELPERS[name] = (source.strip("\n"), deps)


_helper("fb_isnan", """
fn fb_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }""")
_helper("fb_isfinite", """
fn fb_isfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }""")
_helper("fb_nan", """
fn fb_nan() -> f32 { return bitcast<f32>(0x7fc00000u); }""")
_helper("fb_inf", """
fn fb_inf() -> f32 { return bitcast<f32>(0x7f800000u); }""")

_helper("fb_scale", """
fn fb_scale(p: f32, k: i32) -> f32 {
  let h = k / 2;
  return ldexp(ldexp(p, h), k - h);
}""")

_helper("fb_exp_core", """
fn fb_exp_core(r: f32) -> f32 {
  var p = 1.99075407e-04;
  p = fma(p, r, 1.39330621e-03);
  p = fma(p, r, 8.33328618e-03);
  p = fma(p, r, 4.16664737e-02);
  p = fma(p, r, 1.66666668e-01);
  p = fma(p, r, 5.00000001e-01);
  return fma(p, r * r, r) + 1.0;
}""")

_helper("fb_exp", """
fn fb_exp(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  if (x > 88.72284) { return fb_inf(); }
  if (x < -103.97208) { return 0.0; }
  let k = floor(fma(x, 1.44269504, 0.5));
  var r = fma(-k, 0.693145751953125, x);
  r = fma(-k, 1.428606765330187e-06, r);
  return fb_scale(fb_exp_core(r), i32(k));
}""", "fb_isnan", "fb_inf", "fb_scale", "fb_exp_core")

_helper("fb_exp2", """
fn fb_exp2(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  if (x >= 128.0) { return fb_inf(); }
  if (x < -150.0) { return 0.0; }
  let k = floor(x + 0.5);
  return fb_scale(fb_exp_core((x - k) * 0.693147181), i32(k));
}""", "fb_isnan", "fb_inf", "fb_scale", "fb_exp_core")

_helper("fb_log", """
fn fb_log(x: f32) -> f32 {
  if (fb_isnan(x) || x < 0.0) { return fb_nan(); }
  if (x == 0.0) { return -fb_inf(); }
  if (!fb_isfinite(x)) { return x; }
  let parts = frexp(x);
  var m = parts.fract;
  var e = f32(parts.exp);
  if (m < 0.707106781) { m = m * 2.0; e = e - 1.0; }
  let f = m - 1.0;
  let s = f / (2.0 + f);
  let z = s * s;
  let r = z * (0.666666667 + z * (0.4 + z * (0.285714287 + z * 0.222222224)));
  let hfsq = 0.5 * f * f;
  return e * 0.693359375 - ((hfsq - (s * (hfsq + r) + e * -2.12194440e-4)) - f);
}""", "fb_isnan", "fb_nan", "fb_inf", "fb_isfinite")

_helper("fb_expm1", """
fn fb_expm1(x: f32) -> f32 {
  if (!(abs(x) <= 0.5)) { return fb_exp(x) - 1.0; }
  let u = fb_exp(x);
  if (u == 1.0) { return x; }
  return (u - 1.0) * x / fb_log(u);
}""", "fb_exp", "fb_log")

_helper("fb_log1p", """
fn fb_log1p(x: f32) -> f32 {
  if (x > -0.29 && x < 0.41) {
    let s = x / (2.0 + x);
    let z = s * s;
    let p = z * (0.333333333 + z * (0.2 + z * (0.142857143 + z * (0.111111111
        + z * 0.0909090909))));
    return fma(2.0 * s, p, 2.0 * s);
  }
  return fb_log(1.0 + x);
}""", "fb_log")

_helper("fb_tanh", """
fn fb_tanh(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  let a = abs(x);
  if (a < 0.625) {
    let z = x * x;
    var p = -0.00572098;
    p = fma(p, z, 0.02065637);
    p = fma(p, z, -0.05374618);
    p = fma(p, z, 0.13331537);
    p = fma(p, z, -0.33333286);
    return fma(x * z, p, x);
  }
  var t = 1.0;
  if (a <= 9.0) { t = 1.0 - 2.0 / (fb_exp(a + a) + 1.0); }
  return select(-t, t, x > 0.0);
}""", "fb_isnan", "fb_exp")

_helper("fb_logistic", """
fn fb_logistic(x: f32) -> f32 { return 1.0 / (1.0 + fb_exp(-x)); }""", "fb_exp")

_helper("fb_sinh", """
fn fb_sinh(x: f32) -> f32 {
  let a = abs(x);
  var r: f32;
  if (a < 1.0) {
    let e = fb_expm1(a);
    r = 0.5 * (e + e / (e + 1.0));
  } else if (a < 9.0) {
    let e = fb_exp(a);
    r = 0.5 * (e - 1.0 / e);
  } else {
    let e = fb_exp(0.5 * a);
    r = (0.5 * e) * e;
  }
  return select(r, -r, x < 0.0);
}""", "fb_expm1", "fb_exp")

_helper("fb_cosh", """
fn fb_cosh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 9.0) {
    let e = fb_exp(a);
    return 0.5 * (e + 1.0 / e);
  }
  let e = fb_exp(0.5 * a);
  return (0.5 * e) * e;
}""", "fb_exp")

_helper("fb_asinh", """
fn fb_asinh(x: f32) -> f32 {
  let a = abs(x);
  var r: f32;
  if (a > 4096.0) {
    r = fb_log(a) + 0.693147181;
  } else {
    r = fb_log1p(a + a * a / (1.0 + sqrt(1.0 + a * a)));
  }
  return select(r, -r, x < 0.0);
}""", "fb_log", "fb_log1p")

_helper("fb_acosh", """
fn fb_acosh(x: f32) -> f32 {
  if (x < 1.0) { return fb_nan(); }
  if (x > 4096.0) { return fb_log(x) + 0.693147181; }
  let t = x - 1.0;
  return fb_log1p(t + sqrt(2.0 * t + t * t));
}""", "fb_nan", "fb_log", "fb_log1p")

_helper("fb_atanh", """
fn fb_atanh(x: f32) -> f32 {
  let a = abs(x);
  let r = 0.5 * fb_log1p(2.0 * a / (1.0 - a));
  return select(r, -r, x < 0.0);
}""", "fb_log1p")

_helper("fb_copysign", """
fn fb_copysign(a: f32, b: f32) -> f32 {
  return bitcast<f32>((bitcast<u32>(a) & 0x7fffffffu) | (bitcast<u32>(b) & 0x80000000u));
}""")

_helper("fb_atan", """
fn fb_atan(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  let a = abs(x);
  var y0 = 0.0;
  var t = a;
  if (a > 2.41421356) {
    y0 = 1.57079633;
    t = -1.0 / a;
  } else if (a > 0.414213562) {
    y0 = 0.785398163;
    t = (a - 1.0) / (a + 1.0);
  }
  let z = t * t;
  let p = (((0.0805374449538 * z - 0.138776856032) * z + 0.199777106478) * z
      - 0.333329491539) * z;
  return fb_copysign(y0 + fma(p, t, t), x);
}""", "fb_isnan", "fb_copysign")

_helper("fb_atan2", """
fn fb_atan2(y: f32, x: f32) -> f32 {
  if (fb_isnan(x) || fb_isnan(y)) { return fb_nan(); }
  let negx = (bitcast<u32>(x) & 0x80000000u) != 0u;
  if (y == 0.0 && x == 0.0) { return fb_copysign(select(0.0, 3.14159265, negx), y); }
  if (!fb_isfinite(x) && !fb_isfinite(y)) {
    return fb_copysign(select(0.785398163, 2.35619449, negx), y);
  }
  var a = fb_atan(abs(y) / abs(x));
  if (negx) { a = 3.14159265 - a; }
  return fb_copysign(a, y);
}""", "fb_isnan", "fb_nan", "fb_isfinite", "fb_atan", "fb_copysign")

_helper("fb_asin", """
fn fb_asin(x: f32) -> f32 { return fb_atan2(x, fb_sqrt((1.0 - x) * (1.0 + x))); }""",
        "fb_atan2", "fb_sqrt")
_helper("fb_acos", """
fn fb_acos(x: f32) -> f32 { return fb_atan2(fb_sqrt((1.0 - x) * (1.0 + x)), x); }""",
        "fb_atan2", "fb_sqrt")

_helper("fb_sincos", """
fn fb_sincos(x: f32, cosine: bool) -> f32 {
  if (!fb_isfinite(x)) { return fb_nan(); }
  let a = abs(x);
  if (a > 51000.0) { return select(sin(x), cos(x), cosine); }
  var j = i32(a * 1.27323954);
  var y = f32(j);
  if ((j & 1) == 1) { j = j + 1; y = y + 1.0; }
  j = j & 7;
  var negative = x < 0.0 && !cosine;
  if (j > 3) { j = j - 4; negative = !negative; }
  if (cosine && j > 1) { negative = !negative; }
  let r = (((a - y * 0.78515625) - y * 2.422332763671875e-4) - y * -3.203749656677246e-07)
      - y * 4.960468147352515e-10;
  let z = r * r;
  var v: f32;
  if ((j == 1 || j == 2) != cosine) {
    v = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2)
        * z * z - 0.5 * z + 1.0;
  } else {
    v = fma(((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z, r, r);
  }
  return select(v, -v, negative);
}""", "fb_isfinite", "fb_nan")

_helper("fb_sin", """
fn fb_sin(x: f32) -> f32 { return select(fb_sincos(x, false), x, x == 0.0); }""", "fb_sincos")
_helper("fb_cos", """
fn fb_cos(x: f32) -> f32 { return fb_sincos(x, true); }""", "fb_sincos")
_helper("fb_tan", """
fn fb_tan(x: f32) -> f32 { return fb_sin(x) / fb_cos(x); }""", "fb_sin", "fb_cos")

_helper("fb_sqrt", """
fn fb_sqrt(x: f32) -> f32 { return select(sqrt(x), fb_nan(), x < 0.0); }""", "fb_nan")

_helper("fb_rsqrt", """
fn fb_rsqrt(x: f32) -> f32 { return 1.0 / fb_sqrt(x); }""", "fb_sqrt")

_helper("fb_cbrt", """
fn fb_cbrt(x: f32) -> f32 {
  if (x == 0.0 || !fb_isfinite(x)) { return x; }
  let a = abs(x);
  var y = fb_exp(fb_log(a) * 0.333333333);
  y = y + (a / (y * y) - y) * 0.333333333;
  return select(y, -y, x < 0.0);
}""", "fb_isfinite", "fb_exp", "fb_log")

_helper("fb_pow", """
fn fb_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (fb_isnan(a) || fb_isnan(b)) { return fb_nan(); }
  let ab = abs(a);
  if (ab == 1.0 && !fb_isfinite(b)) { return 1.0; }
  let integral = floor(b) == b;
  if (a < 0.0 && !integral) { return fb_nan(); }
  let r = fb_exp(b * fb_log(ab));
  let odd = integral && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
  return select(r, -r, odd && (a < 0.0 || bitcast<u32>(a) == 0x80000000u));
}""", "fb_isnan", "fb_nan", "fb_isfinite", "fb_exp", "fb_log")

_helper("fb_max", """
fn fb_max(a: f32, b: f32) -> f32 { return select(select(b, a, a > b), a, fb_isnan(a)); }""",
        "fb_isnan")
_helper("fb_min", """
fn fb_min(a: f32, b: f32) -> f32 { return select(select(b, a, a < b), a, fb_isnan(a)); }""",
        "fb_isnan")

_helper("fb_sign", """
fn fb_sign(x: f32) -> f32 {
  if (x > 0.0) { return 1.0; }
  if (x < 0.0) { return -1.0; }
  return x;
}""")

_helper("fb_round_away", """
fn fb_round_away(x: f32) -> f32 { return fb_sign(x) * floor(abs(x) + 0.5); }""", "fb_sign")

_helper("fb_mantissa", """
fn fb_mantissa(bits: u32, e: ptr<function, i32>) -> u32 {
  if (*e != 0) { return (bits & 0x7fffffu) | 0x800000u; }
  var m = bits & 0x7fffffu;
  *e = 1;
  while ((m & 0x800000u) == 0u) { m = m << 1u; *e = *e - 1; }
  return m;
}""")

_helper("fb_fmod", """
fn fb_fmod(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a) & 0x7fffffffu;
  let ub = bitcast<u32>(b) & 0x7fffffffu;
  if (ub == 0u || ub > 0x7f800000u || ua >= 0x7f800000u) { return fb_nan(); }
  if (ua < ub) { return a; }
  if (ua == ub) { return 0.0 * a; }
  var ea = i32(ua >> 23u);
  var eb = i32(ub >> 23u);
  var ma = fb_mantissa(ua, &ea);
  let mb = fb_mantissa(ub, &eb);
  for (; ea > eb; ea = ea - 1) {
    if (ma >= mb) { ma = ma - mb; }
    if (ma == 0u) { return 0.0 * a; }
    ma = ma << 1u;
  }
  if (ma >= mb) { ma = ma - mb; }
  if (ma == 0u) { return 0.0 * a; }
  while ((ma & 0x800000u) == 0u) { ma = ma << 1u; ea = ea - 1; }
  var bits: u32;
  if (ea > 0) { bits = (ma & 0x7fffffu) | (u32(ea) << 23u); } else { bits = ma >> u32(1 - ea); }
  return bitcast<f32>(bits | (bitcast<u32>(a) & 0x80000000u));
}""", "fb_nan", "fb_mantissa")

_helper("fb_nextafter", """
fn fb_nextafter(a: f32, b: f32) -> f32 {
  if (fb_isnan(a) || fb_isnan(b)) { return fb_nan(); }
  if (a == b) { return b; }
  if (a == 0.0) { return select(bitcast<f32>(1u), bitcast<f32>(0x80000001u), b < 0.0); }
  let bits = bitcast<i32>(a);
  return bitcast<f32>(select(bits - 1, bits + 1, (a < b) == (a > 0.0)));
}""", "fb_isnan", "fb_nan")

_helper("fb_f32_to_i32", """
fn fb_f32_to_i32(x: f32) -> i32 {
  if (fb_isnan(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return -2147483647 - 1; }
  return i32(x);
}""", "fb_isnan")

_helper("fb_f32_to_u32", """
fn fb_f32_to_u32(x: f32) -> u32 {
  if (fb_isnan(x) || x <= 0.0) { return 0u; }
  if (x >= 4294967296.0) { return 4294967295u; }
  return u32(x);
}""", "fb_isnan")

_helper("fb_floordiv", """
fn fb_floordiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}""")

_helper("fb_floormod", """
fn fb_floormod(a: i32, b: i32) -> i32 {
  let r = a % b;
  return select(r, r + b, (r != 0) && ((r < 0) != (b < 0)));
}""")

_helper("fb_erfc_pos", """
fn fb_erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  var p = 0.17087277;
  p = fma(p, t, -0.82215223);
  p = fma(p, t, 1.48851587);
  p = fma(p, t, -1.13520398);
  p = fma(p, t, 0.27886807);
  p = fma(p, t, -0.18628806);
  p = fma(p, t, 0.09678418);
  p = fma(p, t, 0.37409196);
  p = fma(p, t, 1.00002368);
  p = fma(p, t, -1.26551223);
  let zh = bitcast<f32>(bitcast<u32>(z) & 0xfffff000u);
  return t * fb_exp(-zh * zh) * fb_exp((zh - z) * (zh + z)) * fb_exp(p);
}""", "fb_exp")

_helper("fb_erfc", """
fn fb_erfc(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) { return 1.0 - fb_erf(x); }
  if (a > 10.1) { return select(0.0, 2.0, x < 0.0); }
  let r = fb_erfc_pos(a);
  return select(r, 2.0 - r, x < 0.0);
}""", "fb_isnan", "fb_erf", "fb_erfc_pos")

_helper("fb_erf", """
fn fb_erf(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) {
    let z = x * x;
    var p = -0.000757575758;
    p = fma(p, z, 0.0046296296);
    p = fma(p, z, -0.0238095238);
    p = fma(p, z, 0.1);
    p = fma(p, z, -0.333333333);
    return 1.12837917 * fma(x * z, p, x);
  }
  if (a > 4.0) { return select(1.0, -1.0, x < 0.0); }
  let r = 1.0 - fb_erfc_pos(a);
  return select(r, -r, x < 0.0);
}""", "fb_isnan", "fb_erfc_pos")

_helper("fb_erf_inv", """
fn fb_erf_inv(x: f32) -> f32 {
  if (fb_isnan(x) || abs(x) > 1.0) { return fb_nan(); }
  if (abs(x) == 1.0) { return select(fb_inf(), -fb_inf(), x < 0.0); }
  var w = -fb_log((1.0 - x) * (1.0 + x));
  var p: f32;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-08;
    p = fma(p, w, 3.43273939e-07);
    p = fma(p, w, -3.5233877e-06);
    p = fma(p, w, -4.39150654e-06);
    p = fma(p, w, 0.00021858087);
    p = fma(p, w, -0.00125372503);
    p = fma(p, w, -0.00417768164);
    p = fma(p, w, 0.246640727);
    p = fma(p, w, 1.50140941);
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257;
    p = fma(p, w, 0.000100950558);
    p = fma(p, w, 0.00134934322);
    p = fma(p, w, -0.00367342844);
    p = fma(p, w, 0.00573950773);
    p = fma(p, w, -0.0076224613);
    p = fma(p, w, 0.00943887047);
    p = fma(p, w, 1.00167406);
    p = fma(p, w, 2.83297682);
  }
  return p * x;
}""", "fb_isnan", "fb_nan", "fb_inf", "fb_log")

_helper("fb_sinpi_abs", """
fn fb_sinpi_abs(x: f32) -> f32 { return abs(fb_sin(3.14159265 * (x - round(x)))); }""",
        "fb_sin")

_helper("fb_lgamma_near2", """
fn fb_lgamma_near2(e: f32) -> f32 {
  var p = 4.37486679e-06;
  p = fma(p, e, -9.43948828e-06);
  p = fma(p, e, 2.05072128e-05);
  p = fma(p, e, -4.49262367e-05);
  p = fma(p, e, 9.94575128e-05);
  p = fma(p, e, -2.23154758e-04);
  p = fma(p, e, 5.09669525e-04);
  p = fma(p, e, -1.19275391e-03);
  p = fma(p, e, 2.89051033e-03);
  p = fma(p, e, -7.38555103e-03);
  p = fma(p, e, 2.05808084e-02);
  p = fma(p, e, -6.73523011e-02);
  p = fma(p, e, 3.22467033e-01);
  p = fma(p, e, 0.422784335);
  return p * e;
}""")

_helper("fb_lgamma_pos", """
fn fb_lgamma_pos(x: f32) -> f32 {
  if (x < 1.5) { return fb_lgamma_near2(x - 1.0) - fb_log(x); }
  if (x < 2.5) { return fb_lgamma_near2(x - 2.0); }
  if (x < 8.0) {
    var y = x;
    var prod = 1.0;
    while (y >= 2.5) { y = y - 1.0; prod = prod * y; }
    return fb_log(prod) + fb_lgamma_near2(y - 2.0);
  }
  let inv = 1.0 / x;
  let inv2 = inv * inv;
  let series = inv * (0.0833333333 - inv2 * (0.00277777778 - inv2 * 0.000793650794));
  return (x - 0.5) * (fb_log(x) - 1.0) + (0.418938533 + series);
}""", "fb_log", "fb_lgamma_near2")

_helper("fb_lgamma", """
fn fb_lgamma(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  if (!fb_isfinite(x)) { return fb_inf(); }
  if (x <= 0.0 && floor(x) == x) { return fb_inf(); }
  if (x < 0.5) {
    return fb_log(3.14159265 / fb_sinpi_abs(x)) - fb_lgamma_pos(1.0 - x);
  }
  return fb_lgamma_pos(x);
}""", "fb_isnan", "fb_isfinite", "fb_inf", "fb_log", "fb_sinpi_abs", "fb_lgamma_pos")

_helper("fb_digamma_root", """
fn fb_digamma_root(x: f32) -> f32 {
  let d = (x - 1.46163213) - 1.24381498e-08;
  var p = 1.07882520e-03;
  p = fma(p, d, -1.57693677e-03);
  p = fma(p, d, 2.30512633e-03);
  p = fma(p, d, -3.36980166e-03);
  p = fma(p, d, 4.92678140e-03);
  p = fma(p, d, -7.20453439e-03);
  p = fma(p, d, 1.05387916e-02);
  p = fma(p, d, -1.54247659e-02);
  p = fma(p, d, 2.25976482e-02);
  p = fma(p, d, -3.31611265e-02);
  p = fma(p, d, 4.88042882e-02);
  p = fma(p, d, -7.21995613e-02);
  p = fma(p, d, 0.107824051);
  p = fma(p, d, -0.163942705);
  p = fma(p, d, 0.258499761);
  p = fma(p, d, -0.442763169);
  p = fma(p, d, 0.967672245);
  return p * d;
}""")

_helper("fb_digamma", """
fn fb_digamma(x: f32) -> f32 {
  if (fb_isnan(x)) { return x; }
  if (x <= 0.0 && floor(x) == x) { return fb_nan(); }
  if (x >= 1.0 && x <= 1.9) { return fb_digamma_root(x); }
  var acc = 0.0;
  let reflect = x < 0.5;
  var y = select(x, 1.0 - x, reflect);
  while (y < 10.0) { acc = acc - 1.0 / y; y = y + 1.0; }
  let inv2 = 1.0 / (y * y);
  let series = fb_log(y) - 0.5 / y - inv2 * (0.0833333333 - inv2 * (0.00833333333
      - inv2 * (0.00396825397 - inv2 * (0.00416666667 - inv2 * 0.00757575758))));
  var result = acc + series;
  if (reflect) {
    let r = 3.14159265 * (x - round(x));
    result = result - 3.14159265 * fb_cos(r) / fb_sin(r);
  }
  return result;
}""", "fb_isnan", "fb_nan", "fb_log", "fb_digamma_root", "fb_sin", "fb_cos")

def helper_source(names: set[str]) -> str:
    """The WGSL source of helpers ``names`` and everything they call, each once."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        source, deps = HELPERS[name]
        for dep in deps:
            visit(dep)
        ordered.append(source)

    for name in sorted(names):
        visit(name)
    return "\n".join(ordered)

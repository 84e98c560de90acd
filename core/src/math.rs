//! Logarithms computed with only IEEE-754 basic operations.
//!
//! `f64::ln` and friends call the platform's libm, whose last bit may differ between
//! platforms and Rust releases. Where a logarithm feeds a deadline or a random draw, that
//! bit can change a trace hash, so a seed recorded on CI would not replay on a laptop.
//! Addition, multiplication and division are exactly rounded everywhere, so a function
//! built only from them (and bit manipulation) gives the same result on every machine.

const LN_2: f64 = std::f64::consts::LN_2;

/// The natural logarithm of `x`, identical on every platform. `x <= 0` or NaN gives NaN;
/// infinity gives infinity. Accurate to a few ulps.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    // x = m * 2^e with m in [1, 2); subnormals are scaled up first.
    let (mut bits, mut e) = (x.to_bits(), 0i64);
    if bits >> 52 == 0 {
        bits = (x * (1u64 << 54) as f64).to_bits();
        e -= 54;
    }
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    // Centre m on 1 (m in [sqrt(1/2), sqrt(2))) so the series converges fast.
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172: 2 s (1 + s²/3 + s⁴/5 + ...).
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    // |s|^2 < 0.0295, so 12 terms take the remainder below 1e-18 relative.
    for _ in 0..12 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * LN_2 + 2.0 * sum
}

/// `log10(x)`, identical on every platform (see [`ln`]).
pub fn log10(x: f64) -> f64 {
    ln(x) / std::f64::consts::LN_10
}

/// `log2(x)`, identical on every platform (see [`ln`]).
pub fn log2(x: f64) -> f64 {
    ln(x) / LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)]
    fn portable_logarithms_agree_with_libm_to_a_few_ulps() {
        let mut x = 1e-300_f64;
        while x < 1e300 {
            for v in [x, x * 1.37, x * 1.999, x * 0.707] {
                let (ours, libm) = (ln(v), v.ln());
                let tolerance = 4.0 * f64::EPSILON * libm.abs().max(1.0);
                assert!(
                    (ours - libm).abs() <= tolerance,
                    "ln({v}) = {ours}, libm {libm}"
                );
            }
            x *= 3.3;
        }
        assert_eq!(ln(1.0), 0.0);
        assert!((log10(1000.0) - 3.0).abs() < 1e-14);
        assert!((log2(1024.0) - 10.0).abs() < 1e-14);
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
        assert!(ln(f64::MIN_POSITIVE / 8.0).is_finite());
    }
}

//! Reed–Solomon error correction over GF(256) as QR codes use it (polynomial 0x11D, first root α⁰).

/// The most error-correction codewords a QR block carries is 30; 64 leaves room for any block.
const MAX_PARITY: usize = 64;

/// Exponent and logarithm tables of GF(256), computed at compile time.
struct Field {
    exp: [u8; 512],
    log: [u8; 256],
}

const FIELD: Field = build_field();

const fn build_field() -> Field {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    // Keeps `exp[log a + log b]` in range for the largest sum (254 + 254), and wraps once more.
    exp[510] = exp[0];
    exp[511] = exp[1];
    Field { exp, log }
}

fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    FIELD.exp[FIELD.log[a as usize] as usize + FIELD.log[b as usize] as usize]
}

/// `a / b`; callers never divide by zero, but a zero divisor yields zero rather than a panic.
fn div(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    FIELD.exp[FIELD.log[a as usize] as usize + 255 - FIELD.log[b as usize] as usize]
}

/// α^e for any exponent.
fn pow_alpha(e: usize) -> u8 {
    FIELD.exp[e % 255]
}

/// Evaluates a polynomial stored lowest degree first.
fn eval_low_first(poly: &[u8], x: u8) -> u8 {
    poly.iter().rev().fold(0, |acc, &c| mul(acc, x) ^ c)
}

/// Why a block could not be corrected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uncorrectable;

/// Corrects `block` (data codewords then `parity` error-correction codewords) in place.
///
/// Returns the number of corrected codewords.
pub(crate) fn correct(block: &mut [u8], parity: usize) -> Result<usize, Uncorrectable> {
    if parity == 0 || parity > MAX_PARITY || parity >= block.len() || block.len() > 255 {
        return Err(Uncorrectable);
    }
    let mut syndromes = [0u8; MAX_PARITY];
    let mut clean = true;
    for (i, s) in syndromes.iter_mut().enumerate().take(parity) {
        let x = pow_alpha(i);
        *s = block.iter().fold(0, |acc, &c| mul(acc, x) ^ c);
        clean &= *s == 0;
    }
    if clean {
        return Ok(0);
    }
    let syndromes = &syndromes[..parity];

    let (locator, errors) = berlekamp_massey(syndromes);
    if errors == 0 || errors * 2 > parity {
        return Err(Uncorrectable);
    }
    let locator = &locator[..=errors];

    // Ω(x) = S(x)·Λ(x) mod x^parity
    let mut omega = [0u8; MAX_PARITY];
    for (i, &s) in syndromes.iter().enumerate() {
        for (j, &l) in locator.iter().enumerate() {
            if i + j < parity {
                omega[i + j] ^= mul(s, l);
            }
        }
    }
    let omega = &omega[..parity];

    // Λ'(x): in characteristic 2 only the odd-degree terms survive differentiation.
    let mut derivative = [0u8; MAX_PARITY];
    for i in (1..locator.len()).step_by(2) {
        derivative[i - 1] = locator[i];
    }
    let derivative = &derivative[..locator.len()];

    let n = block.len();
    let mut found = 0;
    for (index, codeword) in block.iter_mut().enumerate() {
        let power = n - 1 - index;
        let x = pow_alpha(power);
        let x_inv = pow_alpha(255 - power % 255);
        if eval_low_first(locator, x_inv) != 0 {
            continue;
        }
        let denominator = eval_low_first(derivative, x_inv);
        if denominator == 0 {
            return Err(Uncorrectable);
        }
        *codeword ^= mul(x, div(eval_low_first(omega, x_inv), denominator));
        found += 1;
    }
    if found != errors {
        return Err(Uncorrectable);
    }
    // A miscorrection beyond the code's capacity can leave non-zero syndromes; check once more.
    for i in 0..parity {
        let x = pow_alpha(i);
        if block.iter().fold(0, |acc, &c| mul(acc, x) ^ c) != 0 {
            return Err(Uncorrectable);
        }
    }
    Ok(found)
}

/// Returns the error locator Λ (lowest degree first) and its degree.
fn berlekamp_massey(syndromes: &[u8]) -> ([u8; MAX_PARITY + 1], usize) {
    let mut c = [0u8; MAX_PARITY + 1];
    let mut b = [0u8; MAX_PARITY + 1];
    c[0] = 1;
    b[0] = 1;
    let mut len = 0usize;
    let mut shift = 1usize;
    let mut last_discrepancy = 1u8;
    for n in 0..syndromes.len() {
        let mut d = syndromes[n];
        for i in 1..=len {
            d ^= mul(c[i], syndromes[n - i]);
        }
        if d == 0 {
            shift += 1;
            continue;
        }
        let factor = div(d, last_discrepancy);
        let previous = c;
        for i in 0..(c.len() - shift) {
            c[i + shift] ^= mul(factor, b[i]);
        }
        if 2 * len <= n {
            len = n + 1 - len;
            b = previous;
            last_discrepancy = d;
            shift = 1;
        } else {
            shift += 1;
        }
    }
    (c, len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Appends `parity` Reed–Solomon codewords to `data`, as a QR encoder does.
    pub(crate) fn encode(data: &[u8], parity: usize) -> Vec<u8> {
        // g(x) = Π (x - α^i), highest degree first.
        let mut generator = vec![1u8];
        for i in 0..parity {
            let mut next = vec![0u8; generator.len() + 1];
            for (j, &g) in generator.iter().enumerate() {
                next[j] ^= g;
                next[j + 1] ^= mul(g, pow_alpha(i));
            }
            generator = next;
        }
        let mut remainder = data.to_vec();
        remainder.resize(data.len() + parity, 0);
        for i in 0..data.len() {
            let coef = remainder[i];
            if coef != 0 {
                for (j, &g) in generator.iter().enumerate() {
                    remainder[i + j] ^= mul(g, coef);
                }
            }
        }
        let mut out = data.to_vec();
        out.extend_from_slice(&remainder[data.len()..]);
        out
    }

    #[test]
    fn corrects_up_to_half_the_parity() {
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        for parity in [7usize, 10, 22, 30] {
            let clean = encode(&data, parity);
            let mut block = clean.clone();
            assert_eq!(correct(&mut block, parity), Ok(0));
            for k in 0..parity / 2 {
                block[(k * 13 + 3) % clean.len()] ^= 0x5a ^ k as u8;
            }
            assert_eq!(correct(&mut block, parity), Ok(parity / 2), "parity {parity}");
            assert_eq!(block, clean);
        }
    }

    #[test]
    fn refuses_too_many_errors() {
        let data = [0x40u8, 0x11, 0x20, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11];
        let clean = encode(&data, 10);
        let mut block = clean.clone();
        for byte in block.iter_mut().take(8) {
            *byte ^= 0xff;
        }
        assert_eq!(correct(&mut block, 10), Err(Uncorrectable));
        assert_eq!(correct(&mut [1, 2, 3], 0), Err(Uncorrectable));
        assert_eq!(correct(&mut [1, 2, 3], 3), Err(Uncorrectable));
    }
}

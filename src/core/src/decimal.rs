//! The one spelling of a number in every configuration grammar: ASCII decimal digits, no sign,
//! no spaces, no leading zeros (`0` itself is fine), within the type's range. A `+42` or a
//! `042` is refused everywhere alike, so no grammar reads a number another would not.

/// Parses `s` as a canonical decimal; None for anything else.
pub fn parse<T: std::str::FromStr>(s: &str) -> Option<T> {
    let b = s.as_bytes();
    let canonical =
        !b.is_empty() && b.iter().all(u8::is_ascii_digit) && (b[0] != b'0' || b.len() == 1);
    canonical.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn canonical_only() {
        assert_eq!(parse::<u16>("0"), Some(0));
        assert_eq!(parse::<u16>("42702"), Some(42702));
        assert_eq!(parse::<u16>("65535"), Some(65535));
        for bad in [
            "", "+42", "-1", "042", "00", " 1", "1 ", "0x10", "65536", "1_0", "٣",
        ] {
            assert_eq!(parse::<u16>(bad), None, "{bad:?}");
        }
        assert_eq!(parse::<u64>("18446744073709551615"), Some(u64::MAX));
    }
}

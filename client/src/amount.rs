//! Decimal AGR amounts ↔ plancks (1 AGR = 10^12 plancks).
//!
//! Accepted syntax is deliberately strict, because these are amounts of money:
//! `DIGITS` or `DIGITS.DIGITS`, with at most 12 digits after the point (`1`, `1.5`, `0.5`,
//! `1000`, `0.000000000001`, `007.10`). Rejected, each with an error naming the value:
//! empty text, a sign (`-1`, `+1`), a missing digit on either side of the point (`.5`, `5.`),
//! digit separators (`1_000`, `1,000`), exponents (`1e3`), whitespace, more than 12
//! decimals (even trailing zeros, so a typo cannot pass silently), and amounts above
//! `u128::MAX` plancks.
//!
//! Formatting gives the shortest exact decimal: `1.5`, `0.000000000001`, `1000`.

use std::fmt;
use std::str::FromStr;

use agora_primitives::{Balance, TOKEN_DECIMALS};

/// Why an amount was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountErrorKind {
    /// The text is empty.
    #[error("it is empty")]
    Empty,
    /// The text starts with '-'.
    #[error("amounts cannot be negative")]
    Negative,
    /// An exponent such as `1e3`.
    #[error("exponents are not accepted, write the digits out")]
    Exponent,
    /// A digit separator such as `_` or `,`.
    #[error("digit separators ('{0}') are not accepted, write plain digits such as 1000.5")]
    Separator(char),
    /// Any other character that is neither a digit nor the decimal point.
    #[error("'{0}' is not allowed, write plain digits with at most one '.', such as 1000.5")]
    InvalidCharacter(char),
    /// More than one decimal point.
    #[error("it has more than one decimal point")]
    MultiplePoints,
    /// No digit before or after the decimal point (`.5`, `5.`).
    #[error("a digit is required on both sides of the decimal point (write 0.5, not .5)")]
    MissingDigits,
    /// More than 12 digits after the point.
    #[error("AGR has 12 decimals, so at most 12 digits may follow the decimal point")]
    TooManyDecimals,
    /// The amount exceeds `u128::MAX` plancks.
    #[error(
        "it exceeds the largest possible amount, 340282366920938463463374607.431768211455 AGR"
    )]
    Overflow,
}

/// An amount that could not be parsed; renders as one sentence naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid AGR amount: {kind}")]
pub struct AmountError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub kind: AmountErrorKind,
}

/// Parses a decimal AGR amount into plancks. See the module documentation for the syntax.
pub fn parse_agr(input: &str) -> Result<Balance, AmountError> {
    parse_inner(input).map_err(|kind| AmountError {
        input: input.to_owned(),
        kind,
    })
}

fn parse_inner(input: &str) -> Result<Balance, AmountErrorKind> {
    use AmountErrorKind as K;
    if input.is_empty() {
        return Err(K::Empty);
    }
    if input.starts_with('-') {
        return Err(K::Negative);
    }
    for c in input.chars() {
        match c {
            '0'..='9' | '.' => {}
            'e' | 'E' => return Err(K::Exponent),
            '_' | ',' | '\'' => return Err(K::Separator(c)),
            _ => return Err(K::InvalidCharacter(c)),
        }
    }
    let (whole, frac) = match input.split_once('.') {
        None => (input, None),
        Some((_, rest)) if rest.contains('.') => return Err(K::MultiplePoints),
        Some((whole, frac)) => (whole, Some(frac)),
    };
    if whole.is_empty() || frac.is_some_and(str::is_empty) {
        return Err(K::MissingDigits);
    }
    let frac = frac.unwrap_or("");
    let decimals = usize::try_from(TOKEN_DECIMALS).map_err(|_| K::Overflow)?;
    if frac.len() > decimals {
        return Err(K::TooManyDecimals);
    }
    // Every character is now an ASCII digit: accumulate whole digits, then the fraction
    // padded with zeros to exactly 12 digits.
    let padding = std::iter::repeat_n(b'0', decimals.saturating_sub(frac.len()));
    whole
        .bytes()
        .chain(frac.bytes())
        .chain(padding)
        .try_fold(0u128, |acc, digit| {
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(digit.wrapping_sub(b'0'))))
        })
        .ok_or(K::Overflow)
}

pub use agora_primitives::format_agr;

/// An amount of AGR, held in plancks; parses and displays as decimal AGR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub Balance);

impl Amount {
    /// The amount in plancks.
    pub fn plancks(self) -> Balance {
        self.0
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_agr(s).map(Amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_agr(self.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
    use super::*;
    use agora_primitives::AGR;
    use proptest::prelude::*;

    #[test]
    fn parses_examples() {
        assert_eq!(parse_agr("1").unwrap(), AGR);
        assert_eq!(parse_agr("1.5").unwrap(), AGR + AGR / 2);
        assert_eq!(parse_agr("0.000000000001").unwrap(), 1);
        assert_eq!(parse_agr("1000").unwrap(), 1000 * AGR);
        assert_eq!(parse_agr("007.10").unwrap(), 7 * AGR + AGR / 10);
        assert_eq!(parse_agr("0").unwrap(), 0);
        assert_eq!(parse_agr("0.0").unwrap(), 0);
        assert_eq!(
            parse_agr("340282366920938463463374607.431768211455").unwrap(),
            u128::MAX
        );
    }

    #[test]
    fn rejects_with_named_value() {
        use AmountErrorKind as K;
        let cases = [
            ("", K::Empty),
            ("-1", K::Negative),
            ("-0.5", K::Negative),
            ("+1", K::InvalidCharacter('+')),
            ("1e3", K::Exponent),
            ("1E3", K::Exponent),
            ("1_000", K::Separator('_')),
            ("1,000", K::Separator(',')),
            (" 1", K::InvalidCharacter(' ')),
            ("1.2.3", K::MultiplePoints),
            (".5", K::MissingDigits),
            ("5.", K::MissingDigits),
            (".", K::MissingDigits),
            ("0.0000000000001", K::TooManyDecimals),
            ("1.0000000000000", K::TooManyDecimals),
            ("340282366920938463463374607.431768211456", K::Overflow),
            ("99999999999999999999999999999999999999999", K::Overflow),
            ("NaN", K::InvalidCharacter('N')),
            ("١", K::InvalidCharacter('١')),
        ];
        for (input, kind) in cases {
            let err = parse_agr(input).unwrap_err();
            assert_eq!(err.kind, kind, "{input}");
            let message = err.to_string();
            assert!(message.starts_with(&format!("'{input}' is not a valid AGR amount: ")));
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format_agr(0), "0");
        assert_eq!(format_agr(1), "0.000000000001");
        assert_eq!(format_agr(AGR + AGR / 2), "1.5");
        assert_eq!(format_agr(1000 * AGR), "1000");
        assert_eq!(format_agr(AGR / 10 * 7 + 10 * AGR), "10.7");
        assert_eq!(
            format_agr(u128::MAX),
            "340282366920938463463374607.431768211455"
        );
        assert_eq!(Amount(AGR / 4).to_string(), "0.25");
        assert_eq!(
            "2.5".parse::<Amount>().unwrap().plancks(),
            2 * AGR + AGR / 2
        );
    }

    proptest! {
        #[test]
        fn round_trip_plancks(plancks in any::<u128>()) {
            let text = format_agr(plancks);
            prop_assert_eq!(parse_agr(&text).unwrap(), plancks);
            // Shortest: no trailing zero after a point, no dangling point.
            prop_assert!(!(text.contains('.') && (text.ends_with('0') || text.ends_with('.'))));
        }

        #[test]
        fn round_trip_small_plancks(plancks in 0u128..1_000_000 * AGR) {
            prop_assert_eq!(parse_agr(&format_agr(plancks)).unwrap(), plancks);
        }

        #[test]
        fn round_trip_text(whole in 0u64.., frac in "[0-9]{0,12}") {
            let text = if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") };
            let plancks = parse_agr(&text).unwrap();
            let canonical = format_agr(plancks);
            prop_assert_eq!(parse_agr(&canonical).unwrap(), plancks);
            let trimmed = text.trim_end_matches('0').trim_end_matches('.');
            if text.contains('.') {
                prop_assert_eq!(canonical, if trimmed.is_empty() { "0" } else { trimmed });
            } else {
                prop_assert_eq!(canonical, text);
            }
        }
    }
}

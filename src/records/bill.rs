//! Bill details: what a visit cost.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{RecordError, validate_date};

/// Most line items on one bill.
pub const MAX_LINE_ITEMS: usize = 200;
/// Longest line-item description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A patient's bill as a primary hospital issues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillDetails {
    /// Date of issue, `YYYY-MM-DD`.
    pub issued_at: String,
    /// ISO 4217 currency code, e.g. `USD`.
    pub currency: String,
    pub line_items: Vec<LineItem>,
    /// Must equal the sum of the line items.
    pub total: Amount,
}

/// One charge on a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub description: String,
    pub amount: Amount,
}

impl LineItem {
    /// Parses `DESCRIPTION=AMOUNT`, e.g. `Consultation=120.00` (the last `=` splits, so a
    /// description may hold one).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (description, amount) = text
            .rsplit_once('=')
            .ok_or_else(|| format!("'{text}' must look like DESCRIPTION=AMOUNT, e.g. \"Consultation=120.00\""))?;
        let amount = Amount::parse(amount.trim()).map_err(|e| format!("'{text}': {e}"))?;
        Ok(Self { description: description.trim().to_string(), amount })
    }
}

/// A money amount with two decimals, held exactly in hundredths.
///
/// Written as a string with exactly two decimals (`"120.50"`) so that no floating-point rounding
/// ever touches money; read from such a string or from a JSON number with at most two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount {
    /// The amount in hundredths (cents).
    pub hundredths: i64,
}

impl Amount {
    /// Parses `"12"`, `"12.5"` or `"12.50"`; refuses more than two decimals, signs, exponents.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("'{text}' is not an amount with at most two decimals (like 120.50)");
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 2 {
            return Err(invalid());
        }
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(|hundredths| Self { hundredths })
            .ok_or_else(invalid)
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.hundredths < 0 { "-" } else { "" };
        let abs = self.hundredths.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(serde_json::Number),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            // A number's own decimal text, so 0.1 stays 0.1 rather than its binary approximation.
            Raw::Number(number) => number.to_string(),
        };
        Amount::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl BillDetails {
    /// Checks the date, the currency, every line item and that the total adds up.
    pub fn validate(&self) -> Result<(), RecordError> {
        validate_date("issued_at", &self.issued_at)?;
        if !is_iso_4217(&self.currency) {
            return Err(RecordError::Invalid {
                field: "currency",
                reason: format!("'{}' is not an ISO 4217 currency code (like USD, EUR, INR)", self.currency),
            });
        }
        if self.line_items.is_empty() || self.line_items.len() > MAX_LINE_ITEMS {
            return Err(RecordError::Invalid {
                field: "line_items",
                reason: format!("a bill has 1 to {MAX_LINE_ITEMS} line items, not {}", self.line_items.len()),
            });
        }
        let mut sum: i64 = 0;
        for (index, item) in self.line_items.iter().enumerate() {
            let chars = item.description.trim().chars().count();
            if chars == 0 || chars > MAX_DESCRIPTION_CHARS {
                return Err(RecordError::Invalid {
                    field: "line_items",
                    reason: format!("item {}: a description has 1 to {MAX_DESCRIPTION_CHARS} characters", index + 1),
                });
            }
            if item.amount.hundredths <= 0 {
                return Err(RecordError::Invalid {
                    field: "line_items",
                    reason: format!(
                        "item {} ('{}'): the amount must be above 0, not {}",
                        index + 1,
                        item.description,
                        item.amount
                    ),
                });
            }
            sum = sum.checked_add(item.amount.hundredths).ok_or(RecordError::Invalid {
                field: "line_items",
                reason: "the amounts are too large to add up".into(),
            })?;
        }
        let sum = Amount { hundredths: sum };
        if sum != self.total {
            return Err(RecordError::TotalMismatch { total: self.total.to_string(), sum: sum.to_string() });
        }
        Ok(())
    }
}

/// Active ISO 4217 currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN \
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP \
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK \
    LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB \
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB \
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

fn is_iso_4217(code: &str) -> bool {
    code.len() == 3 && ISO_4217.split_ascii_whitespace().any(|c| c == code)
}

impl BillDetails {
    /// A typical three-item bill. Used by examples, benchmarks and tests.
    pub fn example() -> Self {
        BillDetails {
            issued_at: "2026-11-02".into(),
            currency: "USD".into(),
            line_items: vec![
                LineItem { description: "Consultation".into(), amount: Self::example_amount("120.00") },
                LineItem { description: "HbA1c test".into(), amount: Self::example_amount("45.50") },
                LineItem { description: "Glucose meter".into(), amount: Self::example_amount("30.25") },
            ],
            total: Self::example_amount("195.75"),
        }
    }

    fn example_amount(text: &str) -> Amount {
        Amount::parse(text).expect("a valid amount")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    #[test]
    fn amounts_are_exact_hundredths() {
        assert_eq!(amount("12").hundredths, 1200);
        assert_eq!(amount("12.5").hundredths, 1250);
        assert_eq!(amount("0.07").hundredths, 7);
        for bad in ["12.345", "-1", "1e3", "", ".5", "12.", "abc", "99999999999999999999"] {
            assert!(Amount::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(amount("7.1").to_string(), "7.10");
        let from_number: Amount = serde_json::from_str("0.1").unwrap();
        assert_eq!(from_number.hundredths, 10);
        assert!(serde_json::from_str::<Amount>("0.123").is_err());
    }

    #[test]
    fn typical_bill_passes_and_serializes_amounts_as_strings() {
        let bill = BillDetails::example();
        bill.validate().unwrap();
        let json = serde_json::to_value(&bill).unwrap();
        assert_eq!(json["total"], "195.75");
    }

    #[test]
    fn total_must_add_up() {
        let mut bill = BillDetails::example();
        bill.total = amount("200.00");
        let err = bill.validate().unwrap_err().to_string();
        assert!(err.contains("200.00") && err.contains("195.75"), "{err}");
    }

    #[test]
    fn refuses_bad_currency_and_items() {
        let mut bill = BillDetails::example();
        bill.currency = "usd".into();
        assert!(bill.validate().unwrap_err().to_string().contains("ISO 4217"));
        let mut bill = BillDetails::example();
        bill.line_items[1].amount = amount("0");
        assert!(bill.validate().unwrap_err().to_string().contains("above 0"));
        let mut bill = BillDetails::example();
        bill.line_items.clear();
        assert!(bill.validate().is_err());
    }
}

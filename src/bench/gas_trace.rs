//! Where a transaction's gas goes, read from the node's opcode trace (`debug_traceTransaction`
//! with the default struct logger, which Anvil and Geth both serve), never worked out by hand.

use std::ops::Add;

use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use serde::Serialize;
use serde_json::{Value, json};

use super::BenchError;

/// Gas every transaction pays before its code runs.
const INTRINSIC_GAS: u64 = 21_000;

/// Gas the calldata `input` costs: 4 per zero byte, 16 per other byte.
pub fn calldata_gas(input: &[u8]) -> u64 {
    input.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum()
}

/// One transaction's gas (or a share of it), by what paid for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GasBreakdown {
    /// As the receipt says: the sum of the parts below, less the refund.
    pub total: u64,
    /// The 21,000 every transaction pays.
    pub intrinsic: u64,
    /// The transaction's input: 4 gas per zero byte, 16 per other byte.
    pub calldata: u64,
    /// `SLOAD` and `SSTORE`, cold-access surcharges included.
    pub storage: u64,
    /// `LOG0` to `LOG4`: topics and data of the events.
    pub events: u64,
    /// Every other opcode: dispatch, ABI decoding, checks, memory, hashing of mapping keys.
    pub computation: u64,
    /// Storage refunds, taken off at the end.
    pub refund: u64,
}

impl GasBreakdown {
    /// Sorts the gas of one traced transaction: `trace` is the `debug_traceTransaction` answer,
    /// `input` the transaction's calldata, `gas_used` its receipt's figure. Only the outer call's
    /// steps count (depth 1): a call's own cost includes what it forwards, and hrm's contract
    /// calls no other.
    pub fn from_trace(trace: &Value, input: &[u8], gas_used: u64) -> Result<Self, String> {
        let steps = trace["structLogs"].as_array().ok_or("the trace has no structLogs")?;
        let mut breakdown =
            Self { total: gas_used, intrinsic: INTRINSIC_GAS, calldata: calldata_gas(input), ..Default::default() };
        for step in steps {
            if step["depth"].as_u64() != Some(1) {
                continue;
            }
            let op = step["op"].as_str().ok_or("a step names no opcode")?;
            let cost = step["gasCost"].as_u64().ok_or("a step has no gasCost")?;
            match op {
                "SLOAD" | "SSTORE" => breakdown.storage += cost,
                op if op.starts_with("LOG") => breakdown.events += cost,
                _ => breakdown.computation += cost,
            }
        }
        let charged =
            breakdown.intrinsic + breakdown.calldata + breakdown.storage + breakdown.events + breakdown.computation;
        breakdown.refund = charged
            .checked_sub(gas_used)
            .ok_or_else(|| format!("the receipt's {gas_used} gas is more than the trace accounts for ({charged})"))?;
        Ok(breakdown)
    }

    /// One `n`th of each part: a record's share of a batch of `n`.
    pub fn share(&self, n: u64) -> Self {
        let n = n.max(1);
        Self {
            total: self.total / n,
            intrinsic: self.intrinsic / n,
            calldata: self.calldata / n,
            storage: self.storage / n,
            events: self.events / n,
            computation: self.computation / n,
            refund: self.refund / n,
        }
    }
}

impl Add for GasBreakdown {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            total: self.total + other.total,
            intrinsic: self.intrinsic + other.intrinsic,
            calldata: self.calldata + other.calldata,
            storage: self.storage + other.storage,
            events: self.events + other.events,
            computation: self.computation + other.computation,
            refund: self.refund + other.refund,
        }
    }
}

/// Traces mined transaction `tx` on the node behind `provider` and sorts its gas.
pub async fn trace_gas(provider: &DynProvider, tx: B256) -> Result<GasBreakdown, BenchError> {
    let what = format!("tracing transaction {tx}");
    let options = json!({ "disableStack": true, "disableStorage": true, "enableMemory": false });
    let trace: Value = provider
        .raw_request("debug_traceTransaction".into(), (tx, options))
        .await
        .map_err(|e| BenchError::failed(&what, e))?;
    let transaction = provider
        .get_transaction_by_hash(tx)
        .await
        .map_err(|e| BenchError::failed(&what, e))?
        .ok_or_else(|| BenchError::failed(&what, "the node does not know the transaction"))?;
    let receipt = provider
        .get_transaction_receipt(tx)
        .await
        .map_err(|e| BenchError::failed(&what, e))?
        .ok_or_else(|| BenchError::failed(&what, "the transaction has no receipt"))?;
    use alloy::consensus::Transaction as _;
    GasBreakdown::from_trace(&trace, transaction.input(), receipt.gas_used).map_err(|e| BenchError::failed(&what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_sorted_by_opcode_and_the_refund_is_what_the_receipt_leaves() {
        let trace = json!({ "structLogs": [
            { "op": "PUSH1", "gasCost": 3, "depth": 1 },
            { "op": "SLOAD", "gasCost": 2100, "depth": 1 },
            { "op": "SSTORE", "gasCost": 20000, "depth": 1 },
            { "op": "LOG2", "gasCost": 1381, "depth": 1 },
            { "op": "ADD", "gasCost": 3, "depth": 2 },
            { "op": "STOP", "gasCost": 0, "depth": 1 },
        ]});
        let input = [0u8, 1, 0, 2];
        let charged = 21_000 + 4 + 16 + 4 + 16 + 3 + 2100 + 20000 + 1381;
        let breakdown = GasBreakdown::from_trace(&trace, &input, charged - 100).unwrap();
        assert_eq!(breakdown.calldata, 40);
        assert_eq!(breakdown.storage, 22_100);
        assert_eq!(breakdown.events, 1381);
        assert_eq!(breakdown.computation, 3, "the nested call's step is not counted");
        assert_eq!(breakdown.refund, 100);
        let doubled = breakdown + breakdown;
        assert_eq!(doubled.share(2), breakdown);
    }

    #[test]
    fn a_receipt_above_what_the_trace_accounts_for_is_an_error() {
        let trace = json!({ "structLogs": [] });
        assert!(GasBreakdown::from_trace(&trace, &[], 21_001).is_err());
        assert!(GasBreakdown::from_trace(&json!({}), &[], 21_000).is_err());
    }
}

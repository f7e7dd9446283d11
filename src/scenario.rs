//! A consortium on a fresh local chain, and the example records: the one set-up shared by the
//! demo, the benchmarks and the tests.
//!
//! Everyone signs with a development account: the admin is `dev:0`, hospital `i` (0-based) is
//! `dev:i+1`, and the patients follow the hospitals. On a multi-node network each participant
//! talks to node `account mod nodes`, so hospitals use different nodes as the paper's did.

use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

use crate::chain::dev_keys::{DEV_ACCOUNT_COUNT, dev_account};
use crate::chain::{ChainError, Connection, Consortium, DeploymentRecord, DeploymentStore};
use crate::records::keys::public_key_bytes;
use crate::records::{Amount, BillDetails, EntryKind, HealthDetails, LineItem, Readings, Record};
use crate::store::Archive;
use crate::submission::{SubmissionError, submit_record};

/// Why the scenario could not be played.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    #[error("'{url}' is not a valid JSON-RPC URL: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("the plan needs {needed} development accounts; there are {DEV_ACCOUNT_COUNT}")]
    TooManyParticipants { needed: usize },
    #[error("the plan needs a primary hospital and a panel of 1 to {max} of the other hospitals")]
    InvalidPanel { max: usize },
}

/// Who takes part.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    /// Hospital names; the first is the primary.
    pub hospitals: Vec<String>,
    /// How many hospitals after the primary form its panel; any after them are registered
    /// hospitals on no panel.
    pub panel_size: usize,
    /// Patient names; each publishes a key.
    pub patients: Vec<String>,
    /// Whether hospitals publish their keys (they must, to receive sealed records).
    pub hospitals_publish_keys: bool,
    pub receipt_timeout: Duration,
}

impl ScenarioPlan {
    /// The demo's story: St Mary and its four supporting hospitals, three patients.
    pub fn story() -> Self {
        Self {
            hospitals: ["St Mary (primary)", "Hope", "Lakeside", "Northgate", "Riverside"].map(String::from).to_vec(),
            panel_size: 4,
            patients: ["Asha", "Ben", "Chidi"].map(String::from).to_vec(),
            hospitals_publish_keys: true,
            receipt_timeout: Duration::from_secs(120),
        }
    }

    /// The smallest working consortium: a primary (`dev:1`), one supporting hospital (`dev:2`)
    /// and one patient (`dev:3`).
    pub fn minimal() -> Self {
        Self {
            hospitals: vec!["Primary".into(), "Supporting".into()],
            panel_size: 1,
            patients: vec!["Patient".into()],
            hospitals_publish_keys: true,
            receipt_timeout: Duration::from_secs(60),
        }
    }

    /// The development account of patient `index`.
    pub fn patient_account(&self, index: usize) -> usize {
        self.hospitals.len() + 1 + index
    }
}

/// One participant: a name, a development account and a client signing with it.
#[derive(Clone)]
pub struct Participant {
    pub name: String,
    /// The development account's index (`dev:N`).
    pub account: usize,
    pub signer: PrivateKeySigner,
    pub client: Consortium,
}

impl Participant {
    /// The participant's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }
}

/// A deployed and set-up consortium.
pub struct ConsortiumScenario {
    pub deployment: DeploymentRecord,
    pub admin: Participant,
    /// The primary first, then its panel, then hospitals on no panel.
    pub hospitals: Vec<Participant>,
    pub patients: Vec<Participant>,
    panel_size: usize,
    /// Gas of every set-up transaction, by function name, in the order sent (deployment first).
    pub setup_gas: Vec<(&'static str, u64)>,
}

/// Deploys `HealthRecords` on the chain behind `rpc_urls` (saved in `store`), registers the
/// hospitals, publishes keys and sets the primary's panel.
pub async fn set_up_consortium(
    rpc_urls: &[String],
    store: &DeploymentStore,
    plan: &ScenarioPlan,
) -> Result<ConsortiumScenario, ScenarioError> {
    let needed = plan.patient_account(plan.patients.len());
    if needed > DEV_ACCOUNT_COUNT {
        return Err(ScenarioError::TooManyParticipants { needed });
    }
    let max = plan.hospitals.len().saturating_sub(1);
    if plan.panel_size == 0 || plan.panel_size > max {
        return Err(ScenarioError::InvalidPanel { max });
    }
    let urls = rpc_urls
        .iter()
        .map(|url| {
            url.parse::<Url>().map_err(|e| ScenarioError::InvalidUrl { url: url.clone(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let connect = |account: usize| {
        let url = urls[account % urls.len()].clone();
        async move {
            let signer = dev_account(account);
            Ok::<_, ChainError>((
                Connection::open(url, plan.receipt_timeout).await?.with_signer(signer.clone()),
                signer,
            ))
        }
    };
    let mut setup_gas = Vec::new();
    let (connection, signer) = connect(0).await?;
    let (deployment, deployed) = connection.deploy(store, true).await?;
    setup_gas.push(("deployment", deployed.gas_used));
    let admin =
        Participant { name: "Consortium admin".into(), account: 0, signer, client: connection.attach(store).await? };

    let attach = |name: &str, account: usize| {
        let name = name.to_string();
        async move {
            let (connection, signer) = connect(account).await?;
            Ok::<_, ChainError>(Participant { name, account, signer, client: connection.attach(store).await? })
        }
    };
    let mut hospitals = Vec::new();
    for (i, name) in plan.hospitals.iter().enumerate() {
        let hospital = attach(name, i + 1).await?;
        setup_gas.push(("registerHospital", admin.client.register_hospital(hospital.address(), name).await?.gas_used));
        if plan.hospitals_publish_keys {
            setup_gas
                .push(("publishKey", hospital.client.publish_key(public_key_bytes(&hospital.signer)).await?.gas_used));
        }
        hospitals.push(hospital);
    }
    let panel: Vec<Address> = hospitals[1..=plan.panel_size].iter().map(Participant::address).collect();
    setup_gas.push(("setSupportingHospitals", hospitals[0].client.set_supporting_hospitals(panel).await?.gas_used));
    let mut patients = Vec::new();
    for (i, name) in plan.patients.iter().enumerate() {
        let patient = attach(name, plan.patient_account(i)).await?;
        setup_gas.push(("publishKey", patient.client.publish_key(public_key_bytes(&patient.signer)).await?.gas_used));
        patients.push(patient);
    }
    Ok(ConsortiumScenario { deployment, admin, hospitals, patients, panel_size: plan.panel_size, setup_gas })
}

/// An entry the scenario submitted.
#[derive(Debug, Clone)]
pub struct SubmittedExample {
    pub id: u64,
    /// Index into the scenario's patients.
    pub patient: usize,
    pub kind: EntryKind,
    pub gas_used: u64,
    pub envelope_bytes: usize,
}

/// A panel member who rejects an entry instead of approving it.
#[derive(Debug, Clone, Copy)]
pub struct Rejection {
    pub entry: u64,
    /// Index into the panel.
    pub by_panel_member: usize,
}

impl ConsortiumScenario {
    /// The submitting hospital.
    pub fn primary(&self) -> &Participant {
        &self.hospitals[0]
    }

    /// The primary's supporting hospitals.
    pub fn panel(&self) -> &[Participant] {
        &self.hospitals[1..=self.panel_size]
    }

    /// Registered hospitals on no panel.
    pub fn outsiders(&self) -> &[Participant] {
        &self.hospitals[1 + self.panel_size..]
    }

    /// The primary submits each patient's example health record and bill (their envelopes kept
    /// in `archive`, which every participant of a local story shares), and every participant's
    /// node is waited for until it has them.
    pub async fn submit_example_records(&self, archive: &Archive) -> Result<Vec<SubmittedExample>, ScenarioError> {
        let primary = self.primary();
        let mut submitted = Vec::new();
        for (i, patient) in self.patients.iter().enumerate() {
            for record in [example_health_record(i), example_bill(i)] {
                let done = submit_record(&primary.client, archive, &primary.signer, patient.address(), &record).await?;
                let id = done.outcome.entry_id.expect("a submission creates an entry");
                let envelope_bytes = archive.envelope(done.envelope_digest).await.ok().flatten().map_or(0, |e| e.len());
                submitted.push(SubmittedExample {
                    id,
                    patient: i,
                    kind: record.kind(),
                    gas_used: done.outcome.gas_used,
                    envelope_bytes,
                });
            }
        }
        if let Some(last) = submitted.last() {
            let block = primary.client.mined_submission(last.id).await?.block;
            for party in self.hospitals.iter().chain(&self.patients) {
                party.client.connection().wait_for_block(block).await?;
            }
        }
        Ok(submitted)
    }

    /// The panel and the patient vote on each entry: all approve, except that `rejection`'s
    /// panel member rejects its entry, which ends the vote on it.
    pub async fn vote_on(
        &self,
        entries: &[SubmittedExample],
        rejection: Option<Rejection>,
    ) -> Result<(), ScenarioError> {
        for entry in entries {
            let rejected_by = rejection.filter(|r| r.entry == entry.id).map(|r| r.by_panel_member);
            for (member_index, member) in self.panel().iter().enumerate() {
                let reject = rejected_by == Some(member_index);
                member.client.vote(entry.id, !reject).await?;
                if reject {
                    break;
                }
            }
            if rejected_by.is_none() {
                self.patients[entry.patient].client.vote(entry.id, true).await?;
            }
        }
        Ok(())
    }
}

/// Patient `patient`'s example health record: one of three rows of the Pima data.
pub fn example_health_record(patient: usize) -> Record {
    let readings = [
        HealthDetails::example().readings,
        Readings {
            pregnancies: 1,
            glucose: 85.0,
            blood_pressure: 66.0,
            skin_thickness: 29.0,
            insulin: 0.0,
            bmi: 26.6,
            diabetes_pedigree: 0.351,
            age: 31,
        },
        Readings {
            pregnancies: 3,
            glucose: 183.0,
            blood_pressure: 64.0,
            skin_thickness: 0.0,
            insulin: 0.0,
            bmi: 23.3,
            diabetes_pedigree: 0.672,
            age: 32,
        },
    ];
    Record::Health(HealthDetails {
        recorded_at: format!("2026-10-{:02}", 2 + patient % 28),
        readings: readings[patient % 3].clone(),
        notes: Some("fasting sample".into()),
    })
}

/// Patient `patient`'s example bill: three line items, the test price varying by patient.
pub fn example_bill(patient: usize) -> Record {
    let amount = |text: &str| Amount::parse(text).expect("a valid amount");
    let items = vec![
        LineItem { description: "Consultation".into(), amount: amount("120.00") },
        LineItem { description: "HbA1c test".into(), amount: amount(["45.50", "38.00", "52.25"][patient % 3]) },
        LineItem { description: "Glucose meter".into(), amount: amount("30.25") },
    ];
    let total = Amount { hundredths: items.iter().map(|i| i.amount.hundredths).sum() };
    Record::Bill(BillDetails {
        issued_at: format!("2026-10-{:02}", 2 + patient % 28),
        currency: "USD".into(),
        line_items: items,
        total,
    })
}

/// A plausible health record that varies with `i`, for filling a chain in benchmarks.
pub fn sample_record(i: usize) -> Record {
    let wobble = (i % 50) as f64;
    Record::Health(HealthDetails {
        recorded_at: "2026-11-02".into(),
        readings: Readings {
            pregnancies: (i % 8) as u32,
            glucose: 85.0 + wobble * 2.0,
            blood_pressure: 60.0 + (i % 30) as f64,
            skin_thickness: 15.0 + (i % 25) as f64,
            insulin: (i % 4) as f64 * 40.0,
            bmi: 22.0 + wobble / 5.0,
            diabetes_pedigree: 0.2 + (i % 10) as f64 / 20.0,
            age: 21 + (i % 50) as u32,
        },
        notes: Some(format!("benchmark visit {i}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_records_are_valid() {
        for i in 0..40 {
            example_health_record(i).validate().unwrap();
            example_bill(i).validate().unwrap();
            sample_record(i).validate().unwrap();
        }
    }

    #[test]
    fn patients_follow_the_hospitals() {
        let plan = ScenarioPlan::story();
        assert_eq!((plan.patient_account(0), plan.patient_account(2)), (6, 8));
        assert_eq!(ScenarioPlan::minimal().patient_account(0), 3);
    }
}
